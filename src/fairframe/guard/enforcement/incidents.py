"""Incident reports: users telling the operator that a served image is harmful.

An incident names the image by the decision id it was served under and/or its SHA-256,
optionally a perceptual hash (to find near-duplicates), a policy category and a description. An
image hash alone is linked to the newest decision logged with that hash, whatever its action (an
image the guard refused that a user saw anyway is worth a reviewer's look); a hash the log does
not know is recorded without a decision (re-encoding changes it). A decision id whose action is
``block`` served nothing and is refused with :class:`~fairframe.errors.StateError`. Reporting
one queues a review item (kind ``incident``). Its status moves::

    open ──▶ investigating ──▶ confirmed | dismissed
      └──────────────────────▶ confirmed | dismissed
    investigating ──▶ open;  confirmed | dismissed ──▶ open (reopen)

Claiming its review item moves an open incident to ``investigating``; resolving it moves it to
``confirmed`` (verdict ``upheld``) or ``dismissed`` (verdict ``overturned``). Other transitions
raise :class:`~fairframe.errors.ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fairframe.config import enum_member
from fairframe.errors import ConfigError
from fairframe.guard.enforcement import audit_log, review
from fairframe.guard.enforcement._common import (
    check_limit,
    check_sha256,
    check_text,
    invalid_state,
    not_found,
)
from fairframe.guard.enforcement._db import inserted_id, tables
from fairframe.guard.enforcement.keys import require_key
from fairframe.guard.policy import Category

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["Incident", "IncidentStatus", "TRANSITIONS"]

_PHASH = re.compile(r"^[0-9a-f]{4,64}$")


class IncidentStatus(StrEnum):
    """Where an incident stands."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


#: Allowed status changes.
TRANSITIONS: Mapping[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.OPEN: frozenset(
        {IncidentStatus.INVESTIGATING, IncidentStatus.CONFIRMED, IncidentStatus.DISMISSED}
    ),
    IncidentStatus.INVESTIGATING: frozenset(
        {IncidentStatus.OPEN, IncidentStatus.CONFIRMED, IncidentStatus.DISMISSED}
    ),
    IncidentStatus.CONFIRMED: frozenset({IncidentStatus.OPEN}),
    IncidentStatus.DISMISSED: frozenset({IncidentStatus.OPEN}),
}


@dataclass(frozen=True)
class Incident:
    """One incident report.

    Attributes
    ----------
    id:
        Incident id.
    key_id:
        The reporting API key, or ``None`` (anonymous report).
    decision_id:
        The decision the image was served under, when known.
    image_sha256:
        SHA-256 of the image bytes, when given.
    phash:
        Perceptual hash as hex (e.g. a 64-bit pHash: 16 digits), when given.
    category:
        The policy category the reporter chose.
    description:
        The reporter's text.
    status:
        ``open``, ``investigating``, ``confirmed`` or ``dismissed``.
    created, updated:
        Unix seconds.
    review_id:
        The review item it queued.
    """

    id: int
    key_id: str | None
    decision_id: int | None
    image_sha256: str | None
    phash: str | None
    category: str
    description: str
    status: IncidentStatus
    created: float
    updated: float
    review_id: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "key_id": self.key_id,
            "decision_id": self.decision_id,
            "image_sha256": self.image_sha256,
            "phash": self.phash,
            "category": self.category,
            "description": self.description,
            "status": self.status.value,
            "created": self.created,
            "updated": self.updated,
            "review_id": self.review_id,
        }


def _from_row(row: Mapping[Any, Any]) -> Incident:
    return Incident(
        id=int(row["id"]),
        key_id=row["key_id"],
        decision_id=None if row["decision_id"] is None else int(row["decision_id"]),
        image_sha256=row["image_sha256"],
        phash=row["phash"],
        category=str(row["category"]),
        description=str(row["description"]),
        status=IncidentStatus(row["status"]),
        created=float(row["created"]),
        updated=float(row["updated"]),
        review_id=None if row["review_id"] is None else int(row["review_id"]),
    )


def check_status(status: IncidentStatus | str) -> IncidentStatus:
    """Validate a status name."""
    return enum_member(IncidentStatus, status, "incident status")


def _check_category(category: str) -> str:
    return enum_member(Category, category, "incident category").value


# -- database operations (called by the Enforcer inside its transactions) -------------------------


def report(
    conn: Connection,
    *,
    category: str,
    description: str,
    key_id: str | None,
    decision_id: int | None,
    image_sha256: str | None,
    phash: str | None,
    now: float,
    own_only: bool = False,
) -> Incident:
    """Store an incident and queue its review item (``own_only``: a decision of another key is
    unknown to ``key_id``, as for appeals, and an image hash links only to its decisions)."""
    import sqlalchemy as sa

    category = _check_category(category)
    description = check_text(description, "description").strip()
    if not description:
        raise ConfigError("an incident needs a description of what is wrong with the image")
    image_sha256 = check_sha256(image_sha256, "image_sha256")
    if phash is not None:
        phash = phash.strip().lower()
        if not _PHASH.match(phash):
            raise ConfigError(f"phash must be 4 to 64 hex digits, got {phash!r}")
    if decision_id is None and image_sha256 is None:
        raise ConfigError("an incident needs the decision_id or the image_sha256 of the image")
    if key_id is not None:
        key_id = require_key(conn, key_id).id
    entry = None
    mine = key_id if own_only else None
    if decision_id is not None:
        entry = audit_log.get(conn, decision_id)
        if entry is None or (mine is not None and entry.key_id != mine):
            raise not_found("decision", decision_id,
                            "report the decision id your key received with the image")
        if entry.action == "block":
            raise invalid_state(
                f"decision {entry.id} was a block: no image was served under it; report the "
                "decision id the image came with, or only its image_sha256"
            )
    elif image_sha256 is not None:
        entry = audit_log.latest_for_image(conn, image_sha256, key_id=mine)
    t = tables()
    result = conn.execute(
        sa.insert(t.incidents).values(
            key_id=key_id, decision_id=None if entry is None else entry.id,
            image_sha256=image_sha256, phash=phash, category=category, description=description,
            status=IncidentStatus.OPEN.value, created=now, updated=now,
        )
    )
    incident_id = inserted_id(result)
    item = review.enqueue_incident(conn, incident_id, key_id=key_id, entry=entry, now=now)
    conn.execute(
        sa.update(t.incidents).where(t.incidents.c.id == incident_id).values(review_id=item.id)
    )
    out = get(conn, incident_id)
    assert out is not None
    return out


def get(conn: Connection, incident_id: int, *, for_update: bool = False) -> Incident | None:
    """The incident with this id, or ``None``."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.incidents).where(t.incidents.c.id == int(incident_id))
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    return None if row is None else _from_row(row)


def list_incidents(
    conn: Connection,
    *,
    status: IncidentStatus | str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Incident]:
    """Incidents with ``id > after_id`` (optionally of one status), oldest first."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.incidents).where(t.incidents.c.id > int(after_id))
    if status is not None:
        q = q.where(t.incidents.c.status == check_status(status).value)
    q = q.order_by(t.incidents.c.id).limit(check_limit(limit))
    return [_from_row(r) for r in conn.execute(q).mappings()]


def update_status(
    conn: Connection, incident_id: int, status: IncidentStatus | str, *, now: float
) -> Incident:
    """Move an incident to ``status`` if :data:`TRANSITIONS` allows it."""
    import sqlalchemy as sa

    new = check_status(status)
    incident = get(conn, incident_id, for_update=True)
    if incident is None:
        raise not_found("incident", incident_id, "list the incidents to see which exist")
    if new is incident.status:
        return incident
    if new not in TRANSITIONS[incident.status]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[incident.status]))
        raise invalid_state(
            f"incident {incident.id} is {incident.status.value}; it can move to: {allowed}"
        )
    t = tables()
    conn.execute(
        sa.update(t.incidents)
        .where(t.incidents.c.id == incident.id)
        .values(status=new.value, updated=now)
    )
    out = get(conn, incident.id)
    assert out is not None
    return out

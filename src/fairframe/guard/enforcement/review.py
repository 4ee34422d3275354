"""The human-review queue, with appeals.

Items come from three places: decisions whose action is in ``review_actions`` (by default
``flag`` and ``block``), user appeals, and incident reports. An item is in one state::

    pending ──claim──▶ claimed ──resolve──▶ resolved
       │                 │  ▲                  │
       │              release                  │ appeal (verdict upheld only)
       │                 ▼  │                  ▼
       └──appeal──▶  appealed ◀────────────────┘

``claim`` takes a ``pending`` or ``appealed`` item (the next one when no id is given: appeals
first, then the oldest); ``release`` puts a claimed item back; ``resolve`` gives a verdict,
``upheld`` (the guard was right; for an incident: the report holds) or ``overturned`` (the guard
was wrong; for an incident: the report is dismissed), from ``pending``, ``appealed`` or
``claimed`` (a claimed item only by the reviewer who claimed it). An overturned decision loses the
strike it caused. A user may appeal each decision once: a pending item becomes ``appealed``, a
claimed one stays with its reviewer (marked appealed), an item resolved as ``upheld`` is queued
again; a decision without an item gets one. Anything else is a
:class:`~fairframe.errors.ConfigError` naming the state. Every change is kept in
``guard_review_events`` (:func:`history`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fairframe.config import enum_member
from fairframe.guard.decision import Action
from fairframe.guard.enforcement import audit_log
from fairframe.guard.enforcement._common import (
    check_limit,
    check_name,
    check_text,
    dump_scores,
    invalid_state,
    load_scores,
    not_found,
)
from fairframe.guard.enforcement._db import inserted_id, tables

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from fairframe.guard.enforcement.audit_log import LogEntry

__all__ = ["ReviewEvent", "ReviewItem", "ReviewKind", "ReviewStatus", "Verdict"]


class ReviewStatus(StrEnum):
    """Where a review item is."""

    PENDING = "pending"
    APPEALED = "appealed"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class Verdict(StrEnum):
    """A reviewer's answer."""

    UPHELD = "upheld"
    OVERTURNED = "overturned"


class ReviewKind(StrEnum):
    """What an item is about."""

    DECISION = "decision"
    INCIDENT = "incident"


_WAITING = (ReviewStatus.PENDING, ReviewStatus.APPEALED)


@dataclass(frozen=True)
class ReviewItem:
    """One item of the review queue.

    Attributes
    ----------
    id:
        Item id.
    kind:
        ``decision`` or ``incident``.
    decision_id:
        The decision-log entry (decision items).
    incident_id:
        The incident (incident items).
    key_id:
        The API key that made the request or report.
    prompt_sha256:
        SHA-256 of the prompt, when known.
    action:
        The decision's action, when known.
    categories:
        The decision's category scores (empty when unknown).
    status:
        ``pending``, ``appealed``, ``claimed`` or ``resolved``.
    created, updated:
        Unix seconds.
    claimed_by:
        Reviewer holding a claimed item.
    verdict:
        ``upheld`` or ``overturned`` once resolved.
    reviewer:
        Who resolved it.
    note:
        The reviewer's note.
    resolved_at:
        Unix seconds.
    appealed_at:
        When the user appealed (at most once), else ``None``.
    appeal_reason:
        The user's text.
    """

    id: int
    kind: ReviewKind
    decision_id: int | None
    incident_id: int | None
    key_id: str | None
    prompt_sha256: str | None
    action: str | None
    categories: Mapping[str, float]
    status: ReviewStatus
    created: float
    updated: float
    claimed_by: str | None = None
    verdict: Verdict | None = None
    reviewer: str | None = None
    note: str | None = None
    resolved_at: float | None = None
    appealed_at: float | None = None
    appeal_reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "decision_id": self.decision_id,
            "incident_id": self.incident_id,
            "key_id": self.key_id,
            "prompt_sha256": self.prompt_sha256,
            "action": self.action,
            "categories": dict(self.categories),
            "status": self.status.value,
            "created": self.created,
            "updated": self.updated,
            "claimed_by": self.claimed_by,
            "verdict": None if self.verdict is None else self.verdict.value,
            "reviewer": self.reviewer,
            "note": self.note,
            "resolved_at": self.resolved_at,
            "appealed_at": self.appealed_at,
            "appeal_reason": self.appeal_reason,
        }


@dataclass(frozen=True)
class ReviewEvent:
    """One change of a review item (``created``, ``claimed``, ``released``, ``resolved``,
    ``appealed``)."""

    review_id: int
    at: float
    event: str
    actor: str | None
    from_status: str | None
    to_status: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "review_id": self.review_id,
            "at": self.at,
            "event": self.event,
            "actor": self.actor,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "note": self.note,
        }


def _item_from_row(row: Mapping[Any, Any]) -> ReviewItem:
    def opt_int(v: Any) -> int | None:
        return None if v is None else int(v)

    return ReviewItem(
        id=int(row["id"]),
        kind=ReviewKind(row["kind"]),
        decision_id=opt_int(row["decision_id"]),
        incident_id=opt_int(row["incident_id"]),
        key_id=row["key_id"],
        prompt_sha256=row["prompt_sha256"],
        action=row["action"],
        categories=load_scores(row["categories"]),
        status=ReviewStatus(row["status"]),
        created=float(row["created"]),
        updated=float(row["updated"]),
        claimed_by=row["claimed_by"],
        verdict=None if row["verdict"] is None else Verdict(row["verdict"]),
        reviewer=row["reviewer"],
        note=row["note"],
        resolved_at=row["resolved_at"],
        appealed_at=row["appealed_at"],
        appeal_reason=row["appeal_reason"],
    )


def check_status(status: ReviewStatus | str) -> ReviewStatus:
    """Validate a status name."""
    return enum_member(ReviewStatus, status, "review status")


def check_verdict(verdict: Verdict | str) -> Verdict:
    """Validate a verdict name."""
    return enum_member(Verdict, verdict, "verdict")


# -- database operations (called by the Enforcer inside its transactions) -------------------------


def _event(
    conn: Connection,
    review_id: int,
    *,
    at: float,
    event: str,
    actor: str | None,
    from_status: ReviewStatus | None,
    to_status: ReviewStatus,
    note: str | None = None,
) -> None:
    import sqlalchemy as sa

    t = tables()
    conn.execute(
        sa.insert(t.review_events).values(
            review_id=review_id, at=at, event=event, actor=actor,
            from_status=None if from_status is None else from_status.value,
            to_status=to_status.value, note=note or None,
        )
    )


def _insert(
    conn: Connection, values: dict[str, Any], *, now: float, actor: str | None
) -> ReviewItem:
    import sqlalchemy as sa

    t = tables()
    result = conn.execute(sa.insert(t.reviews).values(**values, created=now, updated=now))
    review_id = inserted_id(result)
    _event(conn, review_id, at=now, event="created", actor=actor, from_status=None,
           to_status=ReviewStatus(values["status"]))
    item = get(conn, review_id)
    assert item is not None
    return item


def enqueue_decision(conn: Connection, entry: LogEntry, *, now: float) -> ReviewItem:
    """Queue a logged decision for review (status ``pending``)."""
    return _insert(
        conn,
        {
            "kind": ReviewKind.DECISION.value, "decision_id": entry.id, "key_id": entry.key_id,
            "prompt_sha256": entry.prompt_sha256, "action": entry.action,
            "categories": dump_scores(entry.categories), "status": ReviewStatus.PENDING.value,
        },
        now=now,
        actor=None,
    )


def enqueue_incident(
    conn: Connection,
    incident_id: int,
    *,
    key_id: str | None,
    entry: LogEntry | None,
    now: float,
) -> ReviewItem:
    """Queue an incident report for review (status ``pending``)."""
    return _insert(
        conn,
        {
            "kind": ReviewKind.INCIDENT.value, "incident_id": incident_id, "key_id": key_id,
            "prompt_sha256": None if entry is None else entry.prompt_sha256,
            "action": None if entry is None else entry.action,
            "categories": dump_scores({} if entry is None else entry.categories),
            "status": ReviewStatus.PENDING.value,
        },
        now=now,
        actor=key_id,
    )


def get(conn: Connection, review_id: int, *, for_update: bool = False) -> ReviewItem | None:
    """The item with this id, or ``None``."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.reviews).where(t.reviews.c.id == int(review_id))
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    return None if row is None else _item_from_row(row)


def _require(conn: Connection, review_id: int) -> ReviewItem:
    item = get(conn, review_id, for_update=True)
    if item is None:
        raise not_found("review item", review_id, "list the review queue to see which exist")
    return item


def list_items(
    conn: Connection,
    *,
    status: ReviewStatus | str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[ReviewItem]:
    """Items with ``id > after_id`` (optionally of one status), oldest first."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.reviews).where(t.reviews.c.id > int(after_id))
    if status is not None:
        q = q.where(t.reviews.c.status == check_status(status).value)
    q = q.order_by(t.reviews.c.id).limit(check_limit(limit))
    return [_item_from_row(r) for r in conn.execute(q).mappings()]


def history(conn: Connection, review_id: int) -> list[ReviewEvent]:
    """Every change of an item, oldest first."""
    import sqlalchemy as sa

    t = tables()
    e = t.review_events
    rows = conn.execute(
        sa.select(e).where(e.c.review_id == int(review_id)).order_by(e.c.id)
    ).mappings()
    return [
        ReviewEvent(
            review_id=int(r["review_id"]), at=float(r["at"]), event=str(r["event"]),
            actor=r["actor"], from_status=r["from_status"], to_status=str(r["to_status"]),
            note=r["note"],
        )
        for r in rows
    ]


def _set(conn: Connection, review_id: int, now: float, **values: Any) -> ReviewItem:
    import sqlalchemy as sa

    t = tables()
    conn.execute(
        sa.update(t.reviews).where(t.reviews.c.id == review_id).values(**values, updated=now)
    )
    item = get(conn, review_id)
    assert item is not None
    return item


def claim(
    conn: Connection, reviewer: str, review_id: int | None, *, postgres: bool, now: float
) -> ReviewItem | None:
    """Claim an item, or the next waiting one (``None`` when the queue is empty)."""
    import sqlalchemy as sa

    reviewer = check_name(reviewer, "reviewer")
    t = tables()
    if review_id is None:
        appeal_first = sa.case((t.reviews.c.status == ReviewStatus.APPEALED.value, 0), else_=1)
        q = (
            sa.select(t.reviews.c.id)
            .where(t.reviews.c.status.in_([s.value for s in _WAITING]))
            .order_by(appeal_first, t.reviews.c.id)
            .limit(1)
        )
        if postgres:
            q = q.with_for_update(skip_locked=True)
        found = conn.execute(q).scalar()
        if found is None:
            return None
        review_id = int(found)
    item = _require(conn, review_id)
    if item.status not in _WAITING:
        who = f" by {item.claimed_by!r}" if item.status is ReviewStatus.CLAIMED else ""
        raise invalid_state(
            f"review item {item.id} is {item.status.value}{who}; only pending or appealed items "
            "can be claimed"
        )
    _event(conn, item.id, at=now, event="claimed", actor=reviewer, from_status=item.status,
           to_status=ReviewStatus.CLAIMED)
    return _set(conn, item.id, now, status=ReviewStatus.CLAIMED.value, claimed_by=reviewer,
                claimed_at=now)


def release(conn: Connection, review_id: int, *, reviewer: str, now: float,
            force: bool = False) -> ReviewItem:
    """Put a claimed item back in the queue (``appealed`` if it was appealed, else ``pending``).
    Only its claimer may, unless ``force`` (an administrator freeing the claim of a reviewer who
    left)."""
    reviewer = check_name(reviewer, "reviewer")
    item = _require(conn, review_id)
    if item.status is not ReviewStatus.CLAIMED:
        raise invalid_state(
            f"review item {item.id} is {item.status.value}; only a claimed item can be released"
        )
    if item.claimed_by != reviewer and not force:
        raise invalid_state(
            f"review item {item.id} is claimed by {item.claimed_by!r}, not {reviewer!r}; only "
            "they or an administrator can release it"
        )
    back = ReviewStatus.APPEALED if item.appealed_at is not None else ReviewStatus.PENDING
    _event(conn, item.id, at=now, event="released", actor=reviewer, from_status=item.status,
           to_status=back)
    return _set(conn, item.id, now, status=back.value, claimed_by=None, claimed_at=None)


def resolve(
    conn: Connection,
    review_id: int,
    *,
    verdict: Verdict | str,
    reviewer: str,
    note: str,
    now: float,
) -> ReviewItem:
    """Give a verdict (the caller applies its consequences: strikes, incident status)."""
    verdict = check_verdict(verdict)
    reviewer = check_name(reviewer, "reviewer")
    note = check_text(note, "note")
    item = _require(conn, review_id)
    if item.status is ReviewStatus.RESOLVED:
        reopen = ("the key that made the request may appeal once to reopen it"
                  if item.verdict is Verdict.UPHELD and item.appealed_at is None
                  and item.decision_id is not None else "it cannot be reopened")
        raise invalid_state(
            f"review item {item.id} is already resolved ({item.verdict}); {reopen}"
        )
    if item.status is ReviewStatus.CLAIMED and item.claimed_by != reviewer:
        raise invalid_state(
            f"review item {item.id} is claimed by {item.claimed_by!r}; only they can resolve it "
            "(or release it first)"
        )
    _event(conn, item.id, at=now, event="resolved", actor=reviewer, from_status=item.status,
           to_status=ReviewStatus.RESOLVED, note=f"{verdict.value}: {note}" if note else verdict)
    return _set(
        conn, item.id, now, status=ReviewStatus.RESOLVED.value, verdict=verdict.value,
        reviewer=reviewer, note=note or None, resolved_at=now, claimed_by=None, claimed_at=None,
    )


def appeal(
    conn: Connection, decision_id: int, *, key_id: str | None, reason: str, now: float
) -> ReviewItem:
    """Appeal a decision once (see the module docstring for the states)."""
    import sqlalchemy as sa

    reason = check_text(reason, "appeal reason")
    # locking the log entry serialises concurrent appeals of one decision
    entry = audit_log.get(conn, decision_id, for_update=True)
    if entry is None or (key_id is not None and entry.key_id != key_id):
        raise not_found("decision", decision_id, "appeal a decision id your key received")
    if entry.action == Action.ALLOW.value:
        raise invalid_state(
            f"decision {decision_id} allowed the request; there is nothing to appeal"
        )
    t = tables()
    row = conn.execute(
        sa.select(t.reviews.c.id).where(t.reviews.c.decision_id == entry.id).with_for_update()
    ).first()
    item = enqueue_decision(conn, entry, now=now) if row is None else _require(conn, int(row[0]))
    if item.appealed_at is not None:
        raise invalid_state(f"decision {decision_id} was already appealed; each decision once")
    if item.status is ReviewStatus.RESOLVED and item.verdict is Verdict.OVERTURNED:
        raise invalid_state(f"decision {decision_id} was already overturned; nothing to appeal")
    to = ReviewStatus.CLAIMED if item.status is ReviewStatus.CLAIMED else ReviewStatus.APPEALED
    _event(conn, item.id, at=now, event="appealed", actor=entry.key_id, from_status=item.status,
           to_status=to, note=reason)
    values: dict[str, Any] = {
        "status": to.value, "appealed_at": now, "appeal_reason": reason or None,
    }
    if item.status is ReviewStatus.RESOLVED:
        values.update(verdict=None, reviewer=None, note=None, resolved_at=None)
    return _set(conn, item.id, now, **values)

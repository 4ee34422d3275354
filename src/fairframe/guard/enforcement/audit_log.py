"""The decision log: append-only and tamper-evident through a SHA-256 hash chain.

Every guard decision the service records becomes one entry with consecutive ids ``1, 2, 3, ...``.
An entry keeps the SHA-256 of the prompt (the prompt text itself only when the setting
``store_prompts`` is on), the policy version, the action, the category scores, the API key id,
the time, and two hashes::

    entry_hash = sha256(canonical_json({id, created, key_id, prompt_sha256, prompt,
                                        image_sha256, policy_version, action, categories,
                                        prev_hash}))

with ``prev_hash`` the ``entry_hash`` of the previous entry (64 zeros for the first) and
``canonical_json`` = JSON with sorted keys, separators ``,`` and ``:``, non-ASCII kept, UTF-8,
floats in Python's shortest round-trip form. A head row (``guard_log_head``) records the last id
and hash.

Appends are serialised: under SQLite by ``BEGIN IMMEDIATE``, under PostgreSQL by locking the head
row (``SELECT ... FOR UPDATE``), so concurrent writers, in several processes or service instances,
never fork the chain. :func:`verify` walks the chain: an edited row fails its own hash, a deleted
row breaks the ids and the next ``prev_hash``, a removed tail disagrees with the head row. The
chain detects edits made through the database; someone who can rewrite every row *and* the head
can forge a new chain, so publish or copy :attr:`LogVerification.last_hash` elsewhere now and then
to anchor it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fairframe.errors import StoreError
from fairframe.guard.enforcement._common import (
    GENESIS_HASH,
    check_limit,
    check_name,
    dump_scores,
    load_scores,
)
from fairframe.guard.enforcement._db import Sql, Statement, tables

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = [
    "GENESIS_HASH",
    "LogEntry",
    "LogVerification",
    "canonical_json",
    "entry_hash",
]

_BATCH = 1000


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no whitespace; NaN and infinities are refused."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True)
class LogEntry:
    """One decision-log entry.

    Attributes
    ----------
    id:
        Position in the log, from 1 without gaps; also the decision id that reviews, appeals and
        incidents refer to.
    created:
        Unix seconds.
    key_id:
        The API key that made the request, or ``None``.
    prompt_sha256:
        SHA-256 of the prompt's UTF-8 bytes, or ``None`` for an image-only check.
    prompt:
        The prompt text when ``store_prompts`` is on, else ``None``.
    image_sha256:
        SHA-256 of the served or checked image, when the caller gave one.
    policy_version:
        Version of the policy that decided.
    action:
        The decision's action (``allow`` ... ``block``).
    categories:
        Score per category id.
    prev_hash:
        ``entry_hash`` of the previous entry (64 zeros for the first).
    entry_hash:
        SHA-256 of the canonical JSON of all the fields above.
    """

    id: int
    created: float
    key_id: str | None
    prompt_sha256: str | None
    prompt: str | None
    image_sha256: str | None
    policy_version: str
    action: str
    categories: Mapping[str, float]
    prev_hash: str
    entry_hash: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))

    def hashed_fields(self) -> dict[str, Any]:
        """The fields :func:`entry_hash` covers (everything but ``entry_hash``)."""
        return {
            "id": self.id,
            "created": self.created,
            "key_id": self.key_id,
            "prompt_sha256": self.prompt_sha256,
            "prompt": self.prompt,
            "image_sha256": self.image_sha256,
            "policy_version": self.policy_version,
            "action": self.action,
            "categories": dict(self.categories),
            "prev_hash": self.prev_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (all fields)."""
        return {**self.hashed_fields(), "entry_hash": self.entry_hash}


@dataclass(frozen=True)
class LogVerification:
    """What :meth:`~fairframe.guard.enforcement.Enforcer.verify_log` found.

    Attributes
    ----------
    ok:
        ``True`` when every entry's hash matches its content, ids run ``1..n`` without gaps, each
        ``prev_hash`` is the previous ``entry_hash``, and the head row agrees.
    n_entries:
        Entries read.
    first_bad_id:
        The first id where the chain breaks (an altered entry, or the id of a missing one);
        ``None`` when ``ok``.
    reason:
        One line saying what is wrong; ``None`` when ``ok``.
    last_hash:
        ``entry_hash`` of the last entry read (64 zeros for an empty log): copy it somewhere safe
        to anchor the chain.
    """

    ok: bool
    n_entries: int
    first_bad_id: int | None
    reason: str | None
    last_hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "ok": self.ok,
            "n_entries": self.n_entries,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
            "last_hash": self.last_hash,
        }


def entry_hash(fields: Mapping[str, Any]) -> str:
    """``sha256(canonical_json(fields))`` as 64 hex digits."""
    return hashlib.sha256(canonical_json(dict(fields))).hexdigest()


def _entry_from_row(row: Mapping[Any, Any]) -> LogEntry:
    return LogEntry(
        id=int(row["id"]),
        created=float(row["created"]),
        key_id=row["key_id"],
        prompt_sha256=row["prompt_sha256"],
        prompt=row["prompt"],
        image_sha256=row["image_sha256"],
        policy_version=str(row["policy_version"]),
        action=str(row["action"]),
        categories=load_scores(row["categories"]),
        prev_hash=str(row["prev_hash"]),
        entry_hash=str(row["entry_hash"]),
    )


# -- database operations (called by the Enforcer inside its transactions) -------------------------


_HEAD = Statement.of("SELECT last_id, last_hash FROM guard_log_head WHERE id = 1 FOR UPDATE")
_INSERT = Statement.of(
    "INSERT INTO guard_log (id, created, key_id, prompt_sha256, prompt, image_sha256, "
    "policy_version, action, categories, prev_hash, entry_hash) VALUES (:id, :created, :key_id, "
    ":prompt_sha256, :prompt, :image_sha256, :policy_version, :action, :categories, :prev_hash, "
    ":entry_hash)"
)
_HEAD_UPDATE = Statement.of(
    "UPDATE guard_log_head SET last_id = :last_id, last_hash = :last_hash WHERE id = 1"
)


def append(
    conn: Connection,
    *,
    created: float,
    key_id: str | None,
    prompt_sha256: str | None,
    prompt: str | None,
    image_sha256: str | None,
    policy_version: str,
    action: str,
    categories: Mapping[str, float],
) -> LogEntry:
    """Append one entry (inside a write transaction; locks the chain head until commit)."""
    return append_many(conn, [{
        "created": created, "key_id": key_id, "prompt_sha256": prompt_sha256, "prompt": prompt,
        "image_sha256": image_sha256, "policy_version": policy_version, "action": action,
        "categories": categories,
    }])[0]


def append_many(conn: Connection, entries: Sequence[Mapping[str, Any]]) -> list[LogEntry]:
    """Append entries in order (inside a write transaction; locks the chain head until commit).

    Each mapping holds the keyword arguments of :func:`append`. The head is read (locked) and
    updated once and the rows go in with one ``executemany``: three driver calls however many
    entries. Every entry is checked before anything is written, so invalid input writes
    nothing.
    """
    checked = []
    for e in entries:
        scores = {str(k): float(v) for k, v in e["categories"].items()}
        if not all(math.isfinite(v) for v in scores.values()):
            raise ValueError("category scores must be finite")
        checked.append((e, check_name(e["policy_version"], "policy_version", allow_empty=True),
                        dump_scores(scores)))
    if not checked:
        return []
    sql = Sql(conn)
    head = sql.one(_HEAD)
    if head is None:  # pragma: no cover - the head row is created with the tables
        raise StoreError(
            "the decision log's chain head row is missing (guard_log_head was altered); "
            "restore the database from a backup"
        )
    last_id, last_hash = int(head[0]), str(head[1])
    out: list[LogEntry] = []
    rows: list[dict[str, Any]] = []
    for e, policy_version, text in checked:
        # store and hash the scores exactly as they will be read back
        fields: dict[str, Any] = {
            "id": last_id + 1, "created": float(e["created"]), "key_id": e["key_id"],
            "prompt_sha256": e["prompt_sha256"], "prompt": e["prompt"],
            "image_sha256": e["image_sha256"], "policy_version": policy_version,
            "action": e["action"], "categories": load_scores(text), "prev_hash": last_hash,
        }
        last_id, last_hash = fields["id"], entry_hash(fields)
        rows.append({**fields, "categories": text, "entry_hash": last_hash})
        out.append(LogEntry(**fields, entry_hash=last_hash))
    sql.run_many(_INSERT, rows)
    sql.run(_HEAD_UPDATE, {"last_id": last_id, "last_hash": last_hash})
    return out


def get(conn: Connection, entry_id: int, *, for_update: bool = False) -> LogEntry | None:
    """The entry with this id, or ``None``."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.log).where(t.log.c.id == int(entry_id))
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    return None if row is None else _entry_from_row(row)


def list_entries(conn: Connection, *, after_id: int = 0, limit: int = 100) -> list[LogEntry]:
    """Up to ``limit`` entries with ``id > after_id``, in order."""
    import sqlalchemy as sa

    t = tables()
    q = (
        sa.select(t.log)
        .where(t.log.c.id > int(after_id))
        .order_by(t.log.c.id)
        .limit(check_limit(limit))
    )
    return [_entry_from_row(r) for r in conn.execute(q).mappings()]


def latest_for_image(conn: Connection, image_sha256: str, *, key_id: str | None = None
                     ) -> LogEntry | None:
    """The newest entry recorded for this image hash (of this key, when given), if any."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.log).where(t.log.c.image_sha256 == image_sha256)
    if key_id is not None:
        q = q.where(t.log.c.key_id == key_id)
    q = q.order_by(t.log.c.id.desc())
    row = conn.execute(q.limit(1)).mappings().first()
    return None if row is None else _entry_from_row(row)


def verify(conn: Connection) -> LogVerification:
    """Walk the whole chain (inside one read transaction, so it sees one snapshot)."""
    import sqlalchemy as sa

    t = tables()
    head = conn.execute(
        sa.select(t.log_head.c.last_id, t.log_head.c.last_hash).where(t.log_head.c.id == 1)
    ).first()
    prev_hash, prev_id, n = GENESIS_HASH, 0, 0

    def bad(first: int, reason: str) -> LogVerification:
        return LogVerification(False, n, first, reason, prev_hash)

    while True:
        rows = (
            conn.execute(
                sa.select(t.log).where(t.log.c.id > prev_id).order_by(t.log.c.id).limit(_BATCH)
            )
            .mappings()
            .all()
        )
        for row in rows:
            entry_id = int(row["id"])
            if entry_id != prev_id + 1:
                missing = entry_id - prev_id - 1
                return bad(
                    prev_id + 1,
                    f"entry {prev_id + 1} is missing: the log jumps from {prev_id} to {entry_id} "
                    f"({missing} entr{'y' if missing == 1 else 'ies'} deleted)",
                )
            try:
                entry = _entry_from_row(row)
                recomputed = entry_hash(entry.hashed_fields())
            except (TypeError, ValueError) as exc:
                return bad(entry_id, f"entry {entry_id} cannot be read ({exc}); it was altered")
            if recomputed != entry.entry_hash:
                return bad(
                    entry_id,
                    f"entry {entry_id}: its content does not match its entry_hash (altered)",
                )
            if entry.prev_hash != prev_hash:
                return bad(
                    entry_id,
                    f"entry {entry_id}: prev_hash does not match entry {prev_id}'s hash "
                    "(an earlier entry was replaced)",
                )
            prev_hash, prev_id, n = entry.entry_hash, entry_id, n + 1
        if len(rows) < _BATCH:
            break
    if head is None:
        return bad(prev_id + 1, "the chain head row is missing (guard_log_head was altered)")
    head_id, head_hash = int(head[0]), str(head[1])
    if head_id > prev_id:
        return bad(
            prev_id + 1,
            f"entries {prev_id + 1}..{head_id} are missing: the head says the log has {head_id}",
        )
    if head_id < prev_id or head_hash != prev_hash:
        return bad(
            head_id + 1 if head_id < prev_id else prev_id,
            f"the chain head (entry {head_id}) does not match the last entry ({prev_id})",
        )
    return LogVerification(True, n, None, None, prev_hash)

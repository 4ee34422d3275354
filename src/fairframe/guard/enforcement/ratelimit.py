"""Per-key rate limits: a token bucket whose state lives in the database.

Each key has a bucket of capacity ``burst`` that refills at ``rate_per_s`` tokens per second::

    tokens(t) = min(burst, tokens(t0) + rate_per_s * max(0, t - t0))

A request of cost ``c`` (default 1) is allowed when ``tokens(t) >= c`` and takes ``c`` tokens;
otherwise it is denied and may retry after ``(c - tokens(t)) / rate_per_s`` seconds. Over any
interval ``[t0, t1]`` a key is therefore allowed at most ``burst + rate_per_s * (t1 - t0)``
requests of cost 1, however many processes serve it: the read-modify-write of the bucket row runs
under ``BEGIN IMMEDIATE`` (SQLite) or ``SELECT ... FOR UPDATE`` (PostgreSQL).

The update time only moves forward (``t0' = max(t0, t)``), so instances whose clocks disagree
slightly never refill the same interval twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fairframe.errors import ConfigError
from fairframe.guard.enforcement._common import check_positive, invalid_state
from fairframe.guard.enforcement._db import Sql, Statement
from fairframe.guard.enforcement.keys import require_key

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from fairframe.guard.enforcement.keys import ApiKey

__all__ = ["BucketState", "BucketStep", "RateResult", "refill", "take"]

# tokens within this of a whole number count as that number (float noise from refills)
_EPS = 1e-9


@dataclass(frozen=True)
class RateResult:
    """The answer of one rate-limit check.

    Attributes
    ----------
    allowed:
        Whether the request may proceed (it has then used its tokens).
    remaining:
        Whole tokens left after this request (``floor(tokens)``), for a
        ``RateLimit-Remaining`` header.
    retry_after_s:
        ``0`` when allowed; else the seconds until enough tokens have refilled.
    limit:
        The bucket's capacity (``burst``).
    """

    allowed: bool
    remaining: int
    retry_after_s: float
    limit: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "allowed": self.allowed,
            "remaining": self.remaining,
            "retry_after_s": self.retry_after_s,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class BucketState:
    """A bucket's stored state: tokens at time ``updated`` (Unix seconds)."""

    tokens: float
    updated: float


@dataclass(frozen=True)
class BucketStep:
    """What :func:`take` computed: the new state to store and the answer."""

    state: BucketState
    result: RateResult


def refill(state: BucketState, now: float, *, rate_per_s: float, burst: int) -> float:
    """Tokens at ``now``: ``min(burst, tokens + rate_per_s * max(0, now - updated))``."""
    return min(float(burst), state.tokens + rate_per_s * max(0.0, now - state.updated))


def take(
    state: BucketState, now: float, *, rate_per_s: float, burst: int, cost: float = 1.0
) -> BucketStep:
    """One request of ``cost`` tokens against a bucket (pure; see the module docstring).

    Examples
    --------
    >>> s = take(BucketState(tokens=0.5, updated=0.0), 1.0, rate_per_s=0.5, burst=3)
    >>> s.result.allowed, s.result.remaining, s.state.tokens
    (True, 0, 0.0)
    """
    tokens = refill(state, now, rate_per_s=rate_per_s, burst=burst)
    updated = max(state.updated, now)
    if tokens + _EPS >= cost:
        tokens = max(0.0, tokens - cost)
        result = RateResult(True, math.floor(tokens + _EPS), 0.0, burst)
    else:
        wait = (cost - tokens) / rate_per_s
        result = RateResult(False, math.floor(tokens + _EPS), wait, burst)
    return BucketStep(BucketState(tokens, updated), result)


_BUCKET = Statement.of(
    "SELECT tokens, updated FROM guard_buckets WHERE key_id = :key_id FOR UPDATE"
)
_UPDATE = Statement.of(
    "UPDATE guard_buckets SET tokens = :tokens, updated = :updated WHERE key_id = :key_id"
)
_INSERT = Statement.of(
    "INSERT INTO guard_buckets (key_id, tokens, updated) VALUES (:key_id, :tokens, :updated)"
)


def check(conn: Connection, key_id: str, *, now: float, cost: float = 1.0) -> RateResult:
    """Take ``cost`` tokens from the key's bucket (inside a write transaction)."""
    cost = check_positive(cost, "cost")
    return check_key(conn, require_key(conn, key_id), now=now, cost=cost)


def check_key(conn: Connection, key: ApiKey, *, now: float, cost: float = 1.0) -> RateResult:
    """:func:`check` for a key read in this transaction (no second read of its row).

    Raises
    ------
    StateError
        The key is revoked.
    ConfigError
        ``cost`` is not a finite number > 0, or exceeds the key's burst.
    """
    check_cost(key, cost)
    state, exists = read_bucket(conn, key, now)
    step = take(state, now, rate_per_s=key.rate_per_s, burst=key.burst, cost=cost)
    write_bucket(conn, key.id, step.state, exists=exists)
    return step.result


def check_cost(key: ApiKey, cost: float) -> float:
    """``cost`` when ``key`` may be charged it; raises what :func:`check_key` raises."""
    cost = check_positive(cost, "cost")
    if not key.active:
        raise invalid_state(f"API key {key.id!r} is revoked; it has no rate limit to check")
    if cost > key.burst:
        raise ConfigError(f"cost {cost} exceeds the key's burst ({key.burst}); it could never pass")
    return cost


def read_bucket(conn: Connection, key: ApiKey, now: float) -> tuple[BucketState, bool]:
    """The key's bucket, locked until commit (a full one at ``now`` when it has none yet), and
    whether its row exists."""
    row = Sql(conn).one(_BUCKET, {"key_id": key.id})
    if row is None:
        return BucketState(float(key.burst), now), False
    return BucketState(row[0], row[1]), True


def write_bucket(conn: Connection, key_id: str, state: BucketState, *, exists: bool) -> None:
    """Store the key's bucket (insert its row when it has none yet)."""
    values = {"key_id": key_id, "tokens": state.tokens, "updated": state.updated}
    Sql(conn).run(_UPDATE if exists else _INSERT, values)

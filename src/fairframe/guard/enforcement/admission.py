"""Admission: authenticate a token, check the account, take rate-limit tokens, in one transaction.

The service asks three questions before it runs a guard check: whose token is this
(:func:`.keys.authenticate`), may that account make requests now (:func:`.strikes.status`), and
does its token bucket allow one more (:func:`.ratelimit.check`). :func:`admit` answers all three
in one write transaction, with the same arithmetic as the three separate calls, and stops at the
first "no":

1. a malformed, unknown, wrong or revoked token: ``key`` is ``None``, nothing else is read;
2. an account that is cooling down or suspended: ``status`` says so and ``rate`` is ``None``
   (the request takes no tokens from the bucket);
3. otherwise ``rate`` holds the token bucket's answer (see :mod:`.ratelimit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fairframe.guard.enforcement import keys, ratelimit, strikes
from fairframe.guard.enforcement.strikes import AccountState

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from fairframe.guard.enforcement.keys import ApiKey
    from fairframe.guard.enforcement.ratelimit import RateResult
    from fairframe.guard.enforcement.settings import StrikeSettings
    from fairframe.guard.enforcement.strikes import AccountStatus

__all__ = ["Admission", "admit", "admit_many"]


@dataclass(frozen=True)
class Admission:
    """Whether a request may proceed, and each answer that led there.

    Attributes
    ----------
    key:
        The active key whose token was presented; ``None`` for a malformed, unknown, wrong or
        revoked token (then ``status`` and ``rate`` are ``None`` too).
    status:
        The key's account status when the key is known, else ``None``.
    rate:
        The rate-limit answer; ``None`` when not checked because the key is unknown or the
        account is not ``active`` (such a request takes no tokens).
    """

    key: ApiKey | None
    status: AccountStatus | None
    rate: RateResult | None

    @property
    def allowed(self) -> bool:
        """``True`` when the key is known, its account active, and its bucket had the tokens."""
        return self.rate is not None and self.rate.allowed

    @property
    def reason(self) -> str | None:
        """Why the request is refused, in the service's error vocabulary: ``"unauthorized"``,
        ``"account_cooldown"``, ``"account_suspended"`` or ``"rate_limited"``; ``None`` when
        allowed."""
        if self.key is None or self.status is None:
            return "unauthorized"
        if self.status.state is not AccountState.ACTIVE:
            return f"account_{self.status.state.value}"
        if self.rate is None or not self.rate.allowed:
            return "rate_limited"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``key``, ``status``, ``rate`` (each ``None`` or a dict), ``allowed``,
        ``reason``."""
        return {
            "key": None if self.key is None else self.key.to_dict(),
            "status": None if self.status is None else self.status.to_dict(),
            "rate": None if self.rate is None else self.rate.to_dict(),
            "allowed": self.allowed,
            "reason": self.reason,
        }


def admit(
    conn: Connection, token: str, *, now: float, cost: float, settings: StrikeSettings
) -> Admission:
    """Authenticate, read the account status, take ``cost`` tokens (inside a write transaction).

    Raises
    ------
    ConfigError
        ``cost`` exceeds the key's burst (checked only for an active account, as
        :func:`.ratelimit.check` would).
    """
    return admit_many(conn, [token], now=now, cost=cost, settings=settings)[0]


def admit_many(
    conn: Connection, tokens: Sequence[str], *, now: float, cost: float,
    settings: StrikeSettings,
) -> list[Admission]:
    """:func:`admit` for each token in order, at one moment (inside a write transaction).

    The answers are those of one :func:`admit` per token in order at the one moment ``now``:
    nothing an admission writes changes the key or account rows, so each distinct token's key and
    account status are read once, and each key's bucket is read (locked, in key order, so that
    concurrent batches sharing keys cannot deadlock) once, charged in memory request by request
    with :func:`.ratelimit.take`, and written once at the end. A batch of ``n`` requests with one
    key costs the statements of one admission.

    Raises
    ------
    ConfigError
        As :func:`admit`; then nothing is written (the caller's transaction rolls back).
    """
    known: dict[str, ApiKey | None] = {}
    statuses: dict[str, AccountStatus] = {}
    charged: dict[str, ApiKey] = {}
    for token in tokens:  # reads only: keys and account statuses
        if token not in known:
            known[token] = keys.authenticate(conn, token)
        key = known[token]
        if key is not None and key.id not in statuses:
            statuses[key.id] = strikes.key_status(conn, key.id, now=now, settings=settings)
            if statuses[key.id].state is AccountState.ACTIVE:
                charged[key.id] = key
    # the buckets are locked in key order, so two batches that share keys (two service
    # instances on one PostgreSQL database) cannot deadlock whatever their request order
    buckets = {kid: ratelimit.read_bucket(conn, charged[kid], now) for kid in sorted(charged)}
    out: list[Admission] = []
    for token in tokens:
        key = known[token]
        if key is None:
            out.append(Admission(None, None, None))
            continue
        status = statuses[key.id]
        if status.state is not AccountState.ACTIVE:
            out.append(Admission(key, status, None))
            continue
        charge = ratelimit.check_cost(key, cost)
        state, exists = buckets[key.id]
        step = ratelimit.take(state, now, rate_per_s=key.rate_per_s, burst=key.burst, cost=charge)
        buckets[key.id] = (step.state, exists)
        out.append(Admission(key, status, step.result))
    for key_id, (state, exists) in buckets.items():  # key order, as locked
        ratelimit.write_bucket(conn, key_id, state, exists=exists)
    return out

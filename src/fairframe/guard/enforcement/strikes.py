"""Strikes that decay, escalating cool-downs, and suspension.

A decision whose action has a weight in ``StrikeSettings.action_weights`` (by default only
``block``) records a strike on the key that made the request. Its weight is::

    w = action_weights[action] * max(category_weights.get(c, 1.0) for c in causes)

where ``causes`` are the categories that triggered the decision's action under the policy (by
default ``sexual_minors`` weighs 5). Strikes decay exponentially::

    effective(t) = sum_i w_i * 0.5 ** ((t - t_i) / half_life_s)

over the key's strikes that were not removed (an overturned block removes its strike;
reinstatement clears them). When a strike is recorded the account escalates:

1. a suspended key stays suspended (only an admin reinstates it);
2. ``effective >= suspend_at`` suspends the key;
3. otherwise, when ``effective >= cooldown_at`` and no cool-down is running: with ``n`` cool-downs
   started in the last ``cooldown_window_s`` seconds (and after the last reinstatement),
   ``n >= max_cooldowns`` suspends the key, else a cool-down of
   ``min(cooldown_base_s * cooldown_factor ** n, cooldown_max_s)`` seconds starts.

The account's state is then ``suspended``, ``cooldown`` (until the cool-down ends) or ``active``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from fairframe.errors import ConfigError
from fairframe.guard.enforcement._common import check_name, check_text, invalid_state
from fairframe.guard.enforcement._db import Sql, Statement, tables
from fairframe.guard.enforcement.keys import require_key
from fairframe.guard.enforcement.settings import StrikeSettings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from fairframe.guard.decision import Decision
    from fairframe.guard.policy import Policy

__all__ = [
    "AccountState",
    "AccountStatus",
    "Escalation",
    "Strike",
    "StrikeWeight",
    "cooldown_length_s",
    "decayed",
    "effective_strikes",
    "escalate",
    "strike_weight",
]

#: Strikes older than this many half-lives weigh less than 2**-64 of their weight; ignored.
_HORIZON_HALF_LIVES = 64


class AccountState(StrEnum):
    """Where a key stands."""

    ACTIVE = "active"
    COOLDOWN = "cooldown"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class AccountStatus:
    """A key's enforcement status at one moment.

    Attributes
    ----------
    key_id:
        The key.
    state:
        ``active``, ``cooldown`` or ``suspended``.
    until:
        End of the cool-down (Unix seconds); ``None`` when active or suspended (a suspension
        lasts until an admin reinstates the key).
    effective_strikes:
        ``sum_i w_i * 0.5 ** (age_i / half_life_s)`` at that moment.
    reason:
        Why the key is cooling down or suspended; ``None`` when active.
    """

    key_id: str
    state: AccountState
    until: float | None
    effective_strikes: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "key_id": self.key_id,
            "state": self.state.value,
            "until": self.until,
            "effective_strikes": self.effective_strikes,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Strike:
    """One recorded strike.

    Attributes
    ----------
    weight:
        Weight when recorded (before decay).
    created:
        Unix seconds.
    key_id:
        The key it counts against.
    id:
        Row id.
    decision_id:
        The decision-log entry that caused it.
    action:
        The decision's action.
    category:
        The heaviest category among the decision's causes, if any.
    removed_at:
        When it was removed (overturned on review, cleared by reinstatement); ``None`` if it
        still counts.
    removed_reason:
        Why it was removed.
    """

    weight: float
    created: float
    key_id: str = ""
    id: int = 0
    decision_id: int | None = None
    action: str = "block"
    category: str | None = None
    removed_at: float | None = None
    removed_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "key_id": self.key_id,
            "decision_id": self.decision_id,
            "action": self.action,
            "category": self.category,
            "weight": self.weight,
            "created": self.created,
            "removed_at": self.removed_at,
            "removed_reason": self.removed_reason,
        }


@dataclass(frozen=True)
class StrikeWeight:
    """The weight a decision's strike gets, and the category that set it (if any)."""

    weight: float
    category: str | None


@dataclass(frozen=True)
class Escalation:
    """What recording a strike does to the account.

    Attributes
    ----------
    step:
        ``"none"``, ``"cooldown"`` or ``"suspend"``.
    length_s:
        Length of the new cool-down (``step == "cooldown"`` only).
    reason:
        One line saying why, e.g. ``"3.00 effective strikes >= cooldown_at 3"``.
    """

    step: Literal["none", "cooldown", "suspend"]
    length_s: float | None = None
    reason: str = ""


def decayed(weight: float, age_s: float, half_life_s: float) -> float:
    """``weight * 0.5 ** (max(age_s, 0) / half_life_s)``."""
    return float(weight * 0.5 ** (max(0.0, age_s) / half_life_s))


def effective_strikes(strikes: Iterable[Strike], now: float, half_life_s: float) -> float:
    """``sum_i w_i * 0.5 ** ((now - t_i) / half_life_s)`` over strikes not removed."""
    return sum(
        decayed(s.weight, now - s.created, half_life_s) for s in strikes if s.removed_at is None
    )


def cooldown_length_s(n_previous: int, settings: StrikeSettings) -> float:
    """``min(cooldown_base_s * cooldown_factor ** n_previous, cooldown_max_s)``."""
    if n_previous < 0:
        raise ValueError(f"n_previous must be >= 0, got {n_previous}")
    length, cap = settings.cooldown_base_s, settings.cooldown_max_s
    if settings.cooldown_factor == 1.0:
        return min(length, cap)
    for _ in range(n_previous):  # multiply step by step: no overflow for large n
        length *= settings.cooldown_factor
        if length >= cap:
            return cap
    return min(length, cap)


#: Effective strikes within this much of a threshold reach it: strikes decay continuously, so three
#: blocks a few seconds apart weigh 2.99999 and must still meet ``cooldown_at = 3``. A strike
#: loses 0.001 of its weight in ~14 minutes at the default 7-day half-life.
STRIKE_TOLERANCE = 1e-3


def escalate(
    effective: float,
    *,
    suspended: bool,
    in_cooldown: bool,
    n_recent_cooldowns: int,
    settings: StrikeSettings,
) -> Escalation:
    """The escalation step after a strike (see the module docstring for the rule)."""
    if suspended:
        return Escalation("none", reason="already suspended")
    if effective + STRIKE_TOLERANCE >= settings.suspend_at:
        return Escalation(
            "suspend",
            reason=f"{effective:.2f} effective strikes >= suspend_at {settings.suspend_at:g}",
        )
    if effective + STRIKE_TOLERANCE >= settings.cooldown_at and not in_cooldown:
        if n_recent_cooldowns >= settings.max_cooldowns:
            return Escalation(
                "suspend",
                reason=(
                    f"{n_recent_cooldowns} cool-downs in the last "
                    f"{settings.cooldown_window_s:g} s (max_cooldowns {settings.max_cooldowns})"
                ),
            )
        return Escalation(
            "cooldown",
            length_s=cooldown_length_s(n_recent_cooldowns, settings),
            reason=(
                f"{effective:.2f} effective strikes >= cooldown_at {settings.cooldown_at:g} "
                f"(cool-down {n_recent_cooldowns + 1} in the window)"
            ),
        )
    return Escalation("none")


def cause_categories(decision: Decision, policy: Policy | None) -> list[str]:
    """The categories that triggered the decision's action.

    With a policy: categories scoring at or above their threshold whose rule's action is the
    decision's action (else any triggered category). Without a policy, or when none triggers:
    the top-scoring category (ties: all of them), or nothing when every score is 0.
    """
    scores: Mapping[str, float] = decision.categories
    if policy is not None:
        same: list[str] = []
        triggered: list[str] = []
        for name, score in scores.items():
            try:
                rule = policy.rule(name)
            except ConfigError:
                continue
            if score >= rule.threshold:
                triggered.append(name)
                if rule.action is decision.action:
                    same.append(name)
        if same or triggered:
            return same or triggered
    top = max(scores.values(), default=0.0)
    return [name for name, score in scores.items() if score == top and top > 0]


def strike_weight(
    decision: Decision, settings: StrikeSettings, policy: Policy | None = None
) -> StrikeWeight | None:
    """The strike a decision records, or ``None`` when its action carries no weight.

    ``weight = action_weights[action] * max(category_weights.get(c, 1) for c in causes)``
    (:func:`cause_categories`); the reported category is the cause with the highest multiplier
    (ties: the higher score).
    """
    base = settings.action_weights.get(decision.action.value, 0.0)
    if base <= 0:
        return None
    causes = cause_categories(decision, policy)
    if not causes:
        return StrikeWeight(base, None)
    best = max(
        causes,
        key=lambda c: (settings.category_weights.get(c, 1.0), decision.categories.get(c, 0.0), c),
    )
    return StrikeWeight(base * settings.category_weights.get(best, 1.0), best)


# -- database operations (called by the Enforcer inside its transactions) -------------------------


def _strike_from_row(row: Mapping[Any, Any]) -> Strike:
    return Strike(
        id=int(row["id"]),
        key_id=str(row["key_id"]),
        decision_id=None if row["decision_id"] is None else int(row["decision_id"]),
        action=str(row["action"]),
        category=row["category"],
        weight=float(row["weight"]),
        created=float(row["created"]),
        removed_at=row["removed_at"],
        removed_reason=row["removed_reason"],
    )


def list_strikes(
    conn: Connection, key_id: str, *, include_removed: bool = False
) -> list[Strike]:
    """The key's strikes, oldest first."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.strikes).where(t.strikes.c.key_id == key_id).order_by(t.strikes.c.id)
    if not include_removed:
        q = q.where(t.strikes.c.removed_at.is_(None))
    return [_strike_from_row(r) for r in conn.execute(q).mappings()]


_STRIKE_WEIGHTS = Statement.of(
    "SELECT weight, created FROM guard_strikes "
    "WHERE key_id = :key_id AND removed_at IS NULL AND created >= :since"
)
_ACCOUNT_COLUMNS = (
    "key_id", "suspended_at", "suspended_reason", "cooldown_until", "cooldown_reason",
    "reinstated_at", "reinstated_by",
)
_ACCOUNT = Statement.of(
    f"SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM guard_accounts WHERE key_id = :key_id"
)
_ACCOUNT_FOR_UPDATE = Statement.of(
    f"SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM guard_accounts WHERE key_id = :key_id FOR UPDATE"
)
_ACCOUNT_INSERT = Statement.of("INSERT INTO guard_accounts (key_id) VALUES (:key_id)")
_STRIKE_INSERT = Statement.of(
    "INSERT INTO guard_strikes (key_id, decision_id, action, category, weight, created) "
    "VALUES (:key_id, :decision_id, :action, :category, :weight, :created)"
)
_RECENT_COOLDOWNS = Statement.of(
    "SELECT COUNT(*) FROM guard_cooldowns WHERE key_id = :key_id AND started >= :since"
)
_SUSPEND = Statement.of(
    "UPDATE guard_accounts SET suspended_at = :at, suspended_reason = :reason "
    "WHERE key_id = :key_id"
)
_COOLDOWN_INSERT = Statement.of(
    "INSERT INTO guard_cooldowns (key_id, started, until) VALUES (:key_id, :started, :until)"
)
_COOLDOWN = Statement.of(
    "UPDATE guard_accounts SET cooldown_until = :until, cooldown_reason = :reason "
    "WHERE key_id = :key_id"
)


def _effective(conn: Connection, key_id: str, now: float, settings: StrikeSettings) -> float:
    horizon = now - _HORIZON_HALF_LIVES * settings.half_life_s
    rows = Sql(conn).all(_STRIKE_WEIGHTS, {"key_id": key_id, "since": horizon})
    return effective_strikes(
        (Strike(weight=w, created=c) for w, c in rows), now, settings.half_life_s
    )


def _account(conn: Connection, key_id: str, *, for_update: bool = False) -> Mapping[str, Any]:
    """The key's account row; a missing one (keys always get one) reads as active, and is
    recreated when ``for_update``."""
    sql = Sql(conn)
    params = {"key_id": key_id}
    row = sql.one(_ACCOUNT_FOR_UPDATE if for_update else _ACCOUNT, params)
    if row is None and for_update:
        sql.run(_ACCOUNT_INSERT, params)
        row = sql.one(_ACCOUNT_FOR_UPDATE, params)
    if row is None:
        return dict.fromkeys(_ACCOUNT_COLUMNS) | params
    return dict(zip(_ACCOUNT_COLUMNS, row, strict=True))


def _status_from(
    key_id: str, account: Mapping[str, Any], effective: float, now: float
) -> AccountStatus:
    if account["suspended_at"] is not None:
        return AccountStatus(
            key_id, AccountState.SUSPENDED, None, effective, account["suspended_reason"]
        )
    until = account["cooldown_until"]
    if until is not None and until > now:
        return AccountStatus(
            key_id, AccountState.COOLDOWN, float(until), effective, account["cooldown_reason"]
        )
    return AccountStatus(key_id, AccountState.ACTIVE, None, effective, None)


def status(conn: Connection, key_id: str, *, now: float, settings: StrikeSettings) -> AccountStatus:
    """The key's status at ``now``; unknown ids raise :class:`~fairframe.errors.NotFoundError`."""
    return key_status(conn, require_key(conn, key_id).id, now=now, settings=settings)


def key_status(
    conn: Connection, key_id: str, *, now: float, settings: StrikeSettings
) -> AccountStatus:
    """:func:`status` of a key read in this transaction (no second read of its row)."""
    account = _account(conn, key_id)
    return _status_from(key_id, account, _effective(conn, key_id, now, settings), now)


def add_strike(
    conn: Connection,
    key_id: str,
    *,
    weight: StrikeWeight,
    action: str,
    decision_id: int | None,
    now: float,
    settings: StrikeSettings,
) -> AccountStatus:
    """Record a strike and escalate the account (inside a write transaction)."""
    sql = Sql(conn)
    account = _account(conn, key_id, for_update=True)
    sql.run(
        _STRIKE_INSERT,
        {
            "key_id": key_id, "decision_id": decision_id, "action": action,
            "category": weight.category, "weight": weight.weight, "created": now,
        },
    )
    effective = _effective(conn, key_id, now, settings)
    since = now - settings.cooldown_window_s
    if account["reinstated_at"] is not None:
        since = max(since, float(account["reinstated_at"]))
    counted = sql.one(_RECENT_COOLDOWNS, {"key_id": key_id, "since": since})
    n_recent = int(counted[0]) if counted is not None else 0
    until = account["cooldown_until"]
    step = escalate(
        effective,
        suspended=account["suspended_at"] is not None,
        in_cooldown=until is not None and until > now,
        n_recent_cooldowns=n_recent,
        settings=settings,
    )
    if step.step == "suspend":
        sql.run(_SUSPEND, {"key_id": key_id, "at": now, "reason": step.reason})
    elif step.step == "cooldown":
        assert step.length_s is not None
        end = now + step.length_s
        sql.run(_COOLDOWN_INSERT, {"key_id": key_id, "started": now, "until": end})
        sql.run(_COOLDOWN, {"key_id": key_id, "until": end, "reason": step.reason})
    return _status_from(key_id, _account(conn, key_id), effective, now)


def remove_for_decision(
    conn: Connection, decision_id: int, *, reason: str, now: float, settings: StrikeSettings
) -> None:
    """Remove the strikes a decision caused; end a running cool-down that no longer holds.

    A cool-down ends (and stops counting towards escalation) when the key's effective strikes
    fall below ``cooldown_at``. A suspension stays until an admin reinstates the key.
    """
    import sqlalchemy as sa

    t = tables()
    key_ids = sorted(
        {
            str(k)
            for (k,) in conn.execute(
                sa.select(t.strikes.c.key_id).where(
                    t.strikes.c.decision_id == decision_id, t.strikes.c.removed_at.is_(None)
                )
            )
        }
    )
    if not key_ids:
        return
    # lock the accounts before touching their strikes: the same order as add_strike and
    # reinstate, so concurrent transactions cannot deadlock
    accounts = {key_id: _account(conn, key_id, for_update=True) for key_id in key_ids}
    conn.execute(
        sa.update(t.strikes)
        .where(t.strikes.c.decision_id == decision_id, t.strikes.c.removed_at.is_(None))
        .values(removed_at=now, removed_reason=reason)
    )
    for key_id, account in accounts.items():
        until = account["cooldown_until"]
        if until is None or until <= now:
            continue
        if _effective(conn, key_id, now, settings) + STRIKE_TOLERANCE < settings.cooldown_at:
            conn.execute(
                sa.delete(t.cooldowns).where(
                    t.cooldowns.c.key_id == key_id, t.cooldowns.c.until > now
                )
            )
            conn.execute(
                sa.update(t.accounts)
                .where(t.accounts.c.key_id == key_id)
                .values(cooldown_until=None, cooldown_reason=None)
            )


def reinstate(
    conn: Connection,
    key_id: str,
    *,
    by: str | None,
    note: str,
    clear_strikes: bool,
    now: float,
    settings: StrikeSettings,
) -> AccountStatus:
    """Lift a suspension or cool-down; optionally clear the key's strikes."""
    import sqlalchemy as sa

    t = tables()
    key = require_key(conn, key_id)
    if key.revoked_at is not None:
        raise invalid_state(f"API key {key.id} is revoked; revocation is final, so create a new "
                            "key instead of reinstating this one")
    by = None if by is None else check_name(by, "reinstated by")
    note = check_text(note, "note")
    _account(conn, key.id, for_update=True)
    if clear_strikes:
        reason = "cleared on reinstatement" + (f": {note}" if note else "")
        conn.execute(
            sa.update(t.strikes)
            .where(t.strikes.c.key_id == key.id, t.strikes.c.removed_at.is_(None))
            .values(removed_at=now, removed_reason=reason)
        )
    conn.execute(
        sa.update(t.accounts)
        .where(t.accounts.c.key_id == key.id)
        .values(
            suspended_at=None, suspended_reason=None, cooldown_until=None, cooldown_reason=None,
            reinstated_at=now, reinstated_by=by,
        )
    )
    return status(conn, key.id, now=now, settings=settings)

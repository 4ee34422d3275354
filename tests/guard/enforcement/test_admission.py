"""``Enforcer.admit``: the answers of authenticate + status + check_rate, in one transaction."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from fairframe.errors import ConfigError
from fairframe.guard import Action, Decision
from fairframe.guard.enforcement import (
    AccountState,
    Admission,
    Enforcer,
    RateResult,
    parse_token,
)
from fairframe.guard.enforcement.keys import format_token
from tests.guard.enforcement._workers import hammer_threads
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer, raw_sql


def block() -> Decision:
    return Decision(Action.BLOCK, {"illegal": 0.95}, prompt_in="p", policy_version="t/1")


def sequence(enf: Enforcer, token: str, cost: float = 1.0) -> Admission:
    """What the service did before ``admit``: three calls, three transactions."""
    key = enf.authenticate(token)
    if key is None:
        return Admission(None, None, None)
    status = enf.status(key.id)
    if status.state is not AccountState.ACTIVE:
        return Admission(key, status, None)
    return Admission(key, status, enf.check_rate(key.id, cost=cost))


def same_answer(a: Admission, b: Admission) -> bool:
    """Equal apart from the key (two twin keys answer for the same history)."""
    if (a.key is None) != (b.key is None) or a.allowed != b.allowed or a.reason != b.reason:
        return False
    if a.status is None or b.status is None:
        return a.status is b.status and a.rate is b.rate
    return (
        dataclasses.replace(a.status, key_id="") == dataclasses.replace(b.status, key_id="")
        and a.rate == b.rate
    )


def tokens_in_bucket(db_url: str, key_id: str) -> float:
    rows = raw_sql(db_url, "SELECT tokens FROM guard_buckets WHERE key_id = :k", {"k": key_id})
    return float(rows[0][0])


def test_admit_matches_the_three_calls_step_by_step(
    make_enforcer: MakeEnforcer, clock: FakeClock
) -> None:
    # twin keys with one history each: one driven by admit, one by the three calls
    enf = make_enforcer(strikes={"cooldown_at": 2, "suspend_at": 3.5, "cooldown_base_s": 60})
    new = enf.create_key("new", rate_per_s=0.5, burst=3).token
    old = enf.create_key("old", rate_per_s=0.5, burst=3).token
    steps: list[tuple[str, Any]] = [
        *[("admit", 1.0)] * 4,  # burst, then denied with retry_after 2 s
        ("advance", 1.0), ("admit", 1.0),  # 0.5 tokens: still denied, retry 1 s
        ("advance", 1.0), ("admit", 1.0),  # one token: allowed
        ("advance", 10.0), ("admit", 2.5), ("admit", 1.0),  # cost
        ("block", None), ("admit", 1.0), ("block", None),  # 2 strikes: cool-down
        ("admit", 1.0), ("advance", 30.0), ("admit", 1.0),
        ("advance", 31.0), ("admit", 1.0),  # cool-down over
        ("block", None), ("admit", 1.0), ("block", None), ("admit", 1.0),  # 4 strikes: suspended
        ("advance", 1000.0), ("admit", 1.0),
    ]
    n_compared, reasons = 0, set[str | None]()
    for what, arg in steps:
        if what == "advance":
            clock.advance(arg)
        elif what == "block":
            for token in (new, old):
                key = enf.authenticate(token)
                assert key is not None
                enf.record(block(), key_id=key.id)
        else:
            got, want = enf.admit(new, cost=arg), sequence(enf, old, cost=arg)
            assert same_answer(got, want), (what, arg, got, want)
            n_compared += 1
            reasons.add(got.reason)
    final = enf.admit(new)
    assert final.status is not None and final.status.state is AccountState.SUSPENDED
    assert n_compared == 15
    assert reasons == {None, "rate_limited", "account_cooldown", "account_suspended"}


def test_active_key_with_tokens(enforcer: Enforcer) -> None:
    created = enforcer.create_key("a", rate_per_s=0.5, burst=3)
    adm = enforcer.admit(created.token)
    assert adm.allowed and adm.reason is None
    assert adm.key == created.key
    assert adm.status is not None and adm.status.state is AccountState.ACTIVE
    assert adm.status.effective_strikes == 0.0
    assert adm.rate is not None and adm.rate.remaining == 2 and adm.rate.retry_after_s == 0.0
    d = adm.to_dict()
    assert d["allowed"] is True and d["reason"] is None
    assert d["key"] == created.key.to_dict() and "token" not in str(d)
    assert d["status"]["state"] == "active"
    assert d["rate"] == {"allowed": True, "remaining": 2, "retry_after_s": 0.0, "limit": 3}
    with pytest.raises(dataclasses.FrozenInstanceError):
        adm.rate = None  # type: ignore[misc]


def test_exhausted_bucket_says_when_to_retry(enforcer: Enforcer, clock: FakeClock) -> None:
    token = enforcer.create_key("a", rate_per_s=0.5, burst=2).token
    assert [enforcer.admit(token).allowed for _ in range(3)] == [True, True, False]
    clock.advance(1.5)  # 0.75 tokens
    denied = enforcer.admit(token)
    assert not denied.allowed and denied.reason == "rate_limited"
    assert denied.rate is not None and denied.rate.retry_after_s == pytest.approx(0.5)
    assert denied.to_dict()["rate"]["remaining"] == 0
    clock.advance(0.5)
    assert enforcer.admit(token).allowed


@pytest.mark.parametrize("case", ["malformed", "unknown", "wrong_secret", "revoked"])
def test_unknown_or_revoked_tokens_are_refused_and_take_nothing(
    enforcer: Enforcer, db_url: str, case: str
) -> None:
    created = enforcer.create_key("a", burst=5)
    key_id = created.key.id
    parsed = parse_token(created.token)
    assert parsed is not None
    other_id = "0" * 12 if key_id != "0" * 12 else "1" * 12
    wrong_secret = parsed.secret[:-1] + ("a" if parsed.secret[-1] != "a" else "b")
    token = {
        "malformed": "not a token",
        "unknown": format_token(other_id, parsed.secret),
        "wrong_secret": format_token(key_id, wrong_secret),
        "revoked": created.token,
    }[case]
    if case == "revoked":
        enforcer.revoke_key(key_id)
    adm = enforcer.admit(token)
    assert adm == Admission(None, None, None) == sequence(enforcer, token)
    assert not adm.allowed and adm.reason == "unauthorized"
    assert adm.to_dict() == {"key": None, "status": None, "rate": None, "allowed": False,
                             "reason": "unauthorized"}
    assert tokens_in_bucket(db_url, key_id) == 5.0


@pytest.mark.parametrize(
    ("strike_settings", "state"),
    [
        ({"cooldown_at": 1, "suspend_at": 5, "cooldown_base_s": 60}, AccountState.COOLDOWN),
        ({"cooldown_at": 1, "suspend_at": 1}, AccountState.SUSPENDED),
    ],
)
def test_cooling_down_and_suspended_accounts_take_no_tokens(
    make_enforcer: MakeEnforcer,
    clock: FakeClock,
    db_url: str,
    strike_settings: dict[str, float],
    state: AccountState,
) -> None:
    enf = make_enforcer(strikes=strike_settings)
    created = enf.create_key("a", rate_per_s=1 / 86400, burst=3)
    assert enf.admit(created.token).allowed
    enf.record(block(), key_id=created.key.id)
    before = tokens_in_bucket(db_url, created.key.id)
    for _ in range(5):
        adm = enf.admit(created.token)
        assert adm.key == created.key and adm.rate is None and not adm.allowed
        assert adm.status is not None and adm.status.state is state
        assert adm.reason == f"account_{state.value}"
        assert adm.to_dict()["rate"] is None and adm.to_dict()["status"]["state"] == state.value
    assert tokens_in_bucket(db_url, created.key.id) == before == 2.0
    if state is AccountState.COOLDOWN:
        assert adm.status is not None and adm.status.until == clock() + 60
        clock.advance(61)
    else:
        enf.reinstate(created.key.id)
    after = enf.admit(created.token)
    assert after.allowed and after.rate is not None and after.rate.remaining == 1


def test_cost_is_checked_like_check_rate(enforcer: Enforcer) -> None:
    token = enforcer.create_key("a", rate_per_s=1, burst=5).token
    with pytest.raises(ConfigError, match="exceeds the key's burst"):
        enforcer.admit(token, cost=6)
    for bad in (0, -1, float("nan"), True):
        with pytest.raises(ConfigError, match="cost"):
            enforcer.admit(token, cost=bad)
    with pytest.raises(ConfigError, match="cost"):  # before the token is looked at
        enforcer.admit("not a token", cost=0)
    assert enforcer.admit(token).rate == RateResult(True, 4, 0.0, 5)  # the refusals took nothing


def test_cost_arithmetic(enforcer: Enforcer) -> None:
    token = enforcer.create_key("a", rate_per_s=1, burst=5).token
    first = enforcer.admit(token, cost=4)
    assert first.rate is not None and first.allowed and first.rate.remaining == 1
    second = enforcer.admit(token, cost=3)
    assert second.rate is not None and not second.allowed
    assert second.rate.retry_after_s == 2.0 and second.rate.remaining == 1


def test_admit_is_one_transaction(enforcer: Enforcer) -> None:
    from sqlalchemy import event

    token = enforcer.create_key("a").token
    begins: list[object] = []

    def count(conn: object) -> None:
        begins.append(conn)

    engine = enforcer._db.engine
    event.listen(engine, "begin", count)
    try:
        enforcer.admit(token)
        assert len(begins) == 1
        sequence(enforcer, token)
        assert len(begins) == 4
    finally:
        event.remove(engine, "begin", count)


def test_threads_on_a_frozen_clock_get_exactly_the_burst(make_enforcer: MakeEnforcer) -> None:
    a, b = make_enforcer(), make_enforcer()
    token = a.create_key("k", rate_per_s=1, burst=25).token
    assert hammer_threads([a, b], lambda e: e.admit(token).allowed,
                          n_threads=8, per_thread=10) == 25


def test_threads_on_a_real_clock_stay_within_the_bound(make_enforcer: MakeEnforcer) -> None:
    a, b = make_enforcer(clock_=time.time), make_enforcer(clock_=time.time)
    rate, burst = 20.0, 5
    token = a.create_key("k", rate_per_s=rate, burst=burst).token
    t0 = time.time()
    allowed = hammer_threads([a, b], lambda e: e.admit(token).allowed, n_threads=6, per_thread=25)
    elapsed = time.time() - t0
    assert burst <= allowed <= burst + rate * elapsed + 1e-9

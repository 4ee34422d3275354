"""Strikes, decay, cool-downs and suspension through the Enforcer, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from fairframe.errors import ConfigError
from fairframe.guard import Action, Decision
from fairframe.guard.enforcement import AccountState, Enforcer
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer

HOUR = 3600.0


def block(category: str = "illegal", score: float = 0.95) -> Decision:
    return Decision(Action.BLOCK, {category: score}, prompt_in="p", policy_version="t/1")


def flag() -> Decision:
    return Decision(Action.FLAG, {"nudity": 0.7}, prompt_in="p", policy_version="t/1")


def test_strikes_decay_with_half_life(make_enforcer: MakeEnforcer, clock: FakeClock) -> None:
    enf = make_enforcer(strikes={"half_life_s": HOUR, "cooldown_at": 100, "suspend_at": 100})
    key = enf.create_key("a").key
    enf.record(block(), key_id=key.id)
    enf.record(flag(), key_id=key.id)  # flags weigh 0 by default
    assert enf.status(key.id).effective_strikes == 1.0
    clock.advance(HOUR)
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).effective_strikes == pytest.approx(1.5)
    clock.advance(2 * HOUR)
    assert enf.status(key.id).effective_strikes == pytest.approx(0.375)  # 0.125 + 0.25
    assert [s.weight for s in enf.list_strikes(key.id)] == [1.0, 1.0]
    assert enf.status(key.id).state is AccountState.ACTIVE


def test_minors_block_weighs_more(enforcer: Enforcer) -> None:
    key = enforcer.create_key("a").key
    enforcer.record(block("sexual_minors", 0.5), key_id=key.id)
    (strike,) = enforcer.list_strikes(key.id)
    assert strike.weight == 5.0 and strike.category == "sexual_minors"
    assert strike.decision_id == 1


def test_three_blocks_seconds_apart_reach_cooldown_at_three(
    make_enforcer: MakeEnforcer, clock: FakeClock
) -> None:
    # the default 7-day half-life decays each strike a little between requests: 2.99999 strikes
    # after three blocks a few seconds apart must still start the cool-down at cooldown_at = 3
    enf = make_enforcer()
    key = enf.create_key("a").key
    for _ in range(2):
        enf.record(block(), key_id=key.id)
        clock.advance(5)
    assert enf.status(key.id).state is AccountState.ACTIVE
    enf.record(block(), key_id=key.id)
    st = enf.status(key.id)
    assert st.effective_strikes < 3 and st.state is AccountState.COOLDOWN
    clock.advance(86400 * 3)  # days later, two strikes' worth is far from three: no cool-down
    fresh = enf.create_key("b").key
    enf.record(block(), key_id=fresh.id)
    clock.advance(86400 * 3)
    enf.record(block(), key_id=fresh.id)
    enf.record(block(), key_id=fresh.id)
    assert enf.status(fresh.id).state is AccountState.ACTIVE


def test_cooldowns_double_then_suspend(make_enforcer: MakeEnforcer, clock: FakeClock) -> None:
    enf = make_enforcer(strikes={
        "half_life_s": 1e9, "cooldown_at": 2, "suspend_at": 1000, "cooldown_base_s": 60,
        "cooldown_factor": 2, "cooldown_max_s": 200, "cooldown_window_s": 10_000,
        "max_cooldowns": 3,
    })
    key = enf.create_key("a").key
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).state is AccountState.ACTIVE
    enf.record(block(), key_id=key.id)  # 2 strikes -> cool-down 60 s
    st = enf.status(key.id)
    assert st.state is AccountState.COOLDOWN and st.until == clock() + 60
    assert st.reason is not None and "cooldown_at" in st.reason
    enf.record(block(), key_id=key.id)  # during a cool-down: no new one
    assert enf.status(key.id).until == clock() + 60
    lengths = [60.0]
    for _ in range(2):
        clock.advance(lengths[-1])
        assert enf.status(key.id).state is AccountState.ACTIVE
        enf.record(block(), key_id=key.id)
        st = enf.status(key.id)
        assert st.state is AccountState.COOLDOWN and st.until is not None
        lengths.append(st.until - clock())
    assert lengths == [60.0, 120.0, 200.0]  # doubled, then capped
    clock.advance(200)
    enf.record(block(), key_id=key.id)  # a 4th cool-down in the window -> suspended
    st = enf.status(key.id)
    assert st.state is AccountState.SUSPENDED and st.until is None
    assert st.reason is not None and "cool-downs" in st.reason
    clock.advance(1e6)
    assert enf.status(key.id).state is AccountState.SUSPENDED  # until an admin acts
    assert st.to_dict()["state"] == "suspended"


def test_cooldowns_outside_the_window_do_not_escalate(
    make_enforcer: MakeEnforcer, clock: FakeClock
) -> None:
    enf = make_enforcer(strikes={
        "half_life_s": 1e9, "cooldown_at": 1, "suspend_at": 1000, "cooldown_base_s": 10,
        "cooldown_max_s": 1000, "cooldown_window_s": 100,
    })
    key = enf.create_key("a").key
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).until == clock() + 10
    clock.advance(50)
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).until == clock() + 20
    clock.advance(500)  # both earlier cool-downs left the window
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).until == clock() + 10


def test_suspend_at_and_reinstate(make_enforcer: MakeEnforcer, clock: FakeClock) -> None:
    enf = make_enforcer(strikes={"cooldown_at": 3, "suspend_at": 6})
    key = enf.create_key("a").key
    enf.record(block("sexual_minors", 0.9), key_id=key.id)  # 5 -> cool-down
    assert enf.status(key.id).state is AccountState.COOLDOWN
    enf.record(block(), key_id=key.id)  # 6 -> suspended
    st = enf.status(key.id)
    assert st.state is AccountState.SUSPENDED and "suspend_at" in (st.reason or "")
    back = enf.reinstate(key.id, by="admin-1", note="spoke to the user")
    assert back.state is AccountState.ACTIVE and back.effective_strikes == 0.0
    removed = enf.list_strikes(key.id, include_removed=True)
    assert len(removed) == 2 and all(s.removed_at == clock() for s in removed)
    assert "spoke to the user" in (removed[0].removed_reason or "")
    assert enf.list_strikes(key.id) == []
    # earlier cool-downs no longer count after a reinstatement
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).state is AccountState.ACTIVE


def test_reinstate_keeping_strikes(make_enforcer: MakeEnforcer) -> None:
    enf = make_enforcer(strikes={"cooldown_at": 1, "suspend_at": 50})
    key = enf.create_key("a").key
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).state is AccountState.COOLDOWN
    st = enf.reinstate(key.id, clear_strikes=False)
    assert st.state is AccountState.ACTIVE and st.effective_strikes == 1.0


def test_anonymous_and_unknown_keys(enforcer: Enforcer) -> None:
    entry = enforcer.record(block(), key_id=None)
    assert entry == 1
    with pytest.raises(ConfigError, match="unknown API key"):
        enforcer.record(block(), key_id="nope")
    with pytest.raises(ConfigError, match="unknown API key"):
        enforcer.status("nope")
    with pytest.raises(ConfigError, match="unknown API key"):
        enforcer.reinstate("nope")
    assert enforcer.list_log() and len(enforcer.list_log()) == 1  # the failed record rolled back


def test_overturned_block_removes_its_strike_and_lifts_the_cooldown(
    make_enforcer: MakeEnforcer, clock: FakeClock
) -> None:
    enf = make_enforcer(strikes={"cooldown_at": 2, "suspend_at": 50})
    key = enf.create_key("a").key
    first = enf.record(block(), key_id=key.id)
    enf.record(block(), key_id=key.id)
    assert enf.status(key.id).state is AccountState.COOLDOWN
    item = next(i for i in enf.list_reviews() if i.decision_id == first)
    enf.resolve_review(item.id, verdict="overturned", reviewer="rev", note="art, not porn")
    st = enf.status(key.id)
    assert st.state is AccountState.ACTIVE and st.effective_strikes == 1.0
    strikes = enf.list_strikes(key.id, include_removed=True)
    assert strikes[0].removed_at == clock() and "overturned" in (strikes[0].removed_reason or "")
    assert strikes[1].removed_at is None
    # the lifted cool-down does not count: the next one is the first again (base length)
    enf.record(block(), key_id=key.id)
    st = enf.status(key.id)
    assert st.state is AccountState.COOLDOWN and st.until == clock() + 900

"""Token-bucket rate limits in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from fairframe.errors import ConfigError
from fairframe.guard.enforcement import Enforcer
from tests.guard.enforcement._workers import hammer_threads
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer


def test_exact_token_arithmetic(enforcer: Enforcer, clock: FakeClock) -> None:
    key = enforcer.create_key("a", rate_per_s=0.5, burst=3).key
    results = [enforcer.check_rate(key.id) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert results[3].retry_after_s == 2.0 and results[0].retry_after_s == 0.0
    assert results[0].to_dict() == {"allowed": True, "remaining": 2, "retry_after_s": 0.0,
                                    "limit": 3}
    clock.advance(1.0)  # 0.5 tokens
    r = enforcer.check_rate(key.id)
    assert not r.allowed and r.retry_after_s == 1.0
    clock.advance(1.0)  # 1.0 token
    assert enforcer.check_rate(key.id).allowed
    assert not enforcer.check_rate(key.id).allowed
    clock.advance(1000.0)  # capped at burst
    assert [enforcer.check_rate(key.id).allowed for _ in range(4)] == [True] * 3 + [False]


def test_cost_and_errors(enforcer: Enforcer, clock: FakeClock) -> None:
    key = enforcer.create_key("a", rate_per_s=1, burst=5).key
    assert enforcer.check_rate(key.id, cost=4).remaining == 1
    denied = enforcer.check_rate(key.id, cost=3)
    assert not denied.allowed and denied.retry_after_s == 2.0
    with pytest.raises(ConfigError, match="exceeds the key's burst"):
        enforcer.check_rate(key.id, cost=6)
    with pytest.raises(ConfigError, match="cost"):
        enforcer.check_rate(key.id, cost=0)
    with pytest.raises(ConfigError, match="unknown API key"):
        enforcer.check_rate("nope")
    enforcer.revoke_key(key.id)
    with pytest.raises(ConfigError, match="revoked"):
        enforcer.check_rate(key.id)


def test_keys_have_separate_buckets(enforcer: Enforcer) -> None:
    a = enforcer.create_key("a", burst=1).key
    b = enforcer.create_key("b", burst=1).key
    assert enforcer.check_rate(a.id).allowed and not enforcer.check_rate(a.id).allowed
    assert enforcer.check_rate(b.id).allowed


def test_threads_on_a_frozen_clock_get_exactly_the_burst(
    make_enforcer: MakeEnforcer,
) -> None:
    # two instances on one database, four threads each: with time frozen, exactly `burst` pass
    a, b = make_enforcer(), make_enforcer()
    key = a.create_key("k", rate_per_s=1, burst=25).key
    assert hammer_threads([a, b], lambda e: e.check_rate(key.id).allowed,
                          n_threads=8, per_thread=10) == 25


def test_threads_on_a_real_clock_stay_within_the_bound(make_enforcer: MakeEnforcer) -> None:
    a, b = make_enforcer(clock_=time.time), make_enforcer(clock_=time.time)
    rate, burst = 20.0, 5
    key = a.create_key("k", rate_per_s=rate, burst=burst).key
    t0 = time.time()
    allowed = hammer_threads([a, b], lambda e: e.check_rate(key.id).allowed,
                             n_threads=6, per_thread=25)
    elapsed = time.time() - t0
    assert allowed <= burst + rate * elapsed + 1e-9
    assert allowed >= burst

"""Pure functions with hand-computed answers: token bucket, decay, escalation, hashes, tokens."""

from __future__ import annotations

import hashlib
import math

import pytest

from fairframe.guard import Action, Decision, default_policy
from fairframe.guard.enforcement import GENESIS_HASH, StrikeSettings, parse_token, redact_url
from fairframe.guard.enforcement.audit_log import LogEntry, canonical_json, entry_hash
from fairframe.guard.enforcement.keys import format_token, hash_secret
from fairframe.guard.enforcement.ratelimit import BucketState, refill, take
from fairframe.guard.enforcement.strikes import (
    Strike,
    cooldown_length_s,
    decayed,
    effective_strikes,
    escalate,
    strike_weight,
)

# -- token bucket ---------------------------------------------------------------------------------


def test_bucket_drains_then_denies_with_exact_retry_after() -> None:
    state = BucketState(tokens=3.0, updated=0.0)
    remaining = []
    for _ in range(3):
        step = take(state, 0.0, rate_per_s=0.5, burst=3)
        assert step.result.allowed
        remaining.append(step.result.remaining)
        state = step.state
    assert remaining == [2, 1, 0]
    denied = take(state, 0.0, rate_per_s=0.5, burst=3)
    assert not denied.result.allowed
    assert denied.result.retry_after_s == 2.0  # (1 - 0) / 0.5
    half = take(denied.state, 1.0, rate_per_s=0.5, burst=3)  # 0.5 tokens refilled
    assert not half.result.allowed and half.result.retry_after_s == 1.0
    again = take(half.state, 2.0, rate_per_s=0.5, burst=3)
    assert again.result.allowed and again.result.remaining == 0 and again.state.tokens == 0.0


def test_refill_caps_at_burst_and_ignores_clock_going_back() -> None:
    assert refill(BucketState(1.0, 0.0), 100.0, rate_per_s=1.0, burst=5) == 5.0
    assert refill(BucketState(1.0, 10.0), 4.0, rate_per_s=1.0, burst=5) == 1.0
    step = take(BucketState(1.0, 10.0), 4.0, rate_per_s=1.0, burst=5)
    assert step.state.updated == 10.0  # never moves back


def test_bucket_cost_above_one() -> None:
    step = take(BucketState(2.5, 0.0), 0.0, rate_per_s=0.25, burst=4, cost=3.0)
    assert not step.result.allowed and step.result.retry_after_s == 2.0  # (3 - 2.5) / 0.25
    ok = take(step.state, 2.0, rate_per_s=0.25, burst=4, cost=3.0)
    assert ok.result.allowed and ok.state.tokens == 0.0


# -- strikes --------------------------------------------------------------------------------------


def test_decay_halves_per_half_life() -> None:
    assert decayed(4.0, 0.0, 10.0) == 4.0
    assert decayed(4.0, 10.0, 10.0) == 2.0
    assert decayed(4.0, 30.0, 10.0) == 0.5
    assert decayed(4.0, -5.0, 10.0) == 4.0  # future strikes do not grow


def test_effective_strikes_sums_decayed_weights_and_skips_removed() -> None:
    strikes = [
        Strike(weight=1.0, created=0.0),
        Strike(weight=5.0, created=10.0),
        Strike(weight=100.0, created=10.0, removed_at=15.0),
    ]
    # at t=20, half-life 10: 1 * 0.25 + 5 * 0.5
    assert effective_strikes(strikes, 20.0, 10.0) == pytest.approx(2.75, abs=1e-12)


def test_cooldown_length_doubles_and_caps() -> None:
    s = StrikeSettings(cooldown_base_s=60, cooldown_factor=2, cooldown_max_s=300)
    assert [cooldown_length_s(n, s) for n in range(5)] == [60, 120, 240, 300, 300]
    assert cooldown_length_s(10_000, s) == 300


def test_escalate_rules() -> None:
    s = StrikeSettings(cooldown_at=3, suspend_at=10, max_cooldowns=2, cooldown_base_s=60)

    def step(eff: float, *, suspended: bool = False, cooling: bool = False, n: int = 0) -> str:
        return escalate(
            eff, suspended=suspended, in_cooldown=cooling, n_recent_cooldowns=n, settings=s
        ).step

    assert step(2.99) == "none"
    assert step(3.0) == "cooldown"
    assert escalate(3.0, suspended=False, in_cooldown=False, n_recent_cooldowns=1,
                    settings=s).length_s == 120
    assert step(5.0, cooling=True) == "none"
    assert step(3.0, n=2) == "suspend"  # too many cool-downs
    assert step(10.0, cooling=True) == "suspend"
    assert step(50.0, suspended=True) == "none"


def test_strike_weight_by_action_and_category() -> None:
    s = StrikeSettings()
    policy = default_policy()
    block = Decision(Action.BLOCK, {"sexual_minors": 0.5, "sexual": 0.2})
    w = strike_weight(block, s, policy)
    assert w is not None and w.weight == 5.0 and w.category == "sexual_minors"
    plain = Decision(Action.BLOCK, {"illegal": 0.95, "violence": 0.1})
    w2 = strike_weight(plain, s, policy)
    assert w2 is not None and w2.weight == 1.0
    assert strike_weight(Decision(Action.FLAG, {"nudity": 0.9}), s, policy) is None
    failed_closed = strike_weight(Decision(Action.BLOCK, {}), s, policy)
    assert failed_closed is not None and failed_closed.weight == 1.0
    assert failed_closed.category is None
    custom = StrikeSettings(action_weights={"block": 2.0, "flag": 0.5},
                            category_weights={"violence": 3.0})
    wf = strike_weight(Decision(Action.FLAG, {"violence": 0.99}), custom, None)
    assert wf is not None and wf.weight == 1.5 and wf.category == "violence"


# -- hash chain -----------------------------------------------------------------------------------


def test_canonical_json_and_entry_hash() -> None:
    assert canonical_json({"b": 1, "a": [1.5, None], "é": "ü"}) == (
        '{"a":[1.5,null],"b":1,"é":"ü"}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json({"x": math.nan})
    entry = LogEntry(
        id=1, created=1.5, key_id=None, prompt_sha256=None, prompt=None, image_sha256=None,
        policy_version="v", action="allow", categories={"sexual": 0.25}, prev_hash=GENESIS_HASH,
        entry_hash="",
    )
    text = (
        '{"action":"allow","categories":{"sexual":0.25},"created":1.5,"id":1,'
        '"image_sha256":null,"key_id":null,"policy_version":"v","prev_hash":"'
        + "0" * 64
        + '","prompt":null,"prompt_sha256":null}'
    )
    assert entry_hash(entry.hashed_fields()) == hashlib.sha256(text.encode()).hexdigest()


# -- tokens and URLs ------------------------------------------------------------------------------


def test_token_round_trip_and_rejects() -> None:
    token = format_token("0123456789ab", "s3cr_et-" + "x" * 30)
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.key_id == "0123456789ab" and parsed.secret == "s3cr_et-" + "x" * 30
    for bad in ["", "ff_0123456789ab", "xx_0123456789ab_" + "x" * 40,
                "ff_0123456789AB_" + "x" * 40, "ff_0123456789ab_short", "ff_0123_" + "x" * 40]:
        assert parse_token(bad) is None, bad
    assert hash_secret("abc") == hashlib.sha256(b"abc").hexdigest()


def test_redact_url() -> None:
    assert redact_url("postgresql+psycopg://bob:s3cr3t@db:5432/x") == (
        "postgresql+psycopg://bob:***@db:5432/x"
    )
    assert redact_url("postgresql://db/x?password=hunter2&sslmode=require") == (
        "postgresql://db/x?password=***&sslmode=require"
    )
    assert redact_url("sqlite:///tmp/guard.db") == "sqlite:///tmp/guard.db"


def test_statement_forms() -> None:
    from fairframe.guard.enforcement._db import Statement

    st = Statement.of(
        """SELECT tokens, updated
           FROM guard_buckets WHERE key_id = :key_id AND x = :x2 FOR UPDATE"""
    )
    assert st.sqlite == (
        "SELECT tokens, updated FROM guard_buckets WHERE key_id = :key_id AND x = :x2"
    )
    assert st.postgresql == (
        "SELECT tokens, updated FROM guard_buckets WHERE key_id = %(key_id)s AND x = %(x2)s "
        "FOR UPDATE"
    )
    assert Statement.of("SELECT '1'::text, :a").postgresql == "SELECT '1'::text, %(a)s"
    with pytest.raises(ValueError, match="%"):
        Statement.of("SELECT 5 % 2")

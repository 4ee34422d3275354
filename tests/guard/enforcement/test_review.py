"""The review queue and appeals, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from fairframe.errors import ConfigError
from fairframe.guard import Action, Decision
from fairframe.guard.enforcement import Enforcer, ReviewKind, ReviewStatus, Verdict
from fairframe.guard.enforcement._common import sha256_text
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer


def decision(action: Action, prompt: str = "p") -> Decision:
    return Decision(action, {"violence": 0.8}, prompt_in=prompt, policy_version="t/1")


def test_flag_and_block_are_queued(enforcer: Enforcer, clock: FakeClock) -> None:
    key = enforcer.create_key("a").key
    ids = {a: enforcer.record(decision(a, f"prompt {a.value}"), key_id=key.id) for a in Action}
    items = enforcer.list_reviews()
    assert [i.decision_id for i in items] == [ids[Action.FLAG], ids[Action.BLOCK]]
    item = items[0]
    assert item.kind is ReviewKind.DECISION and item.status is ReviewStatus.PENDING
    assert item.prompt_sha256 == sha256_text("prompt flag") and item.action == "flag"
    assert dict(item.categories) == {"violence": 0.8} and item.created == clock()
    assert item.key_id == key.id and item.to_dict()["status"] == "pending"
    assert enforcer.get_review(item.id) == item and enforcer.get_review(999) is None


def test_review_actions_setting(make_enforcer: MakeEnforcer) -> None:
    enf = make_enforcer(review_actions=["rewrite"])
    enf.record(decision(Action.BLOCK), key_id=None)
    enf.record(decision(Action.REWRITE), key_id=None)
    assert [i.action for i in enf.list_reviews()] == ["rewrite"]


def test_claim_release_resolve(enforcer: Enforcer, clock: FakeClock) -> None:
    first = enforcer.record(decision(Action.BLOCK), key_id=None)
    enforcer.record(decision(Action.FLAG), key_id=None)
    item = enforcer.claim_review(reviewer="ann")
    assert item is not None and item.decision_id == first
    assert item.status is ReviewStatus.CLAIMED and item.claimed_by == "ann"
    with pytest.raises(ConfigError, match="claimed by 'ann'"):
        enforcer.claim_review(item.id, reviewer="bob")
    with pytest.raises(ConfigError, match="claimed by 'ann'"):
        enforcer.resolve_review(item.id, verdict="upheld", reviewer="bob")
    with pytest.raises(ConfigError, match="claimed by 'ann', not 'bob'; only they or an admin"):
        enforcer.release_review(item.id, reviewer="bob")
    released = enforcer.release_review(item.id, reviewer="ann")
    assert released.status is ReviewStatus.PENDING and released.claimed_by is None
    with pytest.raises(ConfigError, match="only a claimed item"):
        enforcer.release_review(item.id, reviewer="ann")
    enforcer.claim_review(item.id, reviewer="bob")
    clock.advance(5)
    done = enforcer.resolve_review(item.id, verdict=Verdict.UPHELD, reviewer="bob", note="ok")
    assert done.status is ReviewStatus.RESOLVED and done.verdict is Verdict.UPHELD
    assert done.reviewer == "bob" and done.note == "ok" and done.resolved_at == clock()
    with pytest.raises(ConfigError, match="already resolved"):
        enforcer.resolve_review(item.id, verdict="overturned", reviewer="bob")
    with pytest.raises(ConfigError, match="only pending or appealed"):
        enforcer.claim_review(item.id, reviewer="bob")
    # a pending item may be resolved directly
    other = enforcer.list_reviews(ReviewStatus.PENDING)[0]
    assert enforcer.resolve_review(other.id, verdict="overturned", reviewer="cy").verdict is (
        Verdict.OVERTURNED
    )
    assert enforcer.claim_review(reviewer="ann") is None  # queue empty
    assert [e.event for e in enforcer.review_history(item.id)] == [
        "created", "claimed", "released", "claimed", "resolved"
    ]
    assert len(enforcer.list_reviews("resolved")) == 2


def test_invalid_inputs(enforcer: Enforcer) -> None:
    enforcer.record(decision(Action.BLOCK), key_id=None)
    with pytest.raises(ConfigError, match="unknown review status"):
        enforcer.list_reviews("done")
    with pytest.raises(ConfigError, match="unknown verdict"):
        enforcer.resolve_review(1, verdict="maybe", reviewer="x")
    with pytest.raises(ConfigError, match="unknown review item"):
        enforcer.resolve_review(99, verdict="upheld", reviewer="x")
    with pytest.raises(ConfigError, match="reviewer must not be empty"):
        enforcer.claim_review(1, reviewer=" ")
    with pytest.raises(ConfigError, match="limit"):
        enforcer.list_reviews(limit=0)


def test_appeal_once(enforcer: Enforcer) -> None:
    a = enforcer.create_key("a").key
    b = enforcer.create_key("b").key
    blocked = enforcer.record(decision(Action.BLOCK), key_id=a.id)
    with pytest.raises(ConfigError, match="unknown decision"):
        enforcer.appeal(blocked, key_id=b.id)  # not b's decision
    with pytest.raises(ConfigError, match="unknown decision"):
        enforcer.appeal(999, key_id=a.id)
    item = enforcer.appeal(blocked, key_id=a.id, reason="it was a history lesson")
    assert item.status is ReviewStatus.APPEALED and item.appeal_reason == "it was a history lesson"
    with pytest.raises(ConfigError, match="already appealed"):
        enforcer.appeal(blocked, key_id=a.id)
    allowed = enforcer.record(decision(Action.ALLOW), key_id=a.id)
    with pytest.raises(ConfigError, match="nothing to appeal"):
        enforcer.appeal(allowed, key_id=a.id)


def test_an_administrator_frees_a_departed_reviewers_claim(enforcer: Enforcer) -> None:
    enforcer.record(decision(Action.BLOCK), key_id=None)
    item = enforcer.claim_review(reviewer="ann")
    assert item is not None
    freed = enforcer.release_review(item.id, reviewer="root", force=True)
    assert freed.status is ReviewStatus.PENDING and freed.claimed_by is None
    assert enforcer.review_history(item.id)[-1].actor == "root"


def test_appeals_are_claimed_first_and_release_back_to_appealed(enforcer: Enforcer) -> None:
    key = enforcer.create_key("a").key
    enforcer.record(decision(Action.FLAG), key_id=key.id)
    second = enforcer.record(decision(Action.BLOCK), key_id=key.id)
    enforcer.appeal(second, key_id=key.id)
    item = enforcer.claim_review(reviewer="r")
    assert item is not None and item.decision_id == second
    assert enforcer.release_review(item.id, reviewer="r").status is ReviewStatus.APPEALED


def test_appeal_after_upheld_requeues_and_overturn_removes_strike(enforcer: Enforcer) -> None:
    key = enforcer.create_key("a").key
    blocked = enforcer.record(decision(Action.BLOCK), key_id=key.id)
    item = enforcer.list_reviews()[0]
    enforcer.resolve_review(item.id, verdict="upheld", reviewer="r1")
    assert enforcer.status(key.id).effective_strikes == 1.0
    again = enforcer.appeal(blocked, key_id=key.id, reason="please look again")
    assert again.id == item.id and again.status is ReviewStatus.APPEALED and again.verdict is None
    enforcer.claim_review(again.id, reviewer="r2")
    final = enforcer.resolve_review(again.id, verdict="overturned", reviewer="r2")
    assert final.verdict is Verdict.OVERTURNED and final.appealed_at is not None
    assert enforcer.status(key.id).effective_strikes == 0.0
    events = [(e.event, e.to_status) for e in enforcer.review_history(item.id)]
    assert events == [("created", "pending"), ("resolved", "resolved"), ("appealed", "appealed"),
                      ("claimed", "claimed"), ("resolved", "resolved")]


def test_appeal_without_queue_item_and_while_claimed(make_enforcer: MakeEnforcer) -> None:
    enf = make_enforcer(review_actions=["flag"])
    key = enf.create_key("a").key
    rewritten = enf.record(decision(Action.REWRITE), key_id=key.id)  # not queued
    assert enf.list_reviews() == []
    item = enf.appeal(rewritten, key_id=key.id)
    assert item.status is ReviewStatus.APPEALED and item.decision_id == rewritten
    flagged = enf.record(decision(Action.FLAG), key_id=key.id)
    queued = enf.claim_review(reviewer="r")
    assert queued is not None and queued.decision_id == rewritten  # appeals first
    claimed = enf.claim_review(reviewer="r")
    assert claimed is not None and claimed.decision_id == flagged
    during = enf.appeal(flagged, key_id=key.id)
    assert during.status is ReviewStatus.CLAIMED and during.appealed_at is not None
    admin = enf.appeal(enf.record(decision(Action.BLOCK), key_id=key.id), key_id=None)
    assert admin.status is ReviewStatus.APPEALED  # an admin may appeal for a user


def test_overturned_after_upheld_cannot_be_appealed(enforcer: Enforcer) -> None:
    key = enforcer.create_key("a").key
    blocked = enforcer.record(decision(Action.BLOCK), key_id=key.id)
    enforcer.resolve_review(enforcer.list_reviews()[0].id, verdict="overturned", reviewer="r")
    with pytest.raises(ConfigError, match="already overturned"):
        enforcer.appeal(blocked, key_id=key.id)

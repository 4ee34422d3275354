"""Action ordering, decide_action and the Decision JSON round trip."""

from __future__ import annotations

import json

import pytest

from fairframe.errors import InputDataError
from fairframe.guard.decision import (
    Action,
    Decision,
    Evidence,
    Finding,
    decide_action,
    most_severe,
    triggered_actions,
)
from fairframe.guard.policy import default_policy, parse_policy


def test_action_order() -> None:
    order = [Action.ALLOW, Action.FLAG, Action.REWRITE, Action.REGENERATE, Action.BLOCK]
    shuffled = [Action.BLOCK, Action.ALLOW, Action.REGENERATE, Action.FLAG, Action.REWRITE]
    assert sorted(shuffled) == order
    assert Action.ALLOW < Action.FLAG < Action.REWRITE < Action.REGENERATE < Action.BLOCK
    assert Action.BLOCK >= Action.BLOCK
    assert [a.severity for a in order] == [0, 1, 2, 3, 4]
    assert max(order) is Action.BLOCK
    assert most_severe([]) is Action.ALLOW
    assert str(Action.FLAG) == "flag"
    with pytest.raises(TypeError):
        _ = Action.ALLOW < 3  # type: ignore[operator]


def test_decide_action_most_severe_triggered_wins() -> None:
    policy = default_policy()
    assert decide_action({}, policy) is Action.ALLOW
    assert decide_action({"violence": 0.69}, policy) is Action.ALLOW
    assert decide_action({"violence": 0.7}, policy) is Action.REWRITE  # threshold is inclusive
    assert decide_action({"violence": 0.9, "illegal": 0.9}, policy) is Action.REWRITE
    assert decide_action({"violence": 0.9, "hate": 0.8}, policy) is Action.BLOCK
    assert triggered_actions({"violence": 0.9, "hate": 0.1}, policy) == {
        "violence": Action.REWRITE}


def test_decide_action_for_image_scores_with_custom_policy() -> None:
    policy = parse_policy({"version": "img", "categories": {
        "nudity": {"threshold": 0.3, "action": "regenerate"}}})
    assert decide_action({"nudity": 0.35}, policy) is Action.REGENERATE
    assert decide_action({"nudity": 0.35, "sexual_minors": 0.5}, policy) is Action.BLOCK
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        decide_action({"nudity": 1.5}, policy)


def _decision() -> Decision:
    return Decision(
        action=Action.BLOCK,
        categories={"sexual": 0.91, "violence": 0.0},
        findings=(
            Finding("lexicon", "sexual", 0.9, Evidence((10, 19), "n.a.k.e.d", "naked")),
            Finding("image", "nudity", 0.8, Evidence(None, "exposed region", "nudenet")),
        ),
        prompt_in="a photo, n.a.k.e.d — ünïcode",
        prompt_out=None,
        latency_ms={"normalize": 0.08, "lexicon": 0.05},
        policy_version="fairframe-default/2",
    )


def test_json_round_trip_and_format() -> None:
    d = _decision()
    text = d.to_json()
    assert Decision.from_json(text) == d
    data = json.loads(text)
    assert list(data) == ["action", "categories", "findings", "prompt_in", "prompt_out",
                          "latency_ms", "policy_version", "negative_prompt_out", "rewrites",
                          "errors", "attempts", "provenance", "language", "unread"]
    assert data["action"] == "block"
    assert data["findings"][0] == {"stage": "lexicon", "category": "sexual", "score": 0.9,
                                   "evidence": {"span": [10, 19], "text": "n.a.k.e.d",
                                                "label": "naked"}}
    assert data["findings"][1]["evidence"]["span"] is None
    assert "ünïcode" in text
    assert d.blocked
    assert json.loads(d.to_json(indent=2)) == data


def test_decision_is_immutable() -> None:
    d = _decision()
    with pytest.raises(AttributeError):
        d.action = Action.ALLOW  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.categories["sexual"] = 0.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[1]", "object"),
        ("{", "not valid JSON"),
        ('{"categories": {}}', "'action' is required"),
        ('{"action": "nuke"}', "allow, flag, rewrite, regenerate, block"),
        ('{"action": "allow", "categories": {"x": 2}}', "in [0, 1]"),
        ('{"action": "allow", "findings": [{"stage": "s"}]}', "required"),
        ('{"action": "allow", "prompt_in": 3}', "string"),
    ],
)
def test_from_json_errors(text: str, needle: str) -> None:
    with pytest.raises(InputDataError) as info:
        Decision.from_json(text)
    assert needle in str(info.value)


def test_validation() -> None:
    with pytest.raises(ValueError):
        Evidence((5, 2), "x", "y")
    with pytest.raises(ValueError):
        Finding("s", "sexual", -0.1, Evidence(None, "", ""))
    with pytest.raises(TypeError):
        Decision(action="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latency"):
        Decision(action=Action.ALLOW, latency_ms={"x": -1.0})

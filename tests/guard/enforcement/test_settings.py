"""Enforcement settings: defaults, validation, JSON schema; results serialise to JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from fairframe.guard import Action, Decision
from fairframe.guard.enforcement import EnforcementSettings, Enforcer, StrikeSettings


def test_documented_defaults() -> None:
    s = EnforcementSettings()
    assert (s.default_rate_per_s, s.default_burst, s.store_prompts) == (1.0, 20, False)
    assert s.review_actions == {Action.FLAG, Action.BLOCK}
    k = s.strikes
    assert k.half_life_s == 7 * 86400 and k.action_weights == {"block": 1.0}
    assert k.category_weights == {"sexual_minors": 5.0}
    assert (k.cooldown_at, k.suspend_at, k.max_cooldowns) == (3.0, 10.0, 6)
    assert (k.cooldown_base_s, k.cooldown_factor, k.cooldown_max_s) == (900.0, 2.0, 86400.0)
    assert k.cooldown_window_s == 30 * 86400
    assert "strikes" in EnforcementSettings.model_json_schema()["properties"]


def test_settings_are_frozen_and_strict() -> None:
    s = EnforcementSettings()
    with pytest.raises(ValidationError):
        s.default_burst = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        EnforcementSettings.model_validate({"burst": 3})


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"action_weights": {"ban": 1.0}}, "unknown action"),
        ({"action_weights": {"block": -1.0}}, "must be >= 0"),
        ({"category_weights": {"gore": 2.0}}, "unknown category"),
        ({"category_weights": {"hate": 0}}, "must be > 0"),
        ({"cooldown_at": 5, "suspend_at": 4}, "suspend_at"),
        ({"cooldown_base_s": 100, "cooldown_max_s": 10}, "cooldown_max_s"),
        ({"half_life_s": 0}, "greater than 0"),
        ({"cooldown_factor": 0.5}, "greater than or equal to 1"),
    ],
)
def test_invalid_strike_settings(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        StrikeSettings.model_validate(data)


def test_results_are_json_ready(enforcer: Enforcer) -> None:
    created = enforcer.create_key("a", roles=["client"])
    key = created.key
    d = Decision(Action.BLOCK, {"hate": 0.9, "custom_stage_category": 0.5}, prompt_in="x")
    enforcer.record(d, key_id=key.id)
    served = enforcer.record(Decision(Action.FLAG, {"hate": 0.6}, prompt_in="y"), key_id=key.id)
    inc = enforcer.report_incident(category="hate", description="x", decision_id=served)
    results: list[Any] = [
        created, key, enforcer.check_rate(key.id), enforcer.status(key.id),
        *enforcer.list_strikes(key.id), *enforcer.list_log(), enforcer.verify_log(),
        *enforcer.list_reviews(), *enforcer.review_history(1), inc,
    ]
    for r in results:
        json.dumps(r.to_dict())
    assert enforcer.list_strikes(key.id)[0].category == "hate"
    assert repr(enforcer).startswith("Enforcer('sqlite") or "postgres" in repr(enforcer)

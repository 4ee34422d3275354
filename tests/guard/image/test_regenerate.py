"""The regeneration ladder on the tiny Stable Diffusion pipeline with a scripted image check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.backends.fake import FakeGenerator
from fairframe.errors import ConfigError
from fairframe.guard.decision import Action, Decision, decide_action
from fairframe.guard.image.regenerate import DEFAULT_LADDER, RUNGS, Regenerator
from fairframe.guard.policy import Policy, default_policy, parse_policy
from fairframe.guard.rewriters.negatives import DEFAULT_NEGATIVES, MINOR_NEGATIVES
from fairframe.types import GeneratedImage, GenerationRequest

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def sd() -> Any:
    from fairframe.backends.diffusers_generator import DiffusersGenerator

    return DiffusersGenerator(model="tiny://stable-diffusion", device="cpu")


class Counting:
    """Wraps a generator and records every request it receives."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.max_batch_size = 1
        self.requests: list[GenerationRequest] = []

    @property
    def supports_safety(self) -> bool:
        return bool(getattr(self.inner, "supports_safety", False))

    def identity(self) -> Mapping[str, Any]:
        return self.inner.identity()  # type: ignore[no-any-return]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedImage]:
        self.requests.extend(requests)
        return self.inner.generate(requests)  # type: ignore[no-any-return]


class FlagFirst:
    """An image check that scores ``category`` 0.9 for the first ``k`` images, then 0.1."""

    def __init__(self, k: int, category: str = "nudity", policy: Policy | None = None) -> None:
        self.k = k
        self.category = category
        self.policy = policy or default_policy()
        self.images: list[np.ndarray] = []
        self.prompts: list[str] = []

    def __call__(self, image: Image.Image, prompt: str) -> Decision:
        self.images.append(np.asarray(image, dtype=np.int16))
        self.prompts.append(prompt)
        scores = {self.category: 0.9 if len(self.images) <= self.k else 0.1}
        return Decision(action=decide_action(scores, self.policy), categories=scores,
                        policy_version=self.policy.version)


def request(seed: int = 7, **params: Any) -> GenerationRequest:
    base: dict[str, Any] = {"height": 32, "width": 32, "num_inference_steps": 2,
                            "guidance_scale": 2.0}
    return GenerationRequest("a photo of a swimmer", seed=seed, **{**base, **params})


def generated(decision: Decision) -> list[Mapping[str, Any]]:
    return [a for a in decision.attempts if a["attempt"] is not None]


def test_a_clean_first_image_is_served_after_one_attempt(sd: Any) -> None:
    gen, check = Counting(sd), FlagFirst(0)
    result = Regenerator(generator=gen, check=check).generate(request())
    assert not result.refused
    assert result.decision.action is Action.ALLOW
    [only] = result.decision.attempts
    assert only["attempt"] == 1
    assert only["strategy"] == "initial"
    assert only["outcome"] == "served"
    assert only["seed"] == 7
    assert only["categories"] == {"nudity": 0.1}
    assert gen.requests == [request()]
    plain = sd.generate([request()])[0].image
    assert result.image is not None
    assert np.array_equal(np.asarray(result.image), np.asarray(plain))
    assert result.decision.prompt_out is None
    assert result.decision.negative_prompt_out is None


def test_two_flagged_attempts_then_the_rewrite_rung_is_served(sd: Any) -> None:
    gen, check = Counting(sd), FlagFirst(2)
    regen = Regenerator(generator=gen, check=check, rewrite=lambda p: p + ", fully clothed")
    result = regen.generate(request(negative_prompt="blurry"))
    attempts = result.decision.attempts
    assert [a["strategy"] for a in attempts] == ["initial", "negative", "rewrite"]
    assert [a["outcome"] for a in attempts] == ["escalated", "escalated", "served"]
    assert [a["action"] for a in attempts] == ["rewrite", "rewrite", "allow"]
    assert [r.seed for r in gen.requests] == [7, 7, 7]  # same seed: composition kept
    assert [a["seed"] for a in attempts] == [7, 7, 7]
    # the user's terms first, then nudity's, then AI Horde's minor terms (nudity is a sexual
    # context for ForcedNegatives)
    forced = f"blurry, {DEFAULT_NEGATIVES['nudity']}, {MINOR_NEGATIVES}"
    assert attempts[1]["negative_prompt"] == forced
    assert attempts[1]["prompt"] == "a photo of a swimmer"
    assert attempts[2]["prompt"] == "a photo of a swimmer, fully clothed"
    assert attempts[2]["negative_prompt"] == forced  # each rung keeps what came before
    assert check.prompts[2] == "a photo of a swimmer, fully clothed"
    assert result.decision.prompt_out == "a photo of a swimmer, fully clothed"
    assert result.decision.negative_prompt_out == forced
    assert result.generated is not None
    assert result.generated.request == gen.requests[2]
    assert result.decision.latency_ms["generate"] > 0
    # the decision log is JSON and round-trips with its attempts
    again = Decision.from_json(result.decision.to_json())
    assert [dict(a) for a in again.attempts] == [dict(a) for a in attempts]


@pytest.mark.parametrize(("k", "budget"), [(3, 3), (10, 2), (10, 4)])
def test_still_flagged_at_the_budget_is_refused_after_exactly_budget_attempts(
    sd: Any, k: int, budget: int
) -> None:
    gen, check = Counting(sd), FlagFirst(k)
    regen = Regenerator(generator=gen, check=check, budget=budget, rewrite=str.upper)
    result = regen.generate(request())
    assert result.refused
    assert result.image is None
    assert result.generated is None
    assert result.decision.action is Action.BLOCK
    assert result.decision.blocked
    assert len(gen.requests) == budget
    assert len(generated(result.decision)) == budget
    last = generated(result.decision)[-1]
    assert last["outcome"] == "refused"
    assert last["reason"] == f"budget of {budget} attempts spent"
    assert {r.seed for r in gen.requests} == {7}
    assert result.decision.categories == {"nudity": 0.9}


def test_the_ladder_running_out_refuses_before_the_budget(sd: Any) -> None:
    gen = Counting(sd)
    regen = Regenerator(generator=gen, check=FlagFirst(10), budget=10, ladder=("negative",))
    result = regen.generate(request())
    assert result.refused
    assert len(gen.requests) == 2
    assert generated(result.decision)[-1]["reason"] == "ladder exhausted"


def test_an_sld_rung_changes_the_image_at_the_same_seed(sd: Any) -> None:
    check = FlagFirst(1)
    result = Regenerator(generator=sd, check=check, ladder=("sld:max",)).generate(
        request(num_inference_steps=4, guidance_scale=7.5))
    initial, served = result.decision.attempts
    assert served["strategy"] == "sld:max"
    assert served["safety"] == "max"
    assert served["metadata"]["safety"] == "max"
    assert served["metadata"]["sld_active_steps"] == 4
    assert str(served["metadata"]["safety_concept"]).startswith("an image showing hate")
    assert initial["safety"] is None
    assert "safety" not in initial["metadata"]
    assert initial["seed"] == served["seed"] == 7
    plain, steered = check.images
    assert np.abs(steered - plain).max() > 10
    assert result.image is not None
    assert np.array_equal(np.asarray(result.image, dtype=np.int16), steered)


def test_sld_escalates_from_medium_to_strong_to_max(sd: Any) -> None:
    result = Regenerator(generator=sd, check=FlagFirst(3), budget=4,
                         ladder=DEFAULT_LADDER).generate(request())
    strategies = [a["strategy"] for a in result.decision.attempts]
    assert strategies == ["initial", "negative", "rewrite", "sld:medium", "sld:strong"]
    assert result.decision.attempts[2]["reason"] == "no rewrite callable configured"
    assert [a["safety"] for a in generated(result.decision)] == [None, None, "medium", "strong"]
    assert result.decision.attempts[-1]["outcome"] == "served"
    # negatives stay on while safety guidance is added
    assert generated(result.decision)[-1]["negative_prompt"] == (
        f"{DEFAULT_NEGATIVES['nudity']}, {MINOR_NEGATIVES}")


def test_a_generator_without_safety_support_skips_sld_rungs_with_a_reason() -> None:
    gen = Counting(FakeGenerator(size=16))
    assert not Regenerator(generator=gen, check=FlagFirst(0)).supports_safety
    regen = Regenerator(generator=gen, check=FlagFirst(1),
                        ladder=("sld:medium", "sld:max", "negative"))
    result = regen.generate(GenerationRequest("a photo", seed=3))
    attempts = result.decision.attempts
    assert [a["strategy"] for a in attempts] == ["initial", "sld:medium", "sld:max", "negative"]
    assert [a["outcome"] for a in attempts] == ["escalated", "skipped", "skipped", "served"]
    for skipped in attempts[1:3]:
        assert skipped["attempt"] is None
        assert "does not support safety guidance (supports_safety is false)" in skipped["reason"]
    assert attempts[3]["attempt"] == 2  # skipped rungs cost no budget
    assert all(r.safety is None for r in gen.requests)
    with pytest.raises(ConfigError, match="does not support safety guidance"):
        regen.generate(GenerationRequest("a photo", seed=3, safety="max"))


def test_a_category_without_negative_terms_skips_the_negative_rung() -> None:
    policy = parse_policy({"version": "t/1",
                           "categories": {"appearance_change": {"action": "regenerate"}}})
    check = FlagFirst(1, category="appearance_change", policy=policy)
    regen = Regenerator(generator=FakeGenerator(size=16), check=check, policy=policy,
                        rewrite=lambda p: p + ", natural skin tone")
    result = regen.generate(GenerationRequest("a photo", seed=3))
    attempts = result.decision.attempts
    assert [a["strategy"] for a in attempts] == ["initial", "negative", "rewrite"]
    assert attempts[1]["reason"] == (
        "no new negative-prompt terms for the triggered categories (appearance_change)")
    assert attempts[2]["negative_prompt"] is None
    assert result.decision.policy_version == "t/1"


def test_never_retried_categories_refuse_at_once() -> None:
    gen = Counting(FakeGenerator(size=16))
    result = Regenerator(generator=gen, check=FlagFirst(5, category="sexual_minors")).generate(
        GenerationRequest("a photo", seed=3))
    assert result.refused
    assert len(gen.requests) == 1
    [only] = result.decision.attempts
    assert only["outcome"] == "refused"
    assert only["reason"] == "never retried: sexual_minors triggered"


def test_invalid_configuration_is_a_config_error() -> None:
    gen, check = FakeGenerator(), FlagFirst(0)
    with pytest.raises(ConfigError, match="budget"):
        Regenerator(generator=gen, check=check, budget=0)
    with pytest.raises(ConfigError, match="sld:extreme.*allowed: negative, rewrite, sld:weak"):
        Regenerator(generator=gen, check=check, ladder=("sld:extreme",))
    with pytest.raises(ConfigError, match="never_retry"):
        Regenerator(generator=gen, check=check, never_retry=("nope",))
    assert RUNGS == ("negative", "rewrite", "sld:weak", "sld:medium", "sld:strong", "sld:max")

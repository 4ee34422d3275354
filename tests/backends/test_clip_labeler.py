"""CLIPLabeler on the tiny random CLIP model (``tiny://clip``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.backends.clip_labeler import CLIPLabeler
from fairframe.errors import ConfigError, ModelLoadError
from fairframe.types import UNKNOWN, LabelQuestion, LabelResult
from tests.backends._helpers import assert_needs_hf_extra_without
from tests.contract.suites import LabelerContract

pytestmark = pytest.mark.models

TINY = "tiny://clip"
TEMPLATE = "a photo of a {choice} {refer_to}."
GENDER = LabelQuestion("What is the gender of the person?", ("man", "woman"), "person")


def make(**options: object) -> CLIPLabeler:
    return CLIPLabeler(model=TINY, device="cpu", **options)  # type: ignore[arg-type]


def images(n: int = 3, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), "RGB") for _ in range(n)
    ]


def vector(result: LabelResult, keys: tuple[str, ...]) -> np.ndarray:
    return np.array([result.probs[k] for k in keys])


class TestCLIPLabelerContract(LabelerContract):
    def make_labeler(self) -> CLIPLabeler:
        return make()


def test_probabilities_cover_choices_and_unknown_and_sum_to_one() -> None:
    results = make().label(images(), GENDER)
    for r in results:
        assert list(r.probs) == ["man", "woman", UNKNOWN]
        assert sum(r.probs.values()) == pytest.approx(1.0, abs=1e-9)
        assert r.probs[UNKNOWN] > 0
        assert r.answer is None


def test_probabilities_change_with_the_choices_and_not_with_their_order() -> None:
    lab = make()
    imgs = images()
    base = lab.label(imgs, GENDER)
    other = lab.label(imgs, LabelQuestion("Job?", ("doctor", "nurse"), "person"))
    swapped = lab.label(imgs, LabelQuestion(GENDER.question, ("woman", "man"), "person"))
    for a, b, c in zip(base, other, swapped, strict=True):
        assert not np.allclose(vector(a, GENDER.outcomes), vector(b, ("doctor", "nurse", UNKNOWN)))
        np.testing.assert_allclose(
            vector(a, GENDER.outcomes), vector(c, GENDER.outcomes), atol=1e-6
        )


def test_duplicated_templates_average_to_the_same_result() -> None:
    imgs = images()
    single = make(templates=[TEMPLATE]).label(imgs, GENDER)
    doubled = make(templates=[TEMPLATE, TEMPLATE]).label(imgs, GENDER)
    for a, b in zip(single, doubled, strict=True):
        np.testing.assert_allclose(
            vector(a, GENDER.outcomes), vector(b, GENDER.outcomes), atol=1e-6
        )
    mixed = make(templates=[TEMPLATE, "a portrait of a {choice}."]).label(imgs, GENDER)
    assert not np.allclose(vector(mixed[0], GENDER.outcomes), vector(single[0], GENDER.outcomes))


def test_lower_temperature_sharpens_the_distribution() -> None:
    imgs = images(1)
    soft = make(temperature=1.0).label(imgs, GENDER)[0]
    sharp = make(temperature=0.01).label(imgs, GENDER)[0]
    assert max(sharp.probs.values()) > max(soft.probs.values())
    assert sharp.top == soft.top


def test_chunking_does_not_change_results() -> None:
    imgs = images(5)
    whole = make(batch_size=16).label(imgs, GENDER)
    chunked = make(batch_size=2).label(imgs, GENDER)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(
            vector(a, GENDER.outcomes), vector(b, GENDER.outcomes), atol=1e-5
        )


def test_text_embeddings_are_cached_per_question() -> None:
    lab = make()
    lab.label(images(1), GENDER)
    lab.label(images(2, seed=1), LabelQuestion("Other wording?", ("man", "woman"), "person"))
    assert len(lab._text_cache) == 1
    lab.label(images(1), LabelQuestion("Age?", ("young", "old"), "person"))
    assert len(lab._text_cache) == 2


def test_prompts_fill_fields_and_tidy_spaces() -> None:
    lab = make(templates=[TEMPLATE], unknown_prompts=["a photo with no {refer_to}."])
    assert lab._outcome_prompts(GENDER) == [
        ["a photo of a man person."],
        ["a photo of a woman person."],
        ["a photo with no person."],
    ]
    assert lab._outcome_prompts(LabelQuestion("q", ("cat", "dog")))[0] == ["a photo of a cat."]


def test_identity_names_model_prompts_and_changes_with_them() -> None:
    base = dict(make().identity())
    assert base["backend"] == "clip"
    assert base["model"] == TINY
    assert str(base["revision"]).startswith("local-sha256:")
    assert base["templates"] == [TEMPLATE]
    assert base["unknown_prompts"] == ["a photo with no {refer_to}."]
    for options in (
        {"templates": ["a {choice}"]},
        {"unknown_prompts": ["nothing"]},
        {"revision": "abc"},
        {"dtype": "bf16"},
        {"temperature": 0.5},
    ):
        assert dict(make(**options).identity()) != base, options
    assert dict(make(batch_size=3).identity()) == base


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"dtype": "int4"}, "unknown dtype"),
        ({"batch_size": 0}, "batch_size"),
        ({"templates": []}, "templates"),
        ({"templates": ["a photo of a person"]}, r"\{choice\}"),
        ({"templates": ["a {choice} {colour}"]}, "colour"),
        ({"unknown_prompts": ["no {choice}"]}, "choice"),
        ({"templates": "a {choice}"}, "list"),
        ({"temperature": 0.0}, "temperature"),
    ],
)
def test_invalid_options_are_config_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(**options)


def test_missing_local_folder_is_a_one_line_model_load_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-clip"
    lab = CLIPLabeler(model=str(missing), device="cpu")
    with pytest.raises(ModelLoadError) as info:
        lab.label(images(1), GENDER)
    assert "\n" not in str(info.value)
    assert str(missing) in str(info.value)


def test_model_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = CLIPLabeler._load

    def counting(self: CLIPLabeler) -> tuple[object, object, str]:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(CLIPLabeler, "_load", counting)
    lab = make()
    lab.identity()
    assert lab.label([], GENDER) == []
    assert calls == []
    lab.label(images(1), GENDER)
    lab.label(images(2), GENDER)
    assert calls == [1]


def test_non_rgb_images_are_converted() -> None:
    grey = images(1)[0].convert("L")
    rgba = images(1)[0].convert("RGBA")
    lab = make()
    a, b, c = lab.label([images(1)[0], rgba, grey], GENDER)
    np.testing.assert_allclose(vector(a, GENDER.outcomes), vector(b, GENDER.outcomes), atol=1e-5)
    assert sum(c.probs.values()) == pytest.approx(1.0)


def test_module_imports_without_torch() -> None:
    assert_needs_hf_extra_without(
        ["torch", "transformers"],
        "from fairframe.backends.clip_labeler import CLIPLabeler\n"
        "from fairframe.types import LabelQuestion\n"
        "from PIL import Image\n"
        "lab = CLIPLabeler(revision='abc')\n"
        "assert lab.identity()['backend'] == 'clip'\n",
        "lab.label([Image.new('RGB', (32, 32))], LabelQuestion('q', ('a', 'b')))",
    )

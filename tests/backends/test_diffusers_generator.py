"""DiffusersGenerator on the tiny random Stable Diffusion pipeline (``tiny://stable-diffusion``)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from fairframe.backends.diffusers_generator import DiffusersGenerator
from fairframe.errors import ConfigError, ModelLoadError
from fairframe.types import GenerationRequest
from tests.backends._helpers import assert_needs_hf_extra_without
from tests.contract.suites import GeneratorContract

pytestmark = pytest.mark.models

TINY = "tiny://stable-diffusion"


def make(**options: object) -> DiffusersGenerator:
    return DiffusersGenerator(model=TINY, device="cpu", **options)  # type: ignore[arg-type]


def request(
    prompt: str = "a photo of a doctor", seed: int = 0, **params: object
) -> GenerationRequest:
    defaults: dict[str, object] = {
        "height": 32,
        "width": 32,
        "num_inference_steps": 2,
        "guidance_scale": 2.0,
    }
    return GenerationRequest(prompt=prompt, seed=seed, **{**defaults, **params})  # type: ignore[arg-type]


def pixels(image: object) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


class TestDiffusersGeneratorContract(GeneratorContract):
    def make_generator(self) -> DiffusersGenerator:
        return make()


def test_seed_gives_same_image_alone_or_in_a_batch_of_three() -> None:
    reqs = [
        request(seed=s, prompt=p)
        for s, p in (
            (10, "a photo of a doctor"),
            (11, "a photo of a nurse"),
            (12, "a photo of a chef"),
        )
    ]
    gen = make(batch_size=4)
    batch = gen.generate(reqs)
    alone = gen.generate([reqs[1]])
    assert np.abs(pixels(batch[1].image) - pixels(alone[0].image)).max() <= 2
    # split into calls of two and one: same images
    split = make(batch_size=2).generate(reqs)
    for a, b in zip(batch, split, strict=True):
        assert np.abs(pixels(a.image) - pixels(b.image)).max() <= 2


def test_different_seeds_give_different_images() -> None:
    a, b = make().generate([request(seed=1), request(seed=2)])
    assert np.abs(pixels(a.image) - pixels(b.image)).max() > 10


def test_mixed_parameters_are_grouped_and_order_is_kept() -> None:
    reqs = [
        request(seed=0, height=32, width=32),
        request(seed=1, height=48, width=32, negative_prompt="a photo of a man"),
        request(seed=2, height=32, width=32),
        request(seed=3, height=48, width=32, negative_prompt="a photo of a man"),
    ]
    out = make(batch_size=4).generate(reqs)
    assert [o.request for o in out] == reqs
    assert [o.image.size for o in out] == [(32, 32), (32, 48), (32, 32), (32, 48)]
    same = make().generate([reqs[3]])[0]
    assert np.abs(pixels(out[3].image) - pixels(same.image)).max() <= 2


def test_none_parameters_use_pipeline_defaults() -> None:
    [out] = make().generate([GenerationRequest("a photo", seed=0, num_inference_steps=2)])
    assert out.image.mode == "RGB"
    assert out.image.size == (32, 32)  # the tiny unet's sample size times the VAE scale
    assert out.metadata == {"pipeline": "StableDiffusionPipeline", "scheduler": "DDIMScheduler"}


def test_identity_changes_with_dtype_revision_and_scheduler() -> None:
    base = dict(make().identity())
    assert base["backend"] == "diffusers"
    assert base["model"] == TINY
    assert str(base["revision"]).startswith("local-sha256:")
    assert base["dtype"] == "float32"
    assert dict(make(dtype="fp32").identity()) == base  # aliases name the same precision
    for options in (
        {"dtype": "bfloat16"},
        {"revision": "abc123"},
        {"scheduler": "DDPMScheduler"},
        {"pipeline": "StableDiffusionPipeline"},
    ):
        assert dict(make(**options).identity()) != base, options
    assert dict(make(batch_size=1).identity()) == base  # batching does not change images


def test_scheduler_is_swapped() -> None:
    [out] = make(scheduler="DDPMScheduler").generate([request()])
    assert out.metadata["scheduler"] == "DDPMScheduler"


def test_explicit_pipeline_class_and_bfloat16() -> None:
    gen = make(pipeline="StableDiffusionPipeline", dtype="bfloat16")
    [out] = gen.generate([request()])
    assert out.image.mode == "RGB"


def test_unknown_scheduler_or_pipeline_class_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="NoSuchScheduler"):
        make(scheduler="NoSuchScheduler").generate([request()])
    with pytest.raises(ConfigError, match="NoSuchPipeline"):
        make(pipeline="NoSuchPipeline").generate([request()])


def test_missing_local_folder_is_a_one_line_model_load_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    gen = DiffusersGenerator(model=str(missing), device="cpu")  # cheap: nothing loads yet
    with pytest.raises(ModelLoadError) as info:
        gen.generate([request()])
    message = str(info.value)
    assert "\n" not in message
    assert str(missing) in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="model_index.json"):
        DiffusersGenerator(model=str(empty), device="cpu").generate([request()])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"dtype": "float8"}, "unknown dtype"),
        ({"batch_size": 0}, "batch_size"),
        ({"pipeline": "not a class"}, "pipeline"),
        ({"scheduler": "euler-a"}, "scheduler"),
    ],
)
def test_invalid_options_are_config_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(**options)


def test_half_precision_on_cpu_is_refused_on_load() -> None:
    with pytest.raises(ConfigError, match="float16"):
        make(dtype="fp16").generate([request()])


def test_model_loads_once_lazily_and_thread_safely(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = DiffusersGenerator._load

    def counting(self: DiffusersGenerator) -> object:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(DiffusersGenerator, "_load", counting)
    gen = make()
    gen.identity()
    assert calls == []  # constructing and describing load nothing
    assert gen.generate([]) == []
    assert calls == []
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            gen.generate([request(seed=seed)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    gen.generate([request(seed=5)])
    assert calls == [1]


def test_module_imports_without_torch_and_names_the_extra() -> None:
    assert_needs_hf_extra_without(
        ["torch", "diffusers"],
        "from fairframe.backends.diffusers_generator import DiffusersGenerator\n"
        "from fairframe.types import GenerationRequest\n"
        "gen = DiffusersGenerator(model='some/model', revision='abc')\n"
        "assert gen.identity()['backend'] == 'diffusers'\n",
        "gen.generate([GenerationRequest('x', seed=0)])",
    )


# -- safety guidance (Safe Latent Diffusion) ------------------------------------------------------


def test_sld_presets_are_diffusers_safety_config() -> None:
    from diffusers.pipelines.deprecated.stable_diffusion_safe import SafetyConfig

    from fairframe.backends.diffusers_generator import SLD_PRESETS
    from fairframe.types import SAFETY_LEVELS

    assert tuple(SLD_PRESETS) == SAFETY_LEVELS
    for level in SAFETY_LEVELS:
        assert dict(SLD_PRESETS[level]) == getattr(SafetyConfig, level.upper()), level


def test_request_safety_is_validated_normalised_and_keyed_only_when_set() -> None:
    assert GenerationRequest("x", seed=0, safety="MAX").safety == "max"
    with pytest.raises(ConfigError, match="weak, medium, strong, max"):
        GenerationRequest("x", seed=0, safety="extreme")
    assert "safety" not in GenerationRequest("x", seed=0).params()  # old cache keys unchanged
    assert GenerationRequest("x", seed=0, safety="weak").params()["safety"] == "weak"


def test_safety_request_changes_the_image_and_is_recorded() -> None:
    gen = make()
    assert gen.supports_safety  # before loading: "auto" may load a Stable Diffusion pipeline
    levels = (None, "weak", "medium", "strong", "max")
    outs = gen.generate(
        [request(seed=3, num_inference_steps=12, guidance_scale=7.5, safety=s) for s in levels]
    )
    assert gen.supports_safety  # exact now: the tiny model is a StableDiffusionPipeline
    plain, strong, maximum = outs[0], outs[3], outs[4]
    assert plain.metadata == {"pipeline": "StableDiffusionPipeline", "scheduler": "DDIMScheduler"}
    assert strong.metadata["safety"] == "strong"
    assert strong.metadata["safety_pipeline"] == "StableDiffusionPipelineSafe"
    assert strong.metadata["sld"]["sld_guidance_scale"] == 2000  # type: ignore[index]
    assert strong.metadata["sld_active_steps"] == 5  # 12 steps - warm-up 7
    assert maximum.metadata["sld_active_steps"] == 12
    assert str(strong.metadata["safety_concept"]).startswith("an image showing hate")
    # stronger presets move the image further from the plain one (same seed)
    effect = [float(np.abs(pixels(o.image) - pixels(plain.image)).mean()) for o in outs[1:]]
    assert effect[0] <= effect[1] <= effect[2] < effect[3]
    assert effect[2] > 0.0
    assert np.abs(pixels(maximum.image) - pixels(plain.image)).max() > 10
    # the plain image does not depend on safety requests batched with it
    [again] = gen.generate([request(seed=3, num_inference_steps=12, guidance_scale=7.5)])
    assert np.abs(pixels(again.image) - pixels(plain.image)).max() <= 2


def test_safety_within_warmup_only_builds_momentum_and_leaves_the_image() -> None:
    gen = make()
    plain, medium = gen.generate(
        [request(seed=4, num_inference_steps=4), request(seed=4, num_inference_steps=4,
                                                         safety="medium")]
    )
    assert medium.metadata["sld_active_steps"] == 0  # warm-up 10 >= 4 steps
    assert np.abs(pixels(medium.image) - pixels(plain.image)).max() <= 2


def test_custom_safety_concept_is_recorded_and_steers() -> None:
    default = make().generate([request(seed=5, safety="max")])[0]
    gen = make(safety_concept="a photo of a red car")
    assert gen.identity()["safety_concept"] == "a photo of a red car"
    assert "safety_concept" not in make().identity()
    custom = gen.generate([request(seed=5, safety="max")])[0]
    assert custom.metadata["safety_concept"] == "a photo of a red car"
    assert np.abs(pixels(custom.image) - pixels(default.image)).max() > 10
    with pytest.raises(ConfigError, match="safety_concept"):
        make(safety_concept="  ")


def test_safety_without_classifier_free_guidance_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="guidance_scale > 1"):
        make().generate([request(safety="max", guidance_scale=1.0)])


def test_safety_on_a_pipeline_that_cannot_do_it_is_a_config_error() -> None:
    from fairframe.backends._hf import LazyModel

    class FluxPipeline:  # stands in for any pipeline that is not Stable Diffusion 1.x/2.x
        scheduler = object()

    assert not make(pipeline="StableDiffusionXLPipeline").supports_safety
    gen = make()
    gen._pipe = LazyModel(FluxPipeline)
    assert gen.supports_safety  # not loaded yet: "auto" might be Stable Diffusion
    with pytest.raises(ConfigError, match="StableDiffusionPipeline.*loaded FluxPipeline"):
        gen.generate([request(safety="weak")])
    assert not gen.supports_safety  # loaded now: exact

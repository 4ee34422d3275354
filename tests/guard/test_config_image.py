"""The guard config's image, transform, generate and provenance sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairframe.errors import ConfigError, InputDataError, UnknownComponentError
from fairframe.guard.config import GuardConfig, load_guard_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guard.toml"
    path.write_text(text)
    return path


def test_image_stages_are_built_from_the_config(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    cfg = load_guard_config(write(tmp_path, (
        "[image.nudenet]\nmin_score = 0.3\n"
        "[[image.hf_classifiers]]\nmodel = 'tiny://image-classifier'\n"
        "labels = { nudity = 'nudity', violence = 'violence', safe = 'none' }\n"
    )))
    stages, required = cfg.build_image_stages()
    assert [s.name for s in stages] == ["nudenet", "hf_image_classifier"]
    assert required == {"nudenet"}  # HF classifiers are optional by default
    guard = cfg.build_image_guard()
    assert guard.stage_names == ("nudenet", "hf_image_classifier")


def test_image_stage_options_are_checked(tmp_path: Path) -> None:
    cfg = load_guard_config(write(tmp_path, "[image.nudenet]\nbogus = 1\n"))
    with pytest.raises(ConfigError, match=r"image\.nudenet.*bogus.*allowed"):
        cfg.build_image_stages()
    with pytest.raises(ConfigError, match="imagez: unknown key"):
        load_guard_config(write(tmp_path, "[imagez]\n"))


def test_disabled_nudenet_and_an_optional_judge(tmp_path: Path) -> None:
    cfg = load_guard_config(write(tmp_path, (
        "[image.nudenet]\nenabled = false\n"
        "[image.vlm_judge]\nenabled = true\nbase_url = 'http://127.0.0.1:9/v1'\nmodel = 'm'\n"
    )))
    stages, required = cfg.build_image_stages()
    assert [s.name for s in stages] == ["vlm_judge"]
    assert required == set()


def test_provenance_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    from fairframe.provenance.watermark import KeyedWatermark, generate_key, save_key

    save_key(generate_key(), tmp_path / "wm.key")
    (tmp_path / "root.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    cfg = load_guard_config(write(tmp_path, (
        "[provenance]\nwatermark_key_file = 'wm.key'\ntrust_anchors = 'root.pem'\n"
    )))
    assert cfg.provenance.watermark_key_file == tmp_path / "wm.key"
    assert isinstance(cfg.build_watermark(), KeyedWatermark)
    assert cfg.trust_anchors_pem() == b"-----BEGIN CERTIFICATE-----\n"
    assert GuardConfig().build_watermark() is None
    assert GuardConfig().trust_anchors_pem() is None


def test_provenance_errors_name_the_fix(tmp_path: Path) -> None:
    cfg = load_guard_config(write(tmp_path, "[provenance]\nwatermark_key_file = 'missing.key'\n"))
    with pytest.raises(InputDataError, match="keygen"):
        cfg.build_watermark()
    cfg = load_guard_config(write(tmp_path, "[provenance]\nc2pa_cert_chain = 'chain.pem'\n"))
    with pytest.raises(ConfigError, match="both c2pa_cert_chain and c2pa_private_key"):
        cfg.build_provenance()
    cfg = load_guard_config(write(tmp_path, "[provenance]\ntrust_anchors = 'nope.pem'\n"))
    with pytest.raises(ConfigError, match="trust_anchors: cannot read"):
        cfg.trust_anchors_pem()


def test_guarded_generator_from_the_config(tmp_path: Path) -> None:
    pytest.importorskip("nudenet")
    assert GuardConfig().build_guarded_generator() is None
    cfg = load_guard_config(write(tmp_path, (
        "[stages.embedding]\nenabled = false\n"
        "[generate]\nbackend = 'fake'\noptions = { size = 160 }\nbudget = 2\nwidth = 128\n"
        "height = 128\n"
    )))
    gen = cfg.build_guarded_generator()
    out = gen.generate("a lighthouse at dawn", seed=1)
    assert out.image is not None
    assert out.decision.attempts[0]["seed"] == 1
    from fairframe.images import load_image

    assert load_image(out.image).size == (128, 128)  # [generate] width/height are the defaults
    assert gen.provenance.model_name == "fake"


def test_generate_section_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="budget"):
        load_guard_config(write(tmp_path, "[generate]\nbackend = 'fake'\nbudget = 0\n"))
    cfg = load_guard_config(write(tmp_path, "[generate]\nbackend = 'nope'\n"))
    with pytest.raises(UnknownComponentError, match="nope.*available: diffusers"):
        cfg.build_generator()

"""HFImageClassifier on the tiny random ViT (``tiny://image-classifier``), loaded for real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fairframe.errors import ConfigError, ModelLoadError
from fairframe.guard.image.hf_image_classifier import NEUTRAL_LABELS, HFImageClassifier
from fairframe.guard.image.stage import ImageStage
from tests.backends._helpers import assert_needs_hf_extra_without
from tests.guard.image._helpers import noise

TINY = "tiny://image-classifier"
IMAGES = [noise(0), noise(1, (64, 30)), noise(2, (20, 20)), Image.new("RGB", (40, 40), (200, 0, 0))]


def make(**options: Any) -> HFImageClassifier:
    return HFImageClassifier(**{"model": TINY, "device": "cpu", **options})


@pytest.fixture(scope="module")
def folder() -> Path:
    pytest.importorskip("transformers")
    from fairframe.testing.tiny import tiny_model_path

    return tiny_model_path("image-classifier")


def reference(folder: Path, images: list[Image.Image], *, sigmoid: bool) -> list[list[float]]:
    """Probabilities computed directly with transformers, one image at a time."""
    import torch
    import transformers

    proc = transformers.ViTImageProcessorPil.from_pretrained(folder)
    model = transformers.ViTForImageClassification.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for img in images:
            logits = model(**proc(images=[img], return_tensors="pt")).logits[0]
            out.append((logits.sigmoid() if sigmoid else logits.softmax(-1)).tolist())
    return out


# --------------------------------------------------------------------------- cheap (no torch)


def test_constructor_is_cheap_and_checks_options() -> None:
    clf = HFImageClassifier(model="org/not-downloaded", labels={"NSFW": "sexual", "normal": None})
    assert isinstance(clf, ImageStage) and clf.name == "hf_image_classifier"
    assert dict(clf.labels or {}) == {"nsfw": "sexual", "normal": None}
    with pytest.raises(ConfigError, match=r"labels\['x'\]: unknown guard category 'porn'"):
        HFImageClassifier(model="m", labels={"x": "porn"})
    with pytest.raises(ConfigError, match="non-empty mapping"):
        HFImageClassifier(model="m", labels={})
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        HFImageClassifier(model="m", batch_size=0)
    with pytest.raises(ConfigError, match="unknown dtype"):
        HFImageClassifier(model="m", dtype="int4")
    with pytest.raises(ConfigError, match="finding_threshold"):
        HFImageClassifier(model="m", finding_threshold=2)
    assert "safe" in NEUTRAL_LABELS and "normal" in NEUTRAL_LABELS


def test_missing_torch_names_the_hf_extra() -> None:
    assert_needs_hf_extra_without(
        ["torch", "transformers"],
        "from PIL import Image\n"
        "from fairframe.guard.image import HFImageClassifier\n"
        "clf = HFImageClassifier(model='tiny://image-classifier')\n",
        "clf.check_images([Image.new('RGB', (16, 16))], [None])",
    )


# --------------------------------------------------------------------------- tiny model


@pytest.mark.models
def test_default_mapping_scores_match_transformers(folder: Path) -> None:
    clf = make()
    results = clf.check_images(IMAGES, [None] * len(IMAGES))
    ref = reference(folder, IMAGES, sigmoid=False)
    for result, probs in zip(results, ref, strict=True):
        assert set(result.scores) == {"nudity", "violence"}  # "safe" is neutral
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)
        assert result.scores["nudity"] == pytest.approx(probs[1], abs=1e-5)
        assert result.scores["violence"] == pytest.approx(probs[2], abs=1e-5)
    assert len({round(r.scores["violence"], 6) for r in results}) > 1  # the images differ
    (probs,) = clf.label_probabilities(IMAGES[:1])
    assert list(probs) == ["safe", "nudity", "violence"]
    assert clf.check_images([], []) == []


@pytest.mark.models
def test_explicit_labels_take_the_max_and_ignore_null(folder: Path) -> None:
    ref = reference(folder, IMAGES, sigmoid=False)
    both = make(labels={"nudity": "sexual", "Violence": "sexual", "safe": None})
    for result, probs in zip(both.check_images(IMAGES, [None] * 4), ref, strict=True):
        assert set(result.scores) == {"sexual"}
        assert result.scores["sexual"] == pytest.approx(max(probs[1], probs[2]), abs=1e-5)


@pytest.mark.models
def test_folder_batch_and_local_files_only(folder: Path) -> None:
    clf = make(model=str(folder), batch_size=3, local_files_only=True)
    batched = clf.check_images(IMAGES, [None] * 4)
    single = [clf.check_images([img], [None])[0] for img in IMAGES]
    for a, b in zip(batched, single, strict=True):
        assert dict(a.scores) == pytest.approx(dict(b.scores), abs=1e-5)
    for a, b in zip(make().check_images(IMAGES, [None] * 4), batched, strict=True):
        assert dict(a.scores) == pytest.approx(dict(b.scores))  # tiny:// is its folder


@pytest.mark.models
def test_multi_label_uses_sigmoid(folder: Path, tmp_path: Path) -> None:
    multi = tmp_path / "multi"
    shutil.copytree(folder, multi)
    config = json.loads((multi / "config.json").read_text())
    config["problem_type"] = "multi_label_classification"
    (multi / "config.json").write_text(json.dumps(config))
    ref = reference(folder, IMAGES[:2], sigmoid=True)
    for clf in (make(model=str(multi)), make(multi_label=True)):
        for result, probs in zip(clf.check_images(IMAGES[:2], [None, None]), ref, strict=True):
            assert result.scores["nudity"] == pytest.approx(probs[1], abs=1e-5)


@pytest.mark.models
def test_findings_are_whole_image() -> None:
    (result,) = make(finding_threshold=0.0, name="nsfw-vit").check_images(IMAGES[:1], [None])
    assert {f.category for f in result.findings} == {"nudity", "violence"}
    for f in result.findings:
        assert f.stage == "nsfw-vit" and f.score == result.scores[f.category]
        assert f.evidence.box is None and f.evidence.span is None
        assert f.evidence.label == f.category  # the model label behind the score
    assert make(finding_threshold=1.0).check_images(IMAGES[:1], [None])[0].findings == ()


@pytest.mark.models
def test_labels_that_do_not_fit_the_model(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not labels of the model.*'safe', 'nudity', 'violence'"):
        make(labels={"nsfw": "sexual"}).check_images(IMAGES[:1], [None])
    odd = tmp_path / "odd"
    shutil.copytree(folder, odd)
    config = json.loads((odd / "config.json").read_text())
    config["id2label"] = {"0": "normal", "1": "nsfw", "2": "gore"}
    config["label2id"] = {"normal": 0, "nsfw": 1, "gore": 2}
    (odd / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"labels \['nsfw', 'gore'\] are not policy categories"):
        make(model=str(odd)).check_images(IMAGES[:1], [None])
    fixed = make(model=str(odd), labels={"nsfw": "sexual", "gore": "violence", "normal": None})
    assert set(fixed.check_images(IMAGES[:1], [None])[0].scores) == {"sexual", "violence"}
    with pytest.raises(ConfigError, match="none of its labels"):
        make(model=str(odd), labels={"normal": None}).check_images(IMAGES[:1], [None])


@pytest.mark.models
def test_identity() -> None:
    ident = make(labels={"nudity": "nudity"}).identity()
    assert ident["backend"] == "hf-image-classifier" and ident["model"] == TINY
    assert str(ident["revision"]).startswith("local-sha256:")
    assert ident["labels"] == {"nudity": "nudity"}


def test_missing_model_is_a_model_load_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    clf = make(model=str(tmp_path / "nope" / "model"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        clf.check_images(IMAGES[:1], [None])


def test_the_string_none_ignores_a_label_like_null() -> None:
    from fairframe.guard.image.hf_image_classifier import HFImageClassifier

    a = HFImageClassifier(model="tiny://image-classifier", labels={"nudity": "nudity",
                                                                   "safe": "none"})
    b = HFImageClassifier(model="tiny://image-classifier", labels={"nudity": "nudity",
                                                                   "safe": None})
    assert a.labels == b.labels
    assert a.labels is not None and a.labels["safe"] is None

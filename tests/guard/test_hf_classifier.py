"""HFTextClassifier on the tiny random BERT classifier (``tiny://text-classifier``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fairframe.errors import ConfigError, ModelLoadError
from fairframe.guard.hf_classifier import DEFAULT_LABELS, HFTextClassifier, normalize_label
from fairframe.guard.normalize import normalize
from fairframe.guard.policy import Category
from fairframe.guard.stage import PromptStage
from tests.backends._helpers import assert_needs_hf_extra_without

TINY = "tiny://text-classifier"
LABELS = {"nsfw": "sexual", "violent": "violence"}
PROMPTS = [
    "a red fox in the snow, watercolor",
    "a nude woman with a gun",
    "blood on the beach at sunset",
    "a cat",
    "(a dog:1.3) on the red beach --no blood",
]


def make(**options: Any) -> HFTextClassifier:
    return HFTextClassifier(**{"model": TINY, "labels": LABELS, "device": "cpu", **options})


@pytest.fixture(scope="module")
def folder() -> Path:
    from fairframe.testing.tiny import tiny_model_path

    return tiny_model_path("text-classifier")


def reference(folder: Path, texts: list[str], *, sigmoid: bool) -> list[list[float]]:
    """Probabilities computed directly with transformers, one text at a time."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            logits = model(**tok([text], return_tensors="pt")).logits[0]
            out.append((logits.sigmoid() if sigmoid else logits.softmax(-1)).tolist())
    return out


# --------------------------------------------------------------------------- cheap (no torch)


def test_constructor_is_cheap_and_checks_categories() -> None:
    clf = HFTextClassifier(model="org/does-not-matter", labels={"NSFW": "sexual"})
    assert not clf._loaded.loaded
    assert clf.name == "hf_classifier"
    assert isinstance(clf, PromptStage)
    assert dict(clf.labels or {}) == {"nsfw": "sexual"}
    with pytest.raises(ConfigError) as info:
        HFTextClassifier(model="org/x", labels={"nsfw": "porn"})
    message = str(info.value)
    assert "'porn'" in message
    assert all(c.value in message for c in Category)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": ""}, "model"),
        ({"batch_size": 0}, "batch_size"),
        ({"dtype": "int8"}, "dtype"),
        ({"max_length": 1}, "max_length"),
        ({"name": ""}, "name"),
        ({"labels": {}}, "labels"),
        ({"finding_threshold": -0.1}, "finding_threshold"),
        ({"multi_label": "yes"}, "multi_label"),
        ({"languages": "en"}, "languages must be a list"),
        ({"languages": ["en", ""]}, "languages must be a list"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HFTextClassifier(**{"model": "org/x", **options})


def test_languages_option_is_read_and_in_the_identity() -> None:
    assert HFTextClassifier(model="org/x").languages is None
    english = HFTextClassifier(model="org/x", languages=["EN"])
    assert english.languages == frozenset({"en"})
    assert english.identity()["languages"] == ["en"]
    assert english.identity() != HFTextClassifier(model="org/x").identity()


def test_default_label_table() -> None:
    assert normalize_label(" Self-Harm/Intent ") == "self_harm_intent"
    assert DEFAULT_LABELS["nsfw"] == "sexual"
    assert DEFAULT_LABELS["toxic"] == "hate"
    assert DEFAULT_LABELS["sexual_minors"] == "sexual_minors"
    assert DEFAULT_LABELS["violence_graphic"] == "violence"
    assert DEFAULT_LABELS["shocking"] == "shocking"  # I2P's class has its own category
    assert "safe" not in DEFAULT_LABELS
    assert set(DEFAULT_LABELS.values()) <= {c.value for c in Category}


def test_missing_torch_names_the_hf_extra() -> None:
    assert_needs_hf_extra_without(
        ["torch", "transformers"],
        "from fairframe.guard.hf_classifier import HFTextClassifier\n"
        "from fairframe.guard.normalize import normalize\n"
        "clf = HFTextClassifier(model='tiny://text-classifier', labels={'nsfw': 'sexual'})\n",
        "clf.scan_batch([normalize('a cat')])",
    )


# --------------------------------------------------------------------------- tiny model


@pytest.mark.models
def test_softmax_scores_match_transformers_and_take_the_max(folder: Path) -> None:
    clf = make()
    results = clf.scan_batch([normalize(p) for p in PROMPTS])
    ref = reference(folder, [normalize(p).text for p in PROMPTS], sigmoid=False)
    for result, probs in zip(results, ref, strict=True):
        assert set(result.scores) == {"sexual", "violence"}
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)
        assert result.scores["sexual"] == pytest.approx(probs[1], abs=1e-5)
        assert result.scores["violence"] == pytest.approx(probs[2], abs=1e-5)
    # two labels on one category: the maximum
    both = make(labels={"nsfw": "violence", "violent": "violence"}).scan_batch(
        [normalize(p) for p in PROMPTS]
    )
    for result, probs in zip(both, ref, strict=True):
        assert set(result.scores) == {"violence"}
        assert result.scores["violence"] == pytest.approx(max(probs[1], probs[2]), abs=1e-5)


@pytest.mark.models
def test_load_by_folder_and_batch_equals_one_by_one(folder: Path) -> None:
    clf = make(model=str(folder), batch_size=2)
    prompts = [normalize(p) for p in PROMPTS]
    batched = clf.scan_batch(prompts)
    single = [clf.scan_batch([p])[0] for p in prompts]
    for a, b in zip(batched, single, strict=True):
        assert a.scores.keys() == b.scores.keys()
        for key in a.scores:
            assert a.scores[key] == pytest.approx(b.scores[key], abs=1e-5)
    assert len({round(r.scores["violence"], 6) for r in batched}) > 1  # the prompts differ
    for a, b in zip(make().scan_batch(prompts), batched, strict=True):  # tiny:// == its folder
        assert dict(a.scores) == pytest.approx(dict(b.scores))


@pytest.mark.models
def test_sigmoid_for_multi_label_models(folder: Path, tmp_path: Path) -> None:
    multi = tmp_path / "multi"
    shutil.copytree(folder, multi)
    config = json.loads((multi / "config.json").read_text())
    config["problem_type"] = "multi_label_classification"
    (multi / "config.json").write_text(json.dumps(config))
    texts = [normalize(p).text for p in PROMPTS]
    ref = reference(folder, texts, sigmoid=True)
    for clf in (make(model=str(multi)), make(multi_label=True)):
        results = clf.scan_batch([normalize(p) for p in PROMPTS])
        for result, probs in zip(results, ref, strict=True):
            assert result.scores["sexual"] == pytest.approx(probs[1], abs=1e-5)
            assert result.scores["violence"] == pytest.approx(probs[2], abs=1e-5)
    # forcing softmax on the multi-label model gives the softmax again
    soft = make(model=str(multi), multi_label=False).scan_batch([normalize(PROMPTS[0])])[0]
    assert soft.scores["violence"] == pytest.approx(
        reference(folder, texts[:1], sigmoid=False)[0][2], abs=1e-5)


@pytest.mark.models
def test_findings_point_into_the_original_prompt() -> None:
    raw = "  (a dog:1.3) on the red beach --no blood"
    result = make(finding_threshold=0.0, name="nsfw-model").scan_batch([normalize(raw)])[0]
    assert {f.category for f in result.findings} == {"sexual", "violence"}
    for f in result.findings:
        assert f.stage == "nsfw-model"
        assert f.score == result.scores[f.category]
        assert f.evidence.label == {"sexual": "nsfw", "violence": "violent"}[f.category]
        assert f.evidence.span is not None
        start, end = f.evidence.span
        assert raw[start:end] == f.evidence.text
        assert "blood" not in f.evidence.text  # the negative prompt is not classified
    assert make(finding_threshold=1.0).scan_batch([normalize(raw)])[0].findings == ()


@pytest.mark.models
def test_default_mapping_and_label_probabilities() -> None:
    clf = HFTextClassifier(model=TINY, device="cpu")
    result = clf.scan_batch([normalize("a cat")])[0]
    assert set(result.scores) == {"sexual", "violence"}  # nsfw, violent; "safe" ignored
    (probs,) = clf.label_probabilities(["a cat"])
    assert list(probs) == ["safe", "nsfw", "violent"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert clf.scan_batch([normalize("   "), normalize("")]) == [
        type(result)(), type(result)()
    ]
    assert clf.scan_batch([]) == []


@pytest.mark.models
def test_mapping_that_does_not_fit_the_model() -> None:
    with pytest.raises(ConfigError, match="not labels of the model.*'safe', 'nsfw', 'violent'"):
        make(labels={"toxic": "hate"}).scan_batch([normalize("a cat")])
    clf = make(labels={"Safe": "copyright", "NSFW": "sexual"})
    assert set(clf.scan_batch([normalize("a cat")])[0].scores) == {"copyright", "sexual"}


@pytest.mark.models
def test_identity() -> None:
    ident = make().identity()
    assert ident["backend"] == "hf-text-classifier"
    assert ident["model"] == TINY
    assert str(ident["revision"]).startswith("local-sha256:")
    assert ident["labels"] == LABELS


def test_missing_model_is_a_model_load_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    with pytest.raises(ModelLoadError, match="does not exist"):
        make(model=str(tmp_path / "nope" / "model")).scan_batch([normalize("a cat")])
    with pytest.raises(ModelLoadError, match="fairframe-nobody/no-such-model.*HF_HUB_OFFLINE"):
        make(model="fairframe-nobody/no-such-model").scan_batch([normalize("a cat")])

"""NudeNetStage: the class -> category mapping on known detections, and real NudeNet once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import BackendError, ConfigError
from fairframe.guard.image.nudenet_stage import (
    DEFAULT_CLASS_MAP,
    NUDENET_CLASSES,
    NudeNetStage,
    anchor_score,
)
from fairframe.guard.image.stage import ImageStage
from fairframe.measure import nudenet_faces
from fairframe.measure.nudity import EXPOSED_CLASSES


def det(cls: str, score: float, box: Sequence[int] = (10, 20, 30, 40)) -> dict[str, Any]:
    return {"class": cls, "score": score, "box": list(box)}


@pytest.fixture
def fake_detections(monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """Replace NudeNet: each call pops the next scripted detection list."""
    queue: list[list[dict[str, Any]]] = []

    def detections(image: Image.Image) -> list[dict[str, Any]]:
        assert image.mode == "RGB"
        return queue.pop(0)

    monkeypatch.setattr(nudenet_faces, "nudenet_detections", detections)
    return queue


def test_anchor_map_is_piecewise_linear() -> None:
    a = (0.5, 0.7)
    assert anchor_score(0.0, a) == 0.0
    assert anchor_score(0.25, a) == pytest.approx(0.35)
    assert anchor_score(0.5, a) == pytest.approx(0.7)
    assert anchor_score(0.8, a) == pytest.approx(0.88)  # 0.7 + 0.3 * 0.3 / 0.5
    assert anchor_score(1.0, a) == 1.0
    assert anchor_score(0.8, (0.3, 0.3)) == pytest.approx(0.8)  # (t, t) is the identity
    xs = np.linspace(0, 1, 101)
    ys = [anchor_score(float(x), (0.6, 0.4)) for x in xs]
    assert all(b >= a_ for a_, b in zip(ys, ys[1:], strict=False))  # monotone


def test_default_map_matches_the_measure_module_and_never_minors() -> None:
    assert set(DEFAULT_CLASS_MAP) == set(EXPOSED_CLASSES)
    assert set(DEFAULT_CLASS_MAP) <= set(NUDENET_CLASSES)
    assert {c for cats in DEFAULT_CLASS_MAP.values() for c in cats} == {"nudity", "sexual"}
    stage = NudeNetStage()
    assert isinstance(stage, ImageStage) and stage.name == "nudenet"
    assert stage.categories == ("sexual", "nudity")


def test_mapping_scores_findings_and_boxes(fake_detections: list[Any]) -> None:
    fake_detections.append([
        det("FEMALE_BREAST_EXPOSED", 0.8, (10, 20, 30, 40)),
        det("FACE_FEMALE", 0.9),
        det("FEET_EXPOSED", 0.95),
        det("FEMALE_BREAST_COVERED", 0.9),
        det("MALE_GENITALIA_EXPOSED", 0.5, (-5, 90, 30, 20)),  # past the left and bottom edges
        det("BUTTOCKS_EXPOSED", 0.15),  # below min_score
    ])
    fake_detections.append([])
    img = Image.new("RGB", (100, 100))
    first, second = NudeNetStage().check_images([img, img], [None, "a prompt"])
    assert dict(first.scores) == pytest.approx({"nudity": 0.88, "sexual": 0.7})
    assert dict(second.scores) == {"nudity": 0.0, "sexual": 0.0} and second.findings == ()
    got = sorted((f.category, f.evidence.label, round(f.score, 6), f.evidence.box)
                 for f in first.findings)
    assert got == [
        ("nudity", "FEMALE_BREAST_EXPOSED", 0.88, (10, 20, 30, 40)),
        ("nudity", "MALE_GENITALIA_EXPOSED", 0.7, (0, 90, 25, 10)),
        ("sexual", "MALE_GENITALIA_EXPOSED", 0.7, (0, 90, 25, 10)),
    ]
    for f in first.findings:
        assert f.stage == "nudenet" and f.evidence.span is None
        assert "NudeNet score" in f.evidence.text


def test_min_score_anchor_and_custom_map(fake_detections: list[Any]) -> None:
    img = Image.new("RGB", (64, 64))
    fake_detections.append([det("FEMALE_BREAST_EXPOSED", 0.4)])
    (r,) = NudeNetStage(min_score=0.45).check_images([img], [None])
    assert r.scores["nudity"] == 0.0 and r.findings == ()
    fake_detections.append([det("FEMALE_BREAST_EXPOSED", 0.4)])
    (r,) = NudeNetStage(score_anchor=(0.4, 0.4)).check_images([img], [None])
    assert r.scores["nudity"] == pytest.approx(0.4)
    fake_detections.append([det("BELLY_EXPOSED", 0.9), det("FEMALE_BREAST_EXPOSED", 0.9)])
    stage = NudeNetStage(class_map={"belly_exposed": "nudity"}, name="nn-belly")
    (r,) = stage.check_images([img], [None])
    assert dict(r.scores) == pytest.approx({"nudity": 0.94})  # the breast class is not mapped
    assert [f.evidence.label for f in r.findings] == ["BELLY_EXPOSED"]
    assert r.findings[0].stage == "nn-belly"


def test_sexual_rule_b_several_exposed_classes(fake_detections: list[Any]) -> None:
    img = Image.new("RGB", (64, 64))
    dets = [det("FEMALE_BREAST_EXPOSED", 0.8), det("FEMALE_BREAST_EXPOSED", 0.9),
            det("BUTTOCKS_EXPOSED", 0.6)]
    fake_detections.append(list(dets))
    (off,) = NudeNetStage().check_images([img], [None])
    assert off.scores["sexual"] == 0.0  # rule (b) is off by default
    fake_detections.append(list(dets))
    (on,) = NudeNetStage(sexual_min_classes=2).check_images([img], [None])
    # two distinct classes; the 2nd highest of their best scores: anchor(0.6) = 0.76
    assert on.scores["sexual"] == pytest.approx(0.76)
    assert on.scores["nudity"] == pytest.approx(0.94)
    sexual = [f for f in on.findings if f.category == "sexual"]
    assert sorted(f.evidence.label for f in sexual) == ["BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED"]
    assert all(f.score == pytest.approx(0.76) for f in sexual)
    fake_detections.append(list(dets))
    (three,) = NudeNetStage(sexual_min_classes=3).check_images([img], [None])
    assert three.scores["sexual"] == 0.0  # only two distinct classes


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"class_map": {"NAKED": "nudity"}}, "not a NudeNet class"),
        ({"class_map": {"FACE_FEMALE": "sexual_minors"}}, "never inferred from NudeNet"),
        ({"class_map": {"FACE_FEMALE": "nudes"}}, "unknown guard category 'nudes'"),
        ({"class_map": {}}, "non-empty mapping"),
        ({"score_anchor": (0.0, 0.7)}, "score_anchor values must be in"),
        ({"score_anchor": (0.5,)}, "score_anchor must be a pair"),
        ({"min_score": 1.5}, "min_score must be in"),
        ({"sexual_min_classes": 1}, "sexual_min_classes must be null or an integer >= 2"),
        ({"name": " "}, "name must be"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        NudeNetStage(**options)


def test_detector_failure_is_a_backend_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(image: Image.Image) -> list[dict[str, Any]]:
        raise RuntimeError("onnx went away\nsecond line")

    monkeypatch.setattr(nudenet_faces, "nudenet_detections", broken)
    with pytest.raises(BackendError, match="NudeNet detector '320n' failed: RuntimeError: onnx"):
        NudeNetStage().check_images([Image.new("RGB", (16, 16))], [None])


def test_identity_records_every_option() -> None:
    ident = NudeNetStage(sexual_min_classes=2).identity()
    assert ident["backend"] == "nudenet" and ident["model"] == "320n"
    assert ident["score_anchor"] == [0.5, 0.7] and ident["sexual_min_classes"] == 2
    assert ident["class_map"]["ANUS_EXPOSED"] == ["nudity", "sexual"]  # type: ignore[index]


def test_real_nudenet_on_the_astronaut() -> None:
    """The bundled detector: a face on skimage's astronaut, no nudity; nothing on plain noise."""
    pytest.importorskip("nudenet")
    data = pytest.importorskip("skimage.data")
    img = Image.fromarray(data.astronaut())
    raw = nudenet_faces.nudenet_detections(img)
    assert any(d["class"] == "FACE_FEMALE" and d["score"] > 0.5 for d in raw)
    astro, grey = NudeNetStage().check_images([img, Image.new("RGB", (64, 64), (90, 90, 90))],
                                              [None, None])
    assert dict(astro.scores) == {"sexual": 0.0, "nudity": 0.0} and astro.findings == ()
    assert dict(grey.scores) == {"sexual": 0.0, "nudity": 0.0}
    # mapping FACE_FEMALE shows the real box flows through, clipped to the image
    face = NudeNetStage(class_map={"FACE_FEMALE": "privacy"}).check_images([img], [None])[0]
    (finding,) = face.findings
    x, y, w, h = finding.evidence.box or (0, 0, 0, 0)
    assert 150 <= x <= 200 and 60 <= y <= 110 and 80 <= w <= 130 and 80 <= h <= 130
    assert face.scores["privacy"] == pytest.approx(anchor_score(raw[0]["score"], (0.5, 0.7)))


def test_missing_nudenet_names_the_extra() -> None:
    code = (
        "import sys\nsys.modules['nudenet'] = None\n"
        "from PIL import Image\n"
        "from fairframe.errors import MissingDependencyError\n"
        "from fairframe.guard.image import NudeNetStage\n"
        "try:\n"
        "    NudeNetStage().check_images([Image.new('RGB', (16, 16))], [None])\n"
        "except MissingDependencyError as exc:\n"
        "    assert 'fairframe[nudenet]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no MissingDependencyError')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

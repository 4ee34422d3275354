from __future__ import annotations

import pytest
from PIL import Image

from fairframe.measure.nudity import EXPOSED_CLASSES, detect_nudity

pytest.importorskip("nudenet")


def test_astronaut_is_not_nude(astronaut: Image.Image) -> None:
    r = detect_nudity(astronaut)
    assert r.nude is False and r.score == 0.0
    assert [d["class"] for d in r.detections] == ["FACE_FEMALE"]
    data = r.to_json()
    assert data["nude"] is False and data["detections"][0]["box"][0] > 150


def test_threshold_and_classes(astronaut: Image.Image) -> None:
    # counting faces as "nudity" shows the threshold logic on a real detection
    r = detect_nudity(astronaut, classes=("FACE_FEMALE",), threshold=0.3)
    assert r.nude is True and 0.5 < r.score <= 1.0
    assert detect_nudity(astronaut, classes=("FACE_FEMALE",), threshold=0.99).nude is False
    assert "FACE_FEMALE" not in EXPOSED_CLASSES
    with pytest.raises(ValueError, match="threshold"):
        detect_nudity(astronaut, threshold=2.0)


def test_blank_image() -> None:
    assert detect_nudity(Image.new("RGB", (64, 64), (255, 255, 255))).detections == ()

"""Shared fixtures: skimage's astronaut (a real, frontal face) and detectors built once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

#: Hand-drawn face box on ``skimage.data.astronaut()`` (x, y, w, h): hairline-to-chin, ear-to-ear
#: of the skin area, drawn by eye on a 3x zoom.
ASTRONAUT_FACE = (178.0, 78.0, 94.0, 100.0)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    iw = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    skdata = pytest.importorskip("skimage.data")
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="session")
def opencv_detector() -> Any:
    pytest.importorskip("cv2")
    from fairframe.measure.faces import get_face_detector

    return get_face_detector("opencv-cascade")


@pytest.fixture(scope="session")
def nudenet_detector() -> Any:
    pytest.importorskip("nudenet")
    from fairframe.measure.faces import get_face_detector

    return get_face_detector("nudenet")


def patch(rgb: tuple[int, int, int], size: int = 32) -> np.ndarray:
    return np.full((size, size, 3), rgb, dtype=np.uint8)

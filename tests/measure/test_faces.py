from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import UnknownComponentError
from fairframe.measure import FACE_DETECTORS, Face, FaceDetector, align_face, get_face_detector
from fairframe.measure.faces import CANONICAL_EYES_112, alignment_matrix
from tests.measure.conftest import ASTRONAUT_FACE, iou


def test_import_is_light() -> None:
    code = ("import sys, fairframe.measure, fairframe.measure.labelers, fairframe.cli.measure; "
            "bad = [m for m in ('cv2', 'nudenet', 'onnxruntime', 'torch', 'skimage', 'mediapipe') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_registry_names() -> None:
    names = FACE_DETECTORS.names()
    assert {"opencv-cascade", "nudenet"} <= set(names)
    with pytest.raises(UnknownComponentError, match="opencv-cascade"):
        get_face_detector("no-such-detector")


def test_mediapipe_listed_only_when_importable() -> None:
    import importlib.util

    has = importlib.util.find_spec("mediapipe") is not None
    assert ("mediapipe" in FACE_DETECTORS.names()) == has


@pytest.mark.parametrize("fixture", ["opencv_detector", "nudenet_detector"])
def test_finds_the_astronaut(fixture: str, astronaut: Image.Image,
                             request: pytest.FixtureRequest) -> None:
    det = request.getfixturevalue(fixture)
    assert isinstance(det, FaceDetector)
    faces = det.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert iou(face.box, ASTRONAUT_FACE) > 0.6
    assert 0.0 < face.score <= 1.0
    assert all(isinstance(v, float) for v in face.box)
    ident = dict(det.identity())
    assert ident["backend"] in ("opencv-cascade", "nudenet")


def test_opencv_eye_landmarks(astronaut: Image.Image, opencv_detector: Any) -> None:
    face = opencv_detector.detect(astronaut)[0]
    re_, le = face.landmarks["right_eye"], face.landmarks["left_eye"]
    assert re_[0] < le[0]  # subject's right eye is on the image's left
    assert 35 < le[0] - re_[0] < 60 and abs(le[1] - re_[1]) < 8
    assert 95 < re_[1] < 110


@pytest.mark.parametrize("fixture", ["opencv_detector", "nudenet_detector"])
def test_no_face_in_blank_or_noise(fixture: str, request: pytest.FixtureRequest) -> None:
    det = request.getfixturevalue(fixture)
    assert det.detect(Image.new("RGB", (256, 256), (200, 200, 200))) == []
    assert det.detect(Image.new("RGB", (10, 10), (0, 0, 0))) == []


def test_thin_strips_have_no_face_and_do_not_crash(opencv_detector: Any) -> None:
    # 20000x8 scaled to the working size would be 0 px high; 20000x40 is 0.08 px: 1 px
    for size in ((20000, 8), (20000, 40), (8, 20000)):
        assert opencv_detector.detect(Image.new("RGB", size)) == []


def test_detector_input_is_rgb(astronaut: Image.Image, opencv_detector: Any) -> None:
    """Detectors take PIL RGB; arrays in RGB order give the same answer."""
    a = opencv_detector.detect(astronaut)
    b = opencv_detector.detect(Image.fromarray(np.asarray(astronaut)))
    assert a == b


def _dots(size: int, eyes: list[tuple[float, float]]) -> Image.Image:
    arr = np.zeros((size, size, 3), dtype=np.uint8)
    for x, y in eyes:
        arr[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3] = (255, 0, 0)
    return Image.fromarray(arr)


def _centroid(img: Image.Image, half: str) -> tuple[float, float]:
    red = np.asarray(img)[:, :, 0].astype(float)
    w = red.shape[1]
    red = red[:, : w // 2] if half == "left" else red[:, w // 2 :]
    ys, xs = np.nonzero(red > 100)
    weights = red[ys, xs]
    off = 0 if half == "left" else w // 2
    return float((xs * weights).sum() / weights.sum() + off), float((ys * weights).sum()
                                                                    / weights.sum())


@pytest.mark.parametrize("size", [112, 224])
def test_align_face_puts_eyes_on_canonical_positions(size: int) -> None:
    # a tilted face: eyes at (80, 120) and (150, 90)
    img = _dots(300, [(80.0, 120.0), (150.0, 90.0)])
    face = Face(box=(50.0, 50.0, 150.0, 150.0), score=1.0,
                landmarks={"right_eye": (80.0, 120.0), "left_eye": (150.0, 90.0)})
    out = align_face(img, face, size=size)
    assert out.size == (size, size) and out.mode == "RGB"
    scale = size / 112
    for half, target in (("left", CANONICAL_EYES_112[0]), ("right", CANONICAL_EYES_112[1])):
        cx, cy = _centroid(out, half)
        assert cx == pytest.approx(target[0] * scale, abs=1.0)
        assert cy == pytest.approx(target[1] * scale, abs=1.0)


def test_alignment_matrix_maps_eyes_exactly() -> None:
    face = Face(box=(0.0, 0.0, 10.0, 10.0), score=1.0,
                landmarks={"left_eye": (150.0, 90.0), "right_eye": (80.0, 120.0)})
    m = alignment_matrix(face)
    np.testing.assert_allclose(m @ [80.0, 120.0, 1.0], CANONICAL_EYES_112[0], atol=1e-9)
    np.testing.assert_allclose(m @ [150.0, 90.0, 1.0], CANONICAL_EYES_112[1], atol=1e-9)
    # a similarity: equal column norms, orthogonal columns
    assert np.hypot(*m[:, 0]) == pytest.approx(np.hypot(*m[:, 1]))
    assert float(m[:, 0] @ m[:, 1]) == pytest.approx(0.0, abs=1e-12)


def test_align_face_box_fallback() -> None:
    arr = np.zeros((200, 300, 3), dtype=np.uint8)
    arr[50:150, 100:200] = (0, 255, 0)
    face = Face(box=(100.0, 50.0, 100.0, 100.0), score=1.0)
    out = np.asarray(align_face(Image.fromarray(arr), face, size=64))
    assert out.shape == (64, 64, 3)
    assert (out[2:-2, 2:-2] == (0, 255, 0)).all()  # exactly the box, scaled
    with pytest.raises(ValueError, match="size"):
        alignment_matrix(face, size=4)


def test_align_astronaut(astronaut: Image.Image, opencv_detector: Any) -> None:
    face = opencv_detector.detect(astronaut)[0]
    crop = align_face(astronaut, face)
    assert crop.size == (112, 112)
    # the aligned crop of a real face is mostly skin-coloured in its centre
    centre = np.asarray(crop)[40:90, 30:80].astype(float)
    assert centre[..., 0].mean() > centre[..., 2].mean()

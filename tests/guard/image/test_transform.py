"""The transformation check on synthetic edits of ``skimage.data.astronaut()`` and flat patches."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import ConfigError
from fairframe.guard.decision import Action
from fairframe.guard.image.transform import (
    SKIN_PATTERN,
    UNDRESS_PATTERN,
    TransformationCheck,
    logistic_score,
    match_faces,
)
from fairframe.measure._face import Face
from fairframe.measure.colour import srgb_to_lab
from fairframe.types import JSONValue

skimage_data = pytest.importorskip("skimage.data")
skimage_color = pytest.importorskip("skimage.color")
pytest.importorskip("cv2")


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(skimage_data.astronaut(), dtype=np.uint8)


@pytest.fixture(scope="module")
def check() -> TransformationCheck:
    return TransformationCheck(exposure=False)  # face signals only; exposure tested below


@pytest.fixture(scope="module")
def face(check: TransformationCheck, astronaut: np.ndarray) -> Face:
    [found] = check.face_detector.detect(Image.fromarray(astronaut))
    return found


def lighten(rgb: np.ndarray, box: Sequence[float], delta_l: float) -> np.ndarray:
    """Add ``delta_l`` to CIELAB L* of every pixel in the face box."""
    x, y, w, h = (int(v) for v in box)
    out = rgb.copy()
    lab = skimage_color.rgb2lab(out[y : y + h, x : x + w].astype(np.float64) / 255.0)
    lab[..., 0] += delta_l
    patch = np.clip(np.round(skimage_color.lab2rgb(lab) * 255.0), 0, 255)
    out[y : y + h, x : x + w] = patch.astype(np.uint8)
    return out


def squeeze(rgb: np.ndarray, box: Sequence[float], factor: float) -> np.ndarray:
    """A liquify-style slimming: rows from the eyes to below the chin, the face's half-width ``a``
    mapped onto ``factor * a`` around the face centre, the ring out to ``1.6 a`` stretched to
    fill; everything else untouched."""
    x, y, w, h = box
    cx, a = x + w / 2.0, w / 2.0
    b = 1.6 * a
    y0, y1 = int(y + 0.45 * h), min(rgb.shape[0], int(y + 1.15 * h))
    d = np.arange(rgb.shape[1], dtype=np.float64) - cx
    ad = np.abs(d)
    src = np.where(ad <= factor * a, ad / factor,
                   np.where(ad <= b, a + (ad - factor * a) * (b - a) / (b - factor * a), ad))
    cols = np.clip(np.round(cx + np.sign(d) * src).astype(int), 0, rgb.shape[1] - 1)
    out = rgb.copy()
    out[y0:y1] = rgb[y0:y1][:, cols]
    return out


def jpeg(rgb: np.ndarray, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def finding(result: Any, label: str) -> Any:
    [f] = [f for f in result.findings if f.evidence.label == label]
    return f


# -- pure helpers -----------------------------------------------------------------------------


def test_logistic_score_is_half_at_the_threshold_and_symmetric() -> None:
    assert logistic_score(6.0, 6.0, 1.5) == 0.5
    assert logistic_score(9.0, 6.0, 1.5) == pytest.approx(1.0 / (1.0 + math.exp(-2.0)))
    assert logistic_score(-9.0, 6.0, 1.5) == logistic_score(9.0, 6.0, 1.5)
    assert logistic_score(0.0, 6.0, 1.5) == pytest.approx(1.0 / (1.0 + math.exp(4.0)))
    with pytest.raises(ConfigError, match="width"):
        logistic_score(1.0, 1.0, 0.0)


def test_match_faces_by_iou_then_by_centre_distance() -> None:
    a = Face((0, 0, 10, 10), 1.0)
    b = Face((100, 100, 20, 20), 1.0)
    out = [
        Face((104, 104, 12, 12), 1.0),  # inside b: IoU 144/400 = 0.36
        Face((1, 0, 10, 10), 1.0),  # a shifted by one pixel: IoU 90/110
        Face((300, 300, 10, 10), 1.0),  # new
    ]
    pairs = match_faces([a, b], out, min_iou=0.3)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 0)]
    assert pairs[0][2] == pytest.approx(90 / 110)
    assert pairs[1][2] == pytest.approx(0.36)
    # below min_iou, the centre distance (0 < half the mean side) still pairs b
    assert [(i, j) for i, j, _ in match_faces([b], out[:1], min_iou=0.5)] == [(0, 0)]
    assert match_faces([a], [out[2]]) == []


def test_prompt_patterns_match_whole_words_only() -> None:
    assert SKIN_PATTERN.search("give her a summer tan")
    assert SKIN_PATTERN.search("Relight the scene at golden hour")
    assert SKIN_PATTERN.search("as a black and white photo")
    assert not SKIN_PATTERN.search("standing in a tangerine field")
    assert not SKIN_PATTERN.search("make them beautiful")
    assert UNDRESS_PATTERN.search("remove her clothes")
    assert UNDRESS_PATTERN.search("undress him")
    assert not UNDRESS_PATTERN.search("a striped shirt")


# -- skin tone: exact on flat patches with an injected detector -------------------------------


class FixedFaces:
    """A face detector that finds the same faces in every image."""

    def __init__(self, faces: Sequence[Face]) -> None:
        self.faces = list(faces)

    def identity(self) -> Mapping[str, JSONValue]:
        return {"backend": "fixed"}

    def detect(self, image: Image.Image) -> list[Face]:
        return list(self.faces)


def flat(rgb: tuple[int, int, int], size: int = 64) -> Image.Image:
    return Image.new("RGB", (size, size), rgb)


def test_flat_patch_delta_l_is_the_exact_lab_difference() -> None:
    detector = FixedFaces([Face((8, 8, 48, 48), 0.9)])
    chk = TransformationCheck(face_detector=detector, exposure=False)
    dark, light = (160, 126, 86), (200, 160, 120)  # MST6 swatch-like, and lighter
    expected = float(srgb_to_lab(np.array(light, np.uint8))[0]
                     - srgb_to_lab(np.array(dark, np.uint8))[0])  # 13.45 L*
    m = chk.measure(flat(dark), flat(light))
    [pair] = m.pairs
    assert pair.delta_l == pytest.approx(expected, abs=1e-9)
    assert pair.monk_in == 6
    assert pair.width_ratio == 1.0
    result = chk.score(m, prompt="make her beautiful")
    assert result.scores["appearance_change"] == pytest.approx(
        logistic_score(expected, 6.0, 1.5))
    assert finding(result, "skin_lightness").evidence.text.startswith(
        f"skin lightness +{expected:.1f} L* (Monk 6 -> ")
    # one face in, two faces out: the new face is info-level evidence
    two = FixedFaces([Face((8, 8, 20, 20), 0.9), Face((40, 40, 20, 20), 0.9)])
    chk2 = TransformationCheck(face_detector=two, exposure=False)
    m2 = chk2.measure(flat(dark), flat(dark))
    m2 = type(m2)(m2.faces_in[:1], m2.faces_out, m2.pairs[:1], None)
    count = finding(chk2.score(m2, prompt=""), "face_count")
    assert count.score == 0.0
    assert count.evidence.text == "faces: 1 in input, 2 in output (0 disappeared, 1 appeared)"


# -- skin tone and width on the astronaut ---------------------------------------------------


def test_lightened_face_is_measured_and_flagged(
    check: TransformationCheck, astronaut: np.ndarray, face: Face
) -> None:
    out = lighten(astronaut, face.box, 9.0)
    decision = check.decide(astronaut, out, prompt="make her beautiful")
    [pair] = check.measure(astronaut, out).pairs  # measure() is what decide() scored
    assert pair.delta_l is not None
    assert 8.0 <= pair.delta_l <= 9.5  # highlights clip at white, so slightly under 9
    assert abs(pair.background_delta_l) < 0.1  # only the face was changed
    assert decision.categories["appearance_change"] >= 0.8
    assert decision.action is Action.FLAG  # the default policy flags appearance changes
    ev = next(f for f in decision.findings if f.evidence.label == "skin_lightness").evidence
    assert ev.text.startswith(f"skin lightness +{pair.delta_l:.1f} L* (Monk ")
    assert "on face 1" in ev.text
    assert ev.box == tuple(int(v) for v in face.box)


def test_darkened_face_is_flagged_with_a_negative_sign(
    check: TransformationCheck, astronaut: np.ndarray, face: Face
) -> None:
    result = check.check(astronaut, lighten(astronaut, face.box, -8.0), prompt="a portrait")
    text = finding(result, "skin_lightness").evidence.text
    delta = float(text.split()[2])
    assert -9.0 <= delta <= -7.0
    assert result.scores["appearance_change"] > 0.75


@pytest.mark.parametrize("kind", ["copy", "jpeg", "resized", "small"])
def test_unchanged_reencoded_or_slightly_changed_faces_pass(
    check: TransformationCheck, astronaut: np.ndarray, face: Face, kind: str
) -> None:
    out: Any = {
        "copy": astronaut.copy(),
        "jpeg": jpeg(astronaut),
        "resized": Image.fromarray(astronaut).resize((384, 384), Image.Resampling.BICUBIC),
        "small": lighten(astronaut, face.box, 3.0),
    }[kind]
    m = check.measure(astronaut, out)
    result = check.score(m, prompt="make her beautiful")
    assert result.scores["appearance_change"] < 0.2
    [pair] = m.pairs
    assert pair.delta_l is not None
    assert abs(pair.delta_l - (3.0 if kind == "small" else 0.0)) < 1.0
    if kind == "resized":
        assert m.resized_from == (384, 384)
        assert "output resized from 384x384" in result.findings[0].evidence.text


def test_a_prompt_asking_for_a_tan_is_not_flagged(
    check: TransformationCheck, astronaut: np.ndarray, face: Face
) -> None:
    m = check.measure(astronaut, lighten(astronaut, face.box, -9.0))
    asked = check.score(m, prompt="give her a summer tan")
    assert asked.scores["appearance_change"] < 0.05  # only the (unchanged) face width is left
    ev = finding(asked, "skin_lightness")
    assert ev.score == 0.0
    assert "not flagged: the prompt asks for it (tan)" in ev.evidence.text
    # "tan" inside another word does not exempt
    other = check.score(m, prompt="standing in a tangerine field")
    assert other.scores["appearance_change"] > 0.8


@pytest.mark.parametrize(("factor", "flagged"), [(0.8, True), (0.95, False), (1.2, True)])
def test_face_width_change_is_measured(
    check: TransformationCheck, astronaut: np.ndarray, face: Face, factor: float, flagged: bool
) -> None:
    m = check.measure(astronaut, squeeze(astronaut, face.box, factor))
    [pair] = m.pairs
    assert pair.width_ratio is not None
    assert abs(pair.width_ratio - factor) <= 0.03
    result = check.score(m, prompt="make her beautiful")
    f = finding(result, "face_width")
    assert f.evidence.text.startswith(f"face width {100 * (pair.width_ratio - 1):+.1f}% (")
    assert (f.score >= 0.5) is flagged  # a 10% change is the midpoint
    assert f.score == pytest.approx(logistic_score(pair.width_ratio - 1.0, 0.10, 0.025))


def test_width_is_stable_under_jpeg_and_lightening_and_exempt_when_asked(
    check: TransformationCheck, astronaut: np.ndarray, face: Face
) -> None:
    for out in (jpeg(astronaut), lighten(astronaut, face.box, 9.0)):
        [pair] = check.measure(astronaut, out).pairs
        assert pair.width_ratio is not None
        assert abs(pair.width_ratio - 1.0) <= 0.04
    slim = check.check(astronaut, squeeze(astronaut, face.box, 0.8), prompt="make her slimmer")
    f = finding(slim, "face_width")
    assert f.score == 0.0
    assert "not flagged: the prompt asks for it (slimmer)" in f.evidence.text


def test_a_face_that_disappears_is_counted(
    check: TransformationCheck, astronaut: np.ndarray, face: Face
) -> None:
    out = astronaut.copy()
    x, y, w, h = (int(v) for v in face.box)
    out[y : y + h, x : x + w] = 128
    result = check.check(astronaut, out, prompt="remove the person")
    f = finding(result, "face_count")
    assert f.evidence.text == "faces: 1 in input, 0 in output (1 disappeared, 0 appeared)"
    assert f.score == 0.0
    assert result.scores == {"appearance_change": 0.0}


# -- exposure ---------------------------------------------------------------------------------


def marked(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = rgb.copy()
    out[400:440, 20:60] = colour
    return out


MAGENTA, CYAN = (255, 0, 255), (0, 255, 255)


def fake_nudenet(image: Image.Image) -> list[dict[str, Any]]:
    """Magenta square: an exposed breast (0.81); cyan square: exposed genitalia (0.9)."""
    px = tuple(int(v) for v in np.asarray(image)[420, 40])
    if px == MAGENTA:
        return [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.81, "box": [20, 400, 40, 40]},
                {"class": "FACE_FEMALE", "score": 0.9, "box": [177, 67, 93, 93]}]
    if px == CYAN:
        return [{"class": "MALE_GENITALIA_EXPOSED", "score": 0.9, "box": [20, 400, 40, 40]}]
    return [{"class": "FACE_FEMALE", "score": 0.9, "box": [177, 67, 93, 93]}]


def test_added_exposure_is_nudity_and_an_undress_prompt_makes_it_sexual(
    astronaut: np.ndarray, face: Face
) -> None:
    chk = TransformationCheck(detect_exposure=fake_nudenet, face_detector=FixedFaces([face]))
    out = marked(astronaut, MAGENTA)
    plain = chk.decide(astronaut, out, prompt="at the beach")
    assert plain.categories["nudity"] == 0.81
    assert "sexual" not in plain.categories
    assert plain.action is Action.REWRITE  # default policy: nudity >= 0.7 -> rewrite
    f = next(f for f in plain.findings if f.category == "nudity")
    assert f.evidence.text == "exposed FEMALE_BREAST_EXPOSED not in input (score 0.81, input 0.00)"
    assert f.evidence.box == (20, 400, 40, 40)
    assert f.evidence.label == "FEMALE_BREAST_EXPOSED"
    undress = chk.decide(astronaut, out, prompt="remove her clothes")
    assert undress.categories["sexual"] == 0.81
    assert undress.action is Action.BLOCK  # default policy: sexual >= 0.7 -> block
    assert "the prompt asks to undress (remove her clothes)" in undress.findings[-1].evidence.text
    explicit = chk.check(astronaut, marked(astronaut, CYAN), prompt="at the beach")
    assert explicit.scores["sexual"] == explicit.scores["nudity"] == 0.9


def test_exposure_the_input_already_had_is_not_flagged(astronaut: np.ndarray) -> None:
    chk = TransformationCheck(detect_exposure=fake_nudenet, face_detector=FixedFaces([]))
    both = marked(astronaut, MAGENTA)
    result = chk.check(both, both, prompt="remove her clothes")
    assert result.scores == {}  # no added exposure: nudity and sexual are not scored
    assert result.findings == ()
    # a much surer detection in the output counts; a slightly surer one does not
    chk_margin = TransformationCheck(
        detect_exposure=lambda im: [{"class": "BUTTOCKS_EXPOSED", "box": [0, 0, 4, 4],
                                     "score": 0.3 if np.asarray(im)[0, 0, 0] == 0 else 0.5}],
        face_detector=FixedFaces([]),
    )
    black, white = np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)
    assert chk_margin.check(black, white, prompt="").scores == {}  # 0.5 - 0.3 < 0.25
    chk_margin.exposure_margin = 0.2
    assert chk_margin.check(black, white, prompt="").scores == {"nudity": 0.5}


def test_default_exposure_detector_is_nudenet(
    monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray, face: Face
) -> None:
    import fairframe.measure.nudenet_faces as nn

    monkeypatch.setattr(nn, "nudenet_detections", fake_nudenet)
    chk = TransformationCheck(face_detector=FixedFaces([face]))
    result = chk.check(astronaut, marked(astronaut, MAGENTA), prompt="")
    assert result.scores["nudity"] == 0.81


def test_real_nudenet_finds_no_added_exposure_on_an_unchanged_photo(
    astronaut: np.ndarray,
) -> None:
    pytest.importorskip("nudenet")
    chk = TransformationCheck()
    result = chk.check(astronaut, jpeg(astronaut), prompt="make her beautiful")
    assert "nudity" not in result.scores
    assert result.scores["appearance_change"] < 0.2


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="skin_threshold"):
        TransformationCheck(skin_threshold=0.0)
    with pytest.raises(ConfigError, match="exposure_margin"):
        TransformationCheck(exposure_margin=1.5)

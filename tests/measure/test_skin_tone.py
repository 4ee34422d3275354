from __future__ import annotations

import numpy as np
import pytest

from fairframe.measure import Face
from fairframe.measure.colour import ita, srgb_to_lab
from fairframe.measure.skin_tone import (
    MONK_HEX,
    MONK_SWATCHES,
    SkinGate,
    SkinToneEstimator,
    estimate_skin_tone,
    nearest_monk,
    prepare_rgb,
    skin_regions,
)
from tests.measure.conftest import patch

SWATCHES = [(s.tone, s.rgb) for s in MONK_SWATCHES]


def test_swatch_table() -> None:
    assert len(MONK_SWATCHES) == 10
    assert MONK_SWATCHES[0].rgb == (246, 237, 228) and MONK_SWATCHES[-1].rgb == (41, 36, 32)
    assert [s.hex for s in MONK_SWATCHES] == list(MONK_HEX)
    # published swatch ITAs (bias-anchors §6): lighter tones have larger ITA
    itas = [round(s.ita, 1) for s in MONK_SWATCHES]
    assert itas == [83.0, 80.2, 71.7, 64.7, 50.3, 10.9, -20.1, -55.4, -78.3, -84.3]
    np.testing.assert_allclose(MONK_SWATCHES[5].lab, (55.1, 7.8, 26.7), atol=0.05)


@pytest.mark.parametrize(("tone", "rgb"), SWATCHES)
def test_every_swatch_maps_to_itself_whole_image(tone: int, rgb: tuple[int, int, int]) -> None:
    r = estimate_skin_tone(patch(rgb), whole_image=True)
    assert r.status == "ok"
    assert r.monk == tone
    assert r.delta_e == pytest.approx(0.0, abs=1e-6)
    assert r.ita == pytest.approx(MONK_SWATCHES[tone - 1].ita, abs=1e-6)
    assert r.n_pixels == 32 * 32 and r.face is None
    assert nearest_monk(MONK_SWATCHES[tone - 1].lab) == (tone, pytest.approx(0.0, abs=1e-9))


@pytest.mark.parametrize(("tone", "rgb"), SWATCHES)
def test_every_swatch_in_a_face_passes_the_gate(tone: int, rgb: tuple[int, int, int]) -> None:
    """Skin on a grey background, measured through the face regions and the Lab gate."""
    img = np.full((120, 120, 3), 128, dtype=np.uint8)
    img[20:110, 25:95] = rgb
    face = Face(box=(25.0, 20.0, 70.0, 90.0), score=1.0)
    r = SkinToneEstimator(detector="opencv-cascade").estimate(img, face=face)
    assert r.status == "ok", r
    assert r.monk == tone
    assert r.face == face


def heim_skin_mask(rgb: np.ndarray) -> np.ndarray:
    """HEIM / DALL-Eval v1 (Kolkur et al.) RGB + YCrCb rule, as published, for comparison."""
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - y) * 0.713 + 128
    cb = (b - y) * 0.564 + 128
    return (r > 95) & (g > 40) & (b > 20) & (r > g) & (r > b) & (np.abs(r - g) > 15) \
        & (cr > 135) & (cb > 85) & (y > 80)


def test_gate_keeps_dark_and_light_skin_that_heim_drops() -> None:
    rgbs = np.array([s.rgb for s in MONK_SWATCHES], dtype=np.uint8)
    ours = SkinGate().mask(srgb_to_lab(rgbs))
    assert ours.all()
    heim = heim_skin_mask(rgbs)
    assert not heim[[7, 8, 9]].any()  # MST8-10 fail R > 95 / Y > 80
    assert not heim[[0, 1]].any()  # MST1-2: |R - G| <= 15


def test_gate_rejects_non_skin() -> None:
    non_skin = np.array([[128, 128, 128], [255, 255, 255], [0, 0, 0], [30, 60, 200],
                         [40, 160, 60], [150, 60, 170]], dtype=np.uint8)
    assert not SkinGate().mask(srgb_to_lab(non_skin)).any()


def test_no_skin_when_the_face_is_blue() -> None:
    img = np.full((100, 100, 3), (30, 60, 200), dtype=np.uint8)
    r = SkinToneEstimator(detector="opencv-cascade").estimate(
        img, face=Face(box=(10.0, 10.0, 80.0, 80.0), score=1.0)
    )
    assert r.status == "no_skin" and r.monk is None and r.ita is None and r.n_pixels == 0
    assert r.to_json()["status"] == "no_skin"


def test_blank_image_has_no_face() -> None:
    pytest.importorskip("cv2")
    r = estimate_skin_tone(np.full((200, 200, 3), 200, dtype=np.uint8))
    assert r.status == "no_face" and r.monk is None and r.face is None


def test_channel_order_is_explicit() -> None:
    mst6 = patch(MONK_SWATCHES[5].rgb)
    bgr = np.ascontiguousarray(mst6[:, :, ::-1])
    assert estimate_skin_tone(mst6, whole_image=True).monk == 6
    # a BGR array passed as RGB is a different, wrong colour (blue-ish): not MST6
    wrong = estimate_skin_tone(bgr, whole_image=True)
    assert wrong.monk != 6 and wrong.lab is not None and wrong.lab[2] < 0
    # said to be BGR, it is reversed and measured right
    assert estimate_skin_tone(bgr, whole_image=True, channel_order="BGR").monk == 6
    np.testing.assert_array_equal(prepare_rgb(bgr, "BGR"), mst6)
    with pytest.raises(ValueError, match="channel_order"):
        prepare_rgb(mst6, "RGBA")  # type: ignore[arg-type]
    from PIL import Image

    with pytest.raises(ValueError, match="PIL images are always RGB"):
        prepare_rgb(Image.fromarray(mst6), "BGR")


def test_heim_dalleval_swap_bug_regression() -> None:
    """DALL-Eval/HEIM read BGR (cv2.imread) and treated it as RGB: the R/B swap of PR #2589.

    Simulated here: a BGR-ordered array measured as if RGB. The swapped pipeline misplaces every
    swatch whose R and B differ; the explicit pipeline maps every swatch to itself.
    """
    swapped, right = [], []
    for s in MONK_SWATCHES:
        bgr = np.ascontiguousarray(patch(s.rgb)[:, :, ::-1])  # what cv2.imread hands over
        swapped.append(estimate_skin_tone(bgr, whole_image=True).monk)
        right.append(estimate_skin_tone(bgr, whole_image=True, channel_order="BGR").monk)
    assert right == list(range(1, 11))
    assert swapped != list(range(1, 11))
    assert sum(a != b for a, b in zip(swapped, right, strict=True)) >= 7


def test_robust_to_outlier_pixels() -> None:
    img = patch(MONK_SWATCHES[3].rgb, 40)
    img[:8] = (255, 0, 255)  # 20% magenta outliers: the median ignores them
    assert estimate_skin_tone(img, whole_image=True).monk == 4


def test_regions_from_eyes_and_from_box() -> None:
    face = Face(box=(100.0, 100.0, 100.0, 100.0), score=1.0,
                landmarks={"right_eye": (130.0, 140.0), "left_eye": (170.0, 140.0)})
    regions = skin_regions(face, 400, 400)
    assert set(regions) == {"cheek_right", "cheek_left", "forehead"}
    # d = 40: cheeks centred 22 px below the eyes, 4 px outwards; forehead 18 px above
    x0, y0, x1, y1 = regions["cheek_right"]
    assert (x0 + x1) / 2 == pytest.approx(126, abs=1) and (y0 + y1) / 2 == pytest.approx(162, abs=1)
    x0, y0, x1, y1 = regions["forehead"]
    assert (x0 + x1) / 2 == pytest.approx(150, abs=1) and (y0 + y1) / 2 == pytest.approx(122, abs=1)
    # eye order in the landmarks does not matter
    swapped = Face(box=face.box, score=1.0, landmarks={"left_eye": (130.0, 140.0),
                                                       "right_eye": (170.0, 140.0)})
    assert skin_regions(swapped, 400, 400) == regions
    # box only: virtual eyes at eye_line; regions are clipped to the image
    box_only = skin_regions(Face(box=(-50.0, -50.0, 100.0, 100.0), score=1.0), 60, 60)
    assert all(0 <= x0 < x1 <= 60 and 0 <= y0 < y1 <= 60 for x0, y0, x1, y1 in box_only.values())


def test_astronaut_light_skin(astronaut: object, opencv_detector: object,
                              nudenet_detector: object) -> None:
    for det in (opencv_detector, nudenet_detector):
        r = SkinToneEstimator(detector=det).estimate(astronaut)  # type: ignore[arg-type]
        assert r.status == "ok"
        assert r.ita is not None and 35.0 <= r.ita <= 70.0  # "intermediate" to "very light"
        assert r.monk is not None and 3 <= r.monk <= 6
        assert r.n_pixels >= 300
        assert ita(r.lab) == pytest.approx(r.ita)


def test_result_json() -> None:
    r = estimate_skin_tone(patch(MONK_SWATCHES[0].rgb), whole_image=True)
    data = r.to_json()
    assert data["monk"] == 1 and data["monk_name"] == "MST1" and data["status"] == "ok"
    assert data["face"] is None

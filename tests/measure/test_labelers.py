from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fairframe.measure.labelers import (
    ColorfulnessLabeler,
    FaceCountLabeler,
    NudityLabeler,
    SkinToneLabeler,
)
from fairframe.measure.skin_tone import MONK_SWATCHES
from fairframe.protocols import Labeler
from fairframe.types import UNKNOWN, LabelQuestion
from tests.contract.suites import LabelerContract
from tests.measure.conftest import patch

TONES = LabelQuestion("What is the skin tone of the person?", ("light", "medium", "dark"),
                      "person")


class TestSkinToneLabelerContract(LabelerContract):
    def make_labeler(self) -> Labeler:
        pytest.importorskip("cv2")
        return SkinToneLabeler()


class TestFaceCountLabelerContract(LabelerContract):
    def make_labeler(self) -> Labeler:
        pytest.importorskip("cv2")
        return FaceCountLabeler()


class TestColorfulnessLabelerContract(LabelerContract):
    def make_labeler(self) -> Labeler:
        return ColorfulnessLabeler()


class TestNudityLabelerContract(LabelerContract):
    def make_labeler(self) -> Labeler:
        pytest.importorskip("nudenet")
        return NudityLabeler()


def _img(rgb: tuple[int, int, int]) -> Image.Image:
    return Image.fromarray(patch(rgb))


def test_skin_tone_bins_whole_image() -> None:
    lab = SkinToneLabeler(whole_image=True)
    imgs = [_img(s.rgb) for s in MONK_SWATCHES]
    tops = [r.top for r in lab.label(imgs, TONES)]
    assert tops == ["light"] * 3 + ["medium"] * 4 + ["dark"] * 3
    r = lab.label(imgs[:1], TONES)[0]
    assert r.probs["light"] == 1.0 and r.answer == "MST1"


def test_skin_tone_monk_choices_and_custom_bins() -> None:
    q = LabelQuestion("Monk tone?", tuple(f"MST{i}" for i in range(1, 11)))
    lab = SkinToneLabeler(whole_image=True)
    assert [r.top for r in lab.label([_img(s.rgb) for s in MONK_SWATCHES], q)] == list(q.choices)
    custom = SkinToneLabeler(whole_image=True, bins={"Lighter": [1, 2, 3, 4, 5],
                                                     "Darker": [6, 7, 8, 9, 10]})
    q2 = LabelQuestion("Skin?", ("lighter", "darker"))
    assert [r.top for r in custom.label([_img(MONK_SWATCHES[4].rgb),
                                         _img(MONK_SWATCHES[5].rgb)], q2)] == ["lighter", "darker"]
    # a tone no listed choice covers → unknown
    q3 = LabelQuestion("Skin?", ("light", "medium"))
    assert lab.label([_img(MONK_SWATCHES[9].rgb)], q3)[0].top == UNKNOWN
    with pytest.raises(ValueError, match="Monk tones"):
        SkinToneLabeler(bins={"x": [0, 11]})


def test_skin_tone_no_face_is_unknown() -> None:
    pytest.importorskip("cv2")
    r = SkinToneLabeler().label([Image.new("RGB", (64, 64), (200, 150, 120))], TONES)[0]
    assert r.probs[UNKNOWN] == 1.0 and r.answer == "no_face"


def test_skin_tone_astronaut(astronaut: Image.Image) -> None:
    pytest.importorskip("cv2")
    r = SkinToneLabeler().label([astronaut], TONES)[0]
    assert r.top in ("light", "medium")
    ident = SkinToneLabeler().identity()
    assert ident["backend"] == "skin-tone" and ident["detector"]["backend"] == "opencv-cascade"


def test_face_count(astronaut: Image.Image) -> None:
    pytest.importorskip("cv2")
    lab = FaceCountLabeler()
    blank = Image.new("RGB", (64, 64), (128, 128, 128))
    q = LabelQuestion("How many faces?", ("0", "1", "2+"))
    assert [r.top for r in lab.label([blank, astronaut], q)] == ["0", "1"]
    q = LabelQuestion("How many people?", ("no face", "one", "multiple"))
    assert [r.top for r in lab.label([blank, astronaut], q)] == ["no face", "one"]
    q = LabelQuestion("Several?", ("2", "several"))
    assert lab.label([astronaut], q)[0].top == UNKNOWN
    assert lab.label([astronaut], q)[0].answer == "1"


def test_colorfulness_labeler(astronaut: Image.Image) -> None:
    lab = ColorfulnessLabeler()
    grey = Image.new("RGB", (32, 32), (90, 90, 90))
    q = LabelQuestion("Colour?", ("Greyscale", "Colourful"))
    assert [r.top for r in lab.label([grey, astronaut], q)] == ["Greyscale", "Colourful"]
    q = LabelQuestion("Colour?", ("muted", "vivid"))
    custom = ColorfulnessLabeler(bins={"muted": (0.0, 80.0)})
    assert [r.top for r in custom.label([grey, astronaut], q)] == ["muted", "muted"]
    with pytest.raises(ValueError, match="low < high"):
        ColorfulnessLabeler(bins={"x": (5.0, 1.0)})


def test_nudity_labeler(astronaut: Image.Image) -> None:
    pytest.importorskip("nudenet")
    lab = NudityLabeler()
    q = LabelQuestion("Is there nudity?", ("nude", "not nude"))
    r = lab.label([astronaut], q)[0]
    assert r.top == "not nude" and r.answer is not None
    q = LabelQuestion("Safe?", ("SFW", "NSFW"))
    assert lab.label([astronaut], q)[0].top == "SFW"
    ident = lab.identity()
    assert ident["backend"] == "nudity" and ident["threshold"] == 0.5


def test_unknown_choices_get_unknown() -> None:
    q = LabelQuestion("What is the gender of the person?", ("man", "woman"))
    img = Image.fromarray(np.full((16, 16, 3), (160, 126, 86), np.uint8))
    assert SkinToneLabeler(whole_image=True).label([img], q)[0].top == UNKNOWN
    assert ColorfulnessLabeler().label([img], q)[0].top == UNKNOWN

"""Measurements on images: faces, skin tone (ITA, Monk scale), colourfulness and nudity.

Each measurement is a plain function returning a documented result, and also a
:class:`~fairframe.protocols.Labeler` (:mod:`fairframe.measure.labelers`) for the audit.
Importing this package imports neither OpenCV nor NudeNet nor torch; detectors load their models
on first use and raise :class:`~fairframe.errors.MissingDependencyError` naming the extra
(``measure`` for OpenCV / scikit-image, ``nudenet`` for NudeNet) when it is missing.

>>> import numpy as np
>>> from fairframe.measure import estimate_skin_tone
>>> estimate_skin_tone(np.full((8, 8, 3), (0x60, 0x41, 0x34), np.uint8), whole_image=True).monk
8
"""

from __future__ import annotations

from fairframe.measure._face import LANDMARKS, Face, FaceDetector
from fairframe.measure.colorfulness import COLORFULNESS_LEVELS, colorfulness, colorfulness_level
from fairframe.measure.colour import delta_e_2000, ita, lab_to_srgb, srgb_to_lab
from fairframe.measure.faces import (
    DEFAULT_FACE_DETECTOR,
    FACE_DETECTORS,
    align_face,
    get_face_detector,
)
from fairframe.measure.labelers import (
    ColorfulnessLabeler,
    FaceCountLabeler,
    NudityLabeler,
    SkinToneLabeler,
)
from fairframe.measure.nudity import NudityResult, detect_nudity
from fairframe.measure.skin_tone import (
    MONK_SWATCHES,
    MonkSwatch,
    SkinGate,
    SkinToneEstimator,
    SkinToneResult,
    estimate_skin_tone,
    nearest_monk,
)

__all__ = [
    "COLORFULNESS_LEVELS",
    "DEFAULT_FACE_DETECTOR",
    "FACE_DETECTORS",
    "LANDMARKS",
    "MONK_SWATCHES",
    "ColorfulnessLabeler",
    "Face",
    "FaceCountLabeler",
    "FaceDetector",
    "MonkSwatch",
    "NudityLabeler",
    "NudityResult",
    "SkinGate",
    "SkinToneEstimator",
    "SkinToneLabeler",
    "SkinToneResult",
    "align_face",
    "colorfulness",
    "colorfulness_level",
    "delta_e_2000",
    "detect_nudity",
    "estimate_skin_tone",
    "get_face_detector",
    "ita",
    "lab_to_srgb",
    "nearest_monk",
    "srgb_to_lab",
]

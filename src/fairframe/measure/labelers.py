"""Measurements as :class:`~fairframe.protocols.Labeler` components for the audit.

Each labeler measures a number (Monk tone, face count, colourfulness, nudity score) and maps the
question's choices to **bins** of that number through a name → bin table (matched
case-insensitively, surrounding space ignored, "colour" read as "color"). The first choice, in
the question's order, whose bin holds the measurement gets all the probability; when no choice's
bin holds it (or the measurement failed: no face, no skin), all mass goes to
:data:`~fairframe.types.UNKNOWN`. So a question whose choices the table does not know is answered
``unknown`` for every image, never guessed. Answers are deterministic hard labels; the ``answer``
text records the raw measurement (``"MST4"``, ``"2"``, ``"37.5"``, ``"no_face"``).

===================  ======================  ==================================================
registry name        class                   default bins
===================  ======================  ==================================================
``skin-tone``        :class:`SkinToneLabeler`     light = MST 1–3, medium = 4–7, dark = 8–10;
                                                 ``MST1`` … ``MST10`` always
``face-count``       :class:`FaceCountLabeler`    "0"/"none"/"no face", "1"/"one"/"single",
                                                 "2", "3", "N+", "multiple"/"several"/"many" ≥ 2
``colorfulness``     :class:`ColorfulnessLabeler` Hasler–Süsstrunk levels; "grayscale" < 15 ≤
                                                 "colorful"
``nudity``           :class:`NudityLabeler`       "nude"/"nsfw"/"explicit"/… vs
                                                 "not nude"/"safe"/"sfw"/"clothed"/…
===================  ======================  ==================================================
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fairframe.measure._face import FaceDetector
from fairframe.measure.colorfulness import COLORFULNESS_LEVELS, colorfulness
from fairframe.measure.nudity import EXPOSED_CLASSES, detect_nudity
from fairframe.measure.skin_tone import SkinGate, SkinToneEstimator
from fairframe.types import UNKNOWN, JSONValue, LabelQuestion, LabelResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_COLORFULNESS_BINS",
    "DEFAULT_FACE_COUNT_BINS",
    "DEFAULT_NUDITY_NAMES",
    "DEFAULT_SKIN_TONE_BINS",
    "ColorfulnessLabeler",
    "FaceCountLabeler",
    "NudityLabeler",
    "SkinToneLabeler",
]

#: Skin-tone class → Monk tones. ``MST1`` … ``MST10`` are always accepted as well.
DEFAULT_SKIN_TONE_BINS: Mapping[str, tuple[int, ...]] = {
    "light": (1, 2, 3),
    "medium": (4, 5, 6, 7),
    "dark": (8, 9, 10),
}

#: Face-count choice → inclusive count range ``(low, high)``; ``high=None`` is unbounded.
#: Choices that are integers (``"2"``) or ``"N+"`` are understood without an entry.
DEFAULT_FACE_COUNT_BINS: Mapping[str, tuple[int, int | None]] = {
    "none": (0, 0), "no face": (0, 0), "no faces": (0, 0), "zero": (0, 0), "no person": (0, 0),
    "one": (1, 1), "single": (1, 1), "one face": (1, 1), "one person": (1, 1),
    "two": (2, 2), "two faces": (2, 2), "three": (3, 3),
    "multiple": (2, None), "several": (2, None), "many": (2, None), "group": (2, None),
    "multiple faces": (2, None), "more than one": (2, None),
}

#: Colourfulness choice → ``[low, high)`` band of Hasler–Süsstrunk :math:`M`.
DEFAULT_COLORFULNESS_BINS: Mapping[str, tuple[float, float | None]] = {
    **{
        name: (lo, COLORFULNESS_LEVELS[i + 1][0] if i + 1 < len(COLORFULNESS_LEVELS) else None)
        for i, (lo, name) in enumerate(COLORFULNESS_LEVELS)
    },
    "grayscale": (0.0, 15.0), "greyscale": (0.0, 15.0), "black and white": (0.0, 15.0),
    "monochrome": (0.0, 15.0), "muted": (0.0, 15.0),
    "colorful": (15.0, None), "color": (15.0, None), "vivid": (59.0, None),
}

#: Nudity choice → whether it means "nude".
DEFAULT_NUDITY_NAMES: Mapping[str, bool] = {
    **dict.fromkeys(("nude", "nudity", "naked", "nsfw", "explicit", "unsafe", "yes"), True),
    **dict.fromkeys(("not nude", "no nudity", "clothed", "dressed", "safe", "sfw", "no"), False),
}


def _key(choice: str) -> str:
    return " ".join(choice.strip().lower().split()).replace("colour", "color")


def _pick(question: LabelQuestion, holds: Any, answer: str) -> LabelResult:
    """All mass on the first choice whose bin ``holds(choice_key)``; else UNKNOWN."""
    for choice in question.choices:
        if holds(_key(choice)):
            return LabelResult.certain(question.outcomes, choice, answer)
    return LabelResult.certain(question.outcomes, UNKNOWN, answer)


class _LazyDetector:
    def __init__(self, detector: FaceDetector | str, options: Mapping[str, Any]) -> None:
        self.spec = detector
        self.options = dict(options)
        self._built: FaceDetector | None = None if isinstance(detector, str) else detector
        self._lock = threading.Lock()

    def get(self) -> FaceDetector:
        with self._lock:
            if self._built is None:
                from fairframe.measure.faces import get_face_detector

                assert isinstance(self.spec, str)
                self._built = get_face_detector(self.spec, **self.options)
            return self._built


class SkinToneLabeler:
    """Skin tone of the largest face, as a Monk-tone class.

    Parameters
    ----------
    detector:
        Face detector name (see :data:`~fairframe.measure.faces.FACE_DETECTORS`) or instance.
    detector_options:
        Keyword options for a named detector.
    bins:
        Choice → Monk tones (1..10); replaces :data:`DEFAULT_SKIN_TONE_BINS`. ``MST1`` …
        ``MST10`` always map to their own tone.
    whole_image:
        Treat the whole image as skin (no face needed).
    min_pixels:
        Fewest gated skin pixels for a measurement; fewer → ``unknown``.
    batch_size:
        ``max_batch_size``.
    """

    def __init__(
        self,
        *,
        detector: FaceDetector | str = "opencv-cascade",
        detector_options: Mapping[str, Any] | None = None,
        bins: Mapping[str, Sequence[int]] | None = None,
        whole_image: bool = False,
        min_pixels: int = 30,
        batch_size: int = 16,
    ) -> None:
        table = {_key(k): tuple(int(t) for t in v)
                 for k, v in (DEFAULT_SKIN_TONE_BINS if bins is None else bins).items()}
        for name, tones in table.items():
            if not tones or any(not 1 <= t <= 10 for t in tones):
                raise ValueError(f"bin {name!r} must list Monk tones in 1..10, got {list(tones)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        table.update({f"mst{t}": (t,) for t in range(1, 11)})
        self.bins = table
        self.whole_image = whole_image
        self.min_pixels = min_pixels
        self.max_batch_size = batch_size
        self._detector = _LazyDetector(detector, detector_options or {})
        self._estimator: SkinToneEstimator | None = None

    def _est(self) -> SkinToneEstimator:
        if self._estimator is None:
            self._estimator = SkinToneEstimator(detector=self._detector.get(),
                                                min_pixels=self.min_pixels)
        return self._estimator

    def identity(self) -> Mapping[str, JSONValue]:
        return {
            "backend": "skin-tone",
            "detector": None if self.whole_image else dict(self._detector.get().identity()),
            "whole_image": self.whole_image,
            "bins": {k: list(v) for k, v in sorted(self.bins.items())},
            "gate": SkinGate().to_json(),
            "min_pixels": self.min_pixels,
            "statistic": "median-lab",
            "distance": "ciede2000",
        }

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        est = SkinToneEstimator(min_pixels=self.min_pixels) if self.whole_image else self._est()
        out = []
        for img in images:
            res = est.estimate(img, whole_image=self.whole_image)
            if res.monk is None:
                out.append(LabelResult.certain(question.outcomes, UNKNOWN, res.status))
                continue
            tone = res.monk
            out.append(_pick(question, lambda k, t=tone: t in self.bins.get(k, ()), f"MST{tone}"))
        return out


class FaceCountLabeler:
    """Number of faces found by a detector, as a count class.

    Parameters
    ----------
    detector, detector_options:
        As for :class:`SkinToneLabeler`.
    bins:
        Choice → inclusive count range ``(low, high)`` (``high=None``: unbounded); merged over
        :data:`DEFAULT_FACE_COUNT_BINS`. Integer choices and ``"N+"`` need no entry.
    min_score:
        Faces scoring below this are not counted.
    batch_size:
        ``max_batch_size``.
    """

    def __init__(
        self,
        *,
        detector: FaceDetector | str = "opencv-cascade",
        detector_options: Mapping[str, Any] | None = None,
        bins: Mapping[str, tuple[int, int | None]] | None = None,
        min_score: float = 0.0,
        batch_size: int = 16,
    ) -> None:
        table = {**DEFAULT_FACE_COUNT_BINS, **{_key(k): v for k, v in (bins or {}).items()}}
        for name, (lo, hi) in table.items():
            if lo < 0 or (hi is not None and hi < lo):
                raise ValueError(f"bin {name!r} must be 0 <= low <= high, got {(lo, hi)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.bins = table
        self.min_score = min_score
        self.max_batch_size = batch_size
        self._detector = _LazyDetector(detector, detector_options or {})

    def _range(self, key: str) -> tuple[int, int | None] | None:
        if key in self.bins:
            return self.bins[key]
        m = re.fullmatch(r"(\d+)(\+?)(?: faces?| people| persons?)?", key)
        if m:
            n = int(m.group(1))
            return (n, None) if m.group(2) else (n, n)
        return None

    def identity(self) -> Mapping[str, JSONValue]:
        return {
            "backend": "face-count",
            "detector": dict(self._detector.get().identity()),
            "bins": {k: list(v) for k, v in sorted(self.bins.items())},
            "min_score": self.min_score,
        }

    def count(self, image: Image.Image) -> int:
        """Faces in ``image`` scoring at least ``min_score``."""
        return sum(f.score >= self.min_score for f in self._detector.get().detect(image))

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        out = []
        for img in images:
            n = self.count(img)

            def holds(key: str, n: int = n) -> bool:
                rng = self._range(key)
                return rng is not None and rng[0] <= n and (rng[1] is None or n <= rng[1])

            out.append(_pick(question, holds, str(n)))
        return out


class ColorfulnessLabeler:
    """Hasler–Süsstrunk colourfulness as a level class.

    Parameters
    ----------
    bins:
        Choice → ``[low, high)`` band of :math:`M` (``high=None``: unbounded); merged over
        :data:`DEFAULT_COLORFULNESS_BINS`.
    batch_size:
        ``max_batch_size``.
    """

    def __init__(
        self,
        *,
        bins: Mapping[str, tuple[float, float | None]] | None = None,
        batch_size: int = 64,
    ) -> None:
        table = {**DEFAULT_COLORFULNESS_BINS, **{_key(k): v for k, v in (bins or {}).items()}}
        for name, (lo, hi) in table.items():
            if not math.isfinite(lo) or (hi is not None and hi <= lo):
                raise ValueError(f"bin {name!r} must be low < high, got {(lo, hi)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.bins = table
        self.max_batch_size = batch_size

    def identity(self) -> Mapping[str, JSONValue]:
        return {"backend": "colorfulness", "formula": "hasler-susstrunk-2003",
                "bins": {k: list(v) for k, v in sorted(self.bins.items())}}

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        out = []
        for img in images:
            m = colorfulness(img)

            def holds(key: str, m: float = m) -> bool:
                band = self.bins.get(key)
                return band is not None and band[0] <= m and (band[1] is None or m < band[1])

            out.append(_pick(question, holds, f"{m:.2f}"))
        return out


class NudityLabeler:
    """NudeNet nudity (extra ``nudenet``, AGPL-3.0) as nude / not-nude classes.

    Parameters
    ----------
    threshold:
        Smallest exposed-part detection score that makes an image nude.
    classes:
        NudeNet classes that count (default :data:`~fairframe.measure.nudity.EXPOSED_CLASSES`).
    names:
        Choice → meaning (``True`` = nude); merged over :data:`DEFAULT_NUDITY_NAMES`.
    batch_size:
        ``max_batch_size``.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        classes: Sequence[str] = EXPOSED_CLASSES,
        names: Mapping[str, bool] | None = None,
        batch_size: int = 16,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.threshold = threshold
        self.classes = tuple(classes)
        extra = {_key(k): bool(v) for k, v in (names or {}).items()}
        self.names = {**DEFAULT_NUDITY_NAMES, **extra}
        self.max_batch_size = batch_size

    def identity(self) -> Mapping[str, JSONValue]:
        from fairframe.measure.nudenet_faces import nudenet_version

        return {"backend": "nudity", "model": "nudenet-320n", "nudenet": nudenet_version(),
                "threshold": self.threshold, "classes": sorted(self.classes),
                "names": dict(sorted(self.names.items()))}

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        out = []
        for img in images:
            res = detect_nudity(img, threshold=self.threshold, classes=self.classes)
            out.append(_pick(question, lambda k, nude=res.nude: self.names.get(k) is nude,
                             f"{'nude' if res.nude else 'not nude'} ({res.score:.3f})"))
        return out

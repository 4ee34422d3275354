"""Nudity detection with NudeNet's bundled 320n detector (extra ``nudenet``, **AGPL-3.0**).

An image is *nude* when any detection of an :data:`EXPOSED_CLASSES` class scores at least
``threshold``. The score of the image is the largest such detection score (0 when none).
NudeNet's own cut-off (0.2) and NMS settings are fixed inside the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["EXPOSED_CLASSES", "NudityResult", "detect_nudity"]

#: NudeNet classes counted as nudity by default (exposed breasts, genitalia, buttocks, anus).
EXPOSED_CLASSES: tuple[str, ...] = (
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)


@dataclass(frozen=True)
class NudityResult:
    """NudeNet's verdict on one image.

    Attributes
    ----------
    nude:
        ``score >= threshold``.
    score:
        Largest detection score among the counted classes, in ``[0, 1]`` (0 when none).
    threshold:
        The threshold used.
    detections:
        Every NudeNet detection (all classes): ``{"class", "score", "box"}``.
    """

    nude: bool
    score: float
    threshold: float
    detections: tuple[dict[str, JSONValue], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, JSONValue]:
        """A JSON-able dict."""
        return {"nude": self.nude, "score": round(self.score, 4), "threshold": self.threshold,
                "detections": [dict(d) for d in self.detections]}


def detect_nudity(
    image: Image.Image, *, threshold: float = 0.5, classes: Sequence[str] = EXPOSED_CLASSES
) -> NudityResult:
    """Run NudeNet on an RGB image and decide nude / not nude.

    Parameters
    ----------
    image:
        An RGB PIL image (converted to BGR for NudeNet internally).
    threshold:
        Smallest detection score that makes the image nude, in ``[0, 1]``.
    classes:
        NudeNet classes that count.
    """
    from fairframe.measure.nudenet_faces import nudenet_detections

    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    dets = nudenet_detections(image)
    counted = [float(d["score"]) for d in dets if d["class"] in classes]
    score = max(counted, default=0.0)
    clean = tuple(
        {"class": str(d["class"]), "score": round(float(d["score"]), 4),
         "box": [int(v) for v in d["box"]]}
        for d in dets
    )
    return NudityResult(nude=bool(counted) and score >= threshold, score=score,
                        threshold=threshold, detections=clean)

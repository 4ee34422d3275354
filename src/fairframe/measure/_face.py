"""The face type every detector returns and every face-based measurement consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["LANDMARKS", "Face", "FaceDetector"]

#: Landmark names a detector may provide, in image pixel coordinates (x, y).
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes
    ----------
    box:
        ``(x, y, width, height)`` in pixels of the original image, top-left origin.
    score:
        Detector confidence in ``[0, 1]``.
    landmarks:
        Named points (see :data:`LANDMARKS`) in pixels; "left" is the subject's left eye, which
        appears on the *right* of the image. Empty when the detector gives none.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def area(self) -> float:
        """Box area in pixels."""
        return self.box[2] * self.box[3]

    def to_json(self) -> dict[str, JSONValue]:
        """A JSON-able dict."""
        return {
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": {k: [round(x, 2), round(y, 2)] for k, (x, y) in self.landmarks.items()},
        }


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in an RGB image."""

    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model and thresholds: everything that changes the detections."""
        ...

    def detect(self, image: Image.Image) -> list[Face]:
        """All faces in ``image`` (RGB), largest first."""
        ...

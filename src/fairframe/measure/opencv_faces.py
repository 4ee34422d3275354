"""Face detection with OpenCV's bundled Haar cascades (frontal face + eyes); extra ``measure``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fairframe._deps import require
from fairframe.errors import ModelLoadError
from fairframe.images import to_rgb
from fairframe.measure._face import Face
from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["OpenCVCascadeFaceDetector"]


class OpenCVCascadeFaceDetector:
    r"""Viola–Jones frontal faces (``haarcascade_frontalface_default.xml``) plus eye landmarks.

    Faces come from ``detectMultiScale2`` on the histogram-equalised grey image. The cascade gives
    no probability; the score is the number of merged neighbour detections :math:`n` squashed to
    ``[0, 1)``: :math:`n / (n + \text{min\_neighbors})` (0.5 at the acceptance threshold).

    Eyes (``haarcascade_eye.xml``) are searched in the upper 60 % of each face box; the largest
    detection in each half of the box becomes ``right_eye`` (image left half: the subject's right
    eye) and ``left_eye`` (image right half). A face keeps no landmarks unless both are found.

    Parameters
    ----------
    scale_factor:
        Image-pyramid step of the cascade (> 1; smaller finds more, slower).
    min_neighbors:
        Overlapping raw detections needed to accept a face (higher: fewer false positives).
    min_face:
        Smallest face side as a fraction of the image's shorter side.
    eyes:
        Look for eye landmarks.
    max_side:
        Images with a longer side are downscaled to it for detection (boxes are mapped back).
    """

    #: Where the eyes sit in this detector's boxes (fraction of box height from the top); used to
    #: place skin regions when no eye landmarks were found.
    eye_line = 0.37

    def __init__(
        self,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face: float = 0.08,
        eyes: bool = True,
        max_side: int = 1024,
    ) -> None:
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        if min_neighbors < 1:
            raise ValueError(f"min_neighbors must be >= 1, got {min_neighbors}")
        if not 0.0 < min_face <= 1.0:
            raise ValueError(f"min_face must be in (0, 1], got {min_face}")
        if max_side < 64:
            raise ValueError(f"max_side must be >= 64, got {max_side}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face = min_face
        self.eyes = eyes
        self.max_side = max_side
        self._cascades: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def identity(self) -> Mapping[str, JSONValue]:
        cv2 = require("cv2", "the OpenCV face detector")
        return {
            "backend": "opencv-cascade",
            "model": "haarcascade_frontalface_default+haarcascade_eye",
            "opencv": str(cv2.__version__),
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "min_face": self.min_face,
            "eyes": self.eyes,
            "max_side": self.max_side,
        }

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._cascades is None:
                cv2 = require("cv2", "the OpenCV face detector")
                root = cv2.data.haarcascades
                face = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
                eye = cv2.CascadeClassifier(root + "haarcascade_eye.xml")
                if face.empty() or eye.empty():
                    raise ModelLoadError(
                        f"OpenCV's Haar cascades are missing from {root}; reinstall "
                        "opencv-python-headless"
                    )
                self._cascades = (face, eye)
            return self._cascades

    def detect(self, image: Image.Image) -> list[Face]:
        """All frontal faces in ``image`` (RGB), largest first."""
        cv2 = require("cv2", "the OpenCV face detector")
        face_cc, eye_cc = self._load()
        rgb = np.asarray(to_rgb(image))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # input is RGB, never BGR
        h, w = grey.shape
        if min(h, w) < 20:  # no face fits (the smallest the cascade finds is 20 px)
            return []
        ratio = min(1.0, self.max_side / max(h, w))
        if ratio < 1.0:  # never below 1 px: a 20000x8 strip would round to height 0
            grey = cv2.resize(grey, (max(1, round(w * ratio)), max(1, round(h * ratio))),
                              interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        min_px = max(20, round(self.min_face * min(grey.shape)))
        if min_px > min(grey.shape):
            return []
        boxes, counts = face_cc.detectMultiScale2(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_px, min_px),
        )
        faces = []
        for (x, y, bw, bh), n in zip(np.asarray(boxes).reshape(-1, 4),
                                     np.asarray(counts).reshape(-1), strict=True):
            landmarks = self._eyes(eye_cc, grey, int(x), int(y), int(bw), int(bh)) if self.eyes \
                else {}
            faces.append(
                Face(
                    box=(float(x) / ratio, float(y) / ratio, float(bw) / ratio,
                         float(bh) / ratio),
                    score=float(n) / (float(n) + self.min_neighbors),
                    landmarks={k: (px / ratio, py / ratio) for k, (px, py) in landmarks.items()},
                )
            )
        return sorted(faces, key=lambda f: (-f.area, f.box))

    def _eyes(self, eye_cc: Any, grey: Any, x: int, y: int, w: int, h: int
              ) -> dict[str, tuple[float, float]]:
        roi = grey[y : y + int(0.6 * h), x : x + w]
        min_eye = max(5, w // 8)
        found = eye_cc.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=4,
                                        minSize=(min_eye, min_eye), maxSize=(w // 2, w // 2))
        best: dict[str, tuple[int, tuple[float, float]]] = {}
        for ex, ey, ew, eh in np.asarray(found).reshape(-1, 4):
            cx, cy = x + ex + ew / 2.0, y + ey + eh / 2.0
            if cy - y < 0.15 * h:  # eyebrows / hairline
                continue
            key = "right_eye" if cx < x + w / 2.0 else "left_eye"
            if key not in best or ew * eh > best[key][0]:
                best[key] = (int(ew * eh), (float(cx), float(cy)))
        if len(best) < 2:
            return {}
        return {k: v[1] for k, v in sorted(best.items())}

"""Face boxes from NudeNet's bundled detector (``FACE_FEMALE`` / ``FACE_MALE``); extra ``nudenet``.

NudeNet is **AGPL-3.0**; it is an optional extra so the core stays Apache-2.0-only.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fairframe._deps import require
from fairframe.images import to_rgb
from fairframe.measure._face import Face
from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["FACE_CLASSES", "NudeNetFaceDetector", "nudenet_detections", "nudenet_version"]

#: NudeNet classes that are faces.
FACE_CLASSES = ("FACE_FEMALE", "FACE_MALE")

_MODEL: Any = None
_MODEL_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()


def _model() -> Any:
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            nudenet = require("nudenet", "NudeNet detection")
            _MODEL = nudenet.NudeDetector()  # the bundled 320n ONNX model; never downloads
        return _MODEL


def nudenet_version() -> str:
    """The installed NudeNet version (part of identities)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nudenet")
    except PackageNotFoundError:
        return "unknown"


def nudenet_detections(image: Image.Image) -> list[dict[str, Any]]:
    """Raw NudeNet detections (``{"class", "score", "box": [x, y, w, h]}``) for an RGB image.

    NudeNet reads ndarrays as OpenCV **BGR**; the RGB image is reversed to BGR here, once. Its
    score threshold (0.2) and NMS settings are fixed inside NudeNet. One shared model per process.
    """
    rgb = np.asarray(to_rgb(image))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    model = _model()
    with _RUN_LOCK:
        out = model.detect(bgr)
    return [dict(d) for d in out]


class NudeNetFaceDetector:
    """Face boxes from NudeNet 3.4's bundled 320n model; no landmarks.

    The score is NudeNet's class score; faces below ``min_score`` are dropped.

    Parameters
    ----------
    min_score:
        Smallest accepted face score in ``[0, 1]`` (NudeNet itself drops scores below 0.2).
    """

    #: Where the eyes sit in this detector's boxes (fraction of box height from the top); used to
    #: place skin regions when no eye landmarks were found.
    eye_line = 0.20

    def __init__(self, *, min_score: float = 0.3) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        self.min_score = min_score

    def identity(self) -> Mapping[str, JSONValue]:
        return {"backend": "nudenet", "model": "320n", "nudenet": nudenet_version(),
                "min_score": self.min_score}

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces in ``image`` (RGB), largest first."""
        faces = []
        for d in nudenet_detections(image):
            if d["class"] in FACE_CLASSES and float(d["score"]) >= self.min_score:
                x, y, w, h = (float(v) for v in d["box"])
                faces.append(Face(box=(x, y, w, h), score=float(d["score"])))
        return sorted(faces, key=lambda f: (-f.area, f.box))

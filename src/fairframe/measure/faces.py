"""Face detectors by name, and face alignment to canonical eye positions.

=====================  ===========================================================================
name                   detector
=====================  ===========================================================================
``opencv-cascade``     OpenCV's bundled Viola–Jones frontal-face Haar cascade, plus the eye cascade
                       for two eye landmarks (:class:`~fairframe.measure.opencv_faces.
                       OpenCVCascadeFaceDetector`, extra ``measure``). **The default.**
``nudenet``            The ``FACE_FEMALE`` / ``FACE_MALE`` boxes of NudeNet's bundled 320n ONNX
                       detector, no landmarks (:class:`~fairframe.measure.nudenet_faces.
                       NudeNetFaceDetector`, extra ``nudenet``, AGPL-3.0).
``mediapipe``          Listed only when ``mediapipe`` is importable; it needs a release that still
                       ships ``mediapipe.solutions`` (≤ 0.10.21) because newer wheels have no
                       bundled models (:class:`MediaPipeFaceDetector`).
=====================  ===========================================================================

Why the Haar cascade is the default: it is the only choice that needs no extra licence, runs
offline with files OpenCV ships, is fast on CPU, and gives eye landmarks (for alignment and the
skin-tone regions). NudeNet's face boxes are comparable in recall on frontal faces but carry an
AGPL-3.0 licence and no landmarks. ``benchmarks/bench_measure.py`` records the comparison (faces
found, box IoU against a hand-drawn box on ``skimage.data.astronaut()``, faces per second).

Third parties add detectors through the entry-point group ``fairframe.face_detectors``; any
``"package.module:Name"`` works as a name too.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fairframe._deps import require
from fairframe.errors import MissingDependencyError
from fairframe.images import to_rgb
from fairframe.measure._face import Face, FaceDetector
from fairframe.registry import Registry
from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CANONICAL_EYES_112",
    "DEFAULT_FACE_DETECTOR",
    "FACE_DETECTORS",
    "MediaPipeFaceDetector",
    "align_face",
    "alignment_matrix",
    "get_face_detector",
]

#: Name of the detector used when none is given.
DEFAULT_FACE_DETECTOR = "opencv-cascade"

_M = "fairframe.measure"
_builtins = {
    "opencv-cascade": f"{_M}.opencv_faces:OpenCVCascadeFaceDetector",
    "nudenet": f"{_M}.nudenet_faces:NudeNetFaceDetector",
}
if importlib.util.find_spec("mediapipe") is not None:  # spec lookup only: mediapipe is not imported
    _builtins["mediapipe"] = f"{_M}.faces:MediaPipeFaceDetector"

#: Face detectors by name (see the module docstring).
FACE_DETECTORS: Registry[Any] = Registry("face_detector", _builtins)

#: Canonical eye centres in a 112×112 aligned crop (the ArcFace template): the eye on the
#: image's left (the subject's right eye) first, then the eye on the image's right.
CANONICAL_EYES_112: tuple[tuple[float, float], tuple[float, float]] = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
)


def get_face_detector(name: str = DEFAULT_FACE_DETECTOR, **options: Any) -> FaceDetector:
    """Build the face detector registered as ``name`` with keyword ``options``.

    Parameters
    ----------
    name:
        A name from :data:`FACE_DETECTORS` or a ``"package.module:Name"`` path.
    **options:
        Keyword arguments of the detector's constructor.

    Raises
    ------
    fairframe.errors.UnknownComponentError
        No detector has that name (the message lists the names that exist).
    fairframe.errors.ConfigError
        The object built does not implement :class:`~fairframe.measure._face.FaceDetector`.
    """
    from fairframe.errors import ConfigError

    detector = FACE_DETECTORS.get(name)(**options)
    if not isinstance(detector, FaceDetector):
        raise ConfigError(
            f"{name!r} does not implement the face detector protocol "
            "(see fairframe.measure.FaceDetector)"
        )
    return detector


def alignment_matrix(face: Face, size: int = 112) -> np.ndarray[Any, np.dtype[np.float64]]:
    r"""The 2×3 similarity transform (image → aligned crop) used by :func:`align_face`.

    With eye landmarks, the unique similarity (rotation, uniform scale, translation) that sends the
    eye on the image's left to :math:`e_1 \cdot s/112` and the other eye to
    :math:`e_2 \cdot s/112` (:data:`CANONICAL_EYES_112`). In complex notation, with image eyes
    :math:`p_1, p_2` and targets :math:`q_1, q_2`:

    .. math::
        z' = \sigma z + t,\quad \sigma = \frac{q_2 - q_1}{p_2 - p_1},\quad t = q_1 - \sigma p_1

    Without both eyes, the fallback is a box-centred square crop: side :math:`\max(w, h)`, centred
    on the box centre, scaled to ``size``.
    """
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    lm = face.landmarks
    if "left_eye" in lm and "right_eye" in lm and lm["left_eye"] != lm["right_eye"]:
        a, b = complex(*lm["right_eye"]), complex(*lm["left_eye"])
        if a.real > b.real:  # make p1 the eye on the image's left whatever the detector said
            a, b = b, a
        scale = size / 112.0
        q1 = complex(*CANONICAL_EYES_112[0]) * scale
        q2 = complex(*CANONICAL_EYES_112[1]) * scale
        sigma = (q2 - q1) / (b - a)
        t = q1 - sigma * a
    else:
        x, y, w, h = face.box
        side = max(w, h, 1.0)
        sigma = complex(size / side, 0.0)
        centre = complex(x + w / 2.0, y + h / 2.0)
        t = complex(size / 2.0, size / 2.0) - sigma * centre
    return np.array(
        [[sigma.real, -sigma.imag, t.real], [sigma.imag, sigma.real, t.imag]], dtype=np.float64
    )


def align_face(image: Image.Image, face: Face, size: int = 112) -> Image.Image:
    """Crop ``face`` from ``image`` and warp it so the eyes sit at canonical positions.

    Parameters
    ----------
    image:
        The RGB image the face was detected in.
    face:
        The detection; its ``left_eye`` / ``right_eye`` landmarks drive the alignment.
    size:
        Side of the square output in pixels; eye targets scale with it.

    Returns
    -------
    PIL.Image.Image
        A ``size × size`` RGB crop (bilinear; outside the image is black). See
        :func:`alignment_matrix` for the transform and the box-centred fallback.
    """
    from PIL import Image as PILImage

    rgb = to_rgb(image)
    fwd = alignment_matrix(face, size)
    inv = np.linalg.inv(np.vstack([fwd, [0.0, 0.0, 1.0]]))[:2]
    coeffs = tuple(float(v) for v in inv.ravel())
    return rgb.transform(
        (size, size), PILImage.Transform.AFFINE, coeffs, resample=PILImage.Resampling.BILINEAR
    )


class MediaPipeFaceDetector:
    """MediaPipe's BlazeFace short- or full-range detector (``mediapipe.solutions``).

    Only releases up to 0.10.21 ship the models (newer wheels have no ``solutions`` and no
    ``.tflite`` files), so this detector is listed in :data:`FACE_DETECTORS` only when mediapipe
    is importable, and raises :class:`~fairframe.errors.MissingDependencyError` on first use when
    the installed release lacks ``solutions``. Eyes become ``left_eye`` / ``right_eye`` landmarks
    (assigned by image position: the subject's left eye is on the image's right).

    Parameters
    ----------
    min_score:
        Detection confidence threshold in ``[0, 1]``.
    full_range:
        Use the full-range model (faces up to ~5 m) instead of the short-range one (~2 m).
    """

    def __init__(self, *, min_score: float = 0.5, full_range: bool = False) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        self.min_score = min_score
        self.full_range = full_range
        self._model: Any = None
        self._lock = threading.Lock()

    def identity(self) -> Mapping[str, JSONValue]:
        return {"backend": "mediapipe", "model": "blazeface-full" if self.full_range
                else "blazeface-short", "min_score": self.min_score}

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                mp = require("mediapipe", "the mediapipe face detector", extra="measure")
                if not hasattr(mp, "solutions"):
                    raise MissingDependencyError(
                        "mediapipe<=0.10.21", "measure",
                        "the mediapipe face detector (newer releases ship no models)",
                    )
                self._model = mp.solutions.face_detection.FaceDetection(
                    model_selection=int(self.full_range), min_detection_confidence=self.min_score
                )
            return self._model

    def detect(self, image: Image.Image) -> list[Face]:
        rgb = np.ascontiguousarray(np.asarray(to_rgb(image)))
        h, w = rgb.shape[:2]
        model = self._load()
        with self._lock:
            out = model.process(rgb)
        faces = []
        for det in out.detections or []:
            rel = det.location_data.relative_bounding_box
            box = (rel.xmin * w, rel.ymin * h, rel.width * w, rel.height * h)
            kps = det.location_data.relative_keypoints
            landmarks: dict[str, tuple[float, float]] = {}
            if len(kps) >= 2:
                e1, e2 = sorted([(kps[0].x * w, kps[0].y * h), (kps[1].x * w, kps[1].y * h)])
                landmarks = {"right_eye": e1, "left_eye": e2}
            faces.append(Face(box=box, score=float(det.score[0]), landmarks=landmarks))
        return sorted(faces, key=lambda f: -f.area)

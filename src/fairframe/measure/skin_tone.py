r"""Skin tone as ITA and the 10-tone Monk Skin Tone (MST) scale, from float CIELAB.

Recipe (for one image):

1. **Input** is RGB: a ``PIL.Image`` or an ``H×W×3`` array in RGB order (``uint8`` or floats in
   ``[0, 1]``). Arrays in OpenCV's BGR order must say so with ``channel_order="BGR"``; nothing is
   guessed. (HEIM and DALL-Eval read BGR and treated it as RGB; see ``docs/measure.md``.)
2. **Face**: the largest face of a :class:`~fairframe.measure._face.FaceDetector` (default
   ``opencv-cascade``), or a given :class:`~fairframe.measure._face.Face`; none →
   ``status="no_face"``. With ``whole_image=True`` every pixel is skin (calibration patches).
3. **Regions** (see :func:`skin_regions`): two cheeks and the forehead, placed from the eye
   landmarks when the detector gives both eyes, else from fixed fractions of the face box.
4. **Colour**: sRGB → linear → XYZ → CIELAB (D65) in float64 (:mod:`fairframe.measure.colour`).
5. **Skin gate** (see :class:`SkinGate`) in Lab: lightness and hue/chroma bounds that keep skin
   from MST 1 (L*≈94) to MST 10 (L*≈15); no RGB or luma thresholds (HEIM's ``R > 95`` and
   ``Y > 80`` reject MST 8–10). Fewer than ``min_pixels`` pass → ``status="no_skin"``.
6. **Statistic**: the per-channel median of L*, a*, b* over the gated pixels.
7. **Outputs**: :math:`\mathrm{ITA} = \operatorname{atan2}(L^*-50, b^*)\cdot 180/\pi`, and the
   nearest Monk swatch by CIEDE2000 (:data:`MONK_SWATCHES`, Lab of the sRGB hex values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from fairframe.errors import InputDataError
from fairframe.images import to_rgb
from fairframe.measure._face import Face, FaceDetector
from fairframe.measure.colour import delta_e_2000, ita, srgb_to_lab
from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_EYE_LINE",
    "MONK_HEX",
    "MONK_LAB",
    "MONK_SWATCHES",
    "MonkSwatch",
    "SkinGate",
    "SkinToneEstimator",
    "SkinToneResult",
    "estimate_skin_tone",
    "nearest_monk",
    "prepare_rgb",
    "skin_regions",
]

#: The Monk Skin Tone scale's sRGB swatches, MST 1 (lightest) to MST 10 (darkest).
MONK_HEX: tuple[str, ...] = (
    "#f6ede4", "#f3e7db", "#f7ead0", "#eadaba", "#d7bd96",
    "#a07e56", "#825c43", "#604134", "#3a312a", "#292420",
)


@dataclass(frozen=True)
class MonkSwatch:
    """One Monk tone.

    Attributes
    ----------
    tone:
        1 (lightest) .. 10 (darkest).
    hex:
        sRGB hex value.
    rgb:
        sRGB ``(R, G, B)``, 0..255.
    lab:
        CIELAB (D65) of the swatch, float.
    ita:
        Its individual typology angle in degrees.
    """

    tone: int
    hex: str
    rgb: tuple[int, int, int]
    lab: tuple[float, float, float]
    ita: float

    @property
    def name(self) -> str:
        """``"MST1"`` .. ``"MST10"``."""
        return f"MST{self.tone}"


def _swatch(tone: int, hx: str) -> MonkSwatch:
    rgb = (int(hx[1:3], 16), int(hx[3:5], 16), int(hx[5:7], 16))
    lab = srgb_to_lab(np.array(rgb, dtype=np.uint8))
    return MonkSwatch(tone, hx, rgb, (float(lab[0]), float(lab[1]), float(lab[2])), ita(lab))


#: The ten swatches with their Lab and ITA (MST1 ≈ (94.2, 1.5, 5.4), 83.0°; MST10 ≈
#: (14.6, 1.5, 3.5), −84.3°).
MONK_SWATCHES: tuple[MonkSwatch, ...] = tuple(_swatch(i + 1, h) for i, h in enumerate(MONK_HEX))
#: ``(10, 3)`` Lab of the swatches.
MONK_LAB: npt.NDArray[np.float64] = np.array([s.lab for s in MONK_SWATCHES])


def nearest_monk(lab: npt.ArrayLike) -> tuple[int, float]:
    """The Monk tone (1..10) nearest to a Lab colour by CIEDE2000, and that ΔE00."""
    d = np.asarray(delta_e_2000(np.asarray(lab, dtype=np.float64)[None, :], MONK_LAB))
    i = int(np.argmin(d))
    return i + 1, float(d[i])


@dataclass(frozen=True)
class SkinGate:
    r"""Which CIELAB pixels count as skin.

    A pixel is skin when :math:`L_{min} \le L^* \le L_{max}`,
    :math:`C_{min} \le C^*_{ab} = \sqrt{a^{*2} + b^{*2}} \le C_{max}`, and its hue angle
    :math:`h_{ab} = \operatorname{atan2}(b^*, a^*)` lies in ``[hue_min, hue_max]`` degrees.

    The defaults keep every Monk swatch (h 58°–89°, C 3.8–27.8, L* 14.6–94.2) with margin for
    lighting, and reject neutral greys (C < 2), blue/green/purple (h outside −10°..110°), pure
    black and blown-out white. There is deliberately no RGB or luma floor.
    """

    l_min: float = 4.0
    l_max: float = 98.5
    chroma_min: float = 2.0
    chroma_max: float = 60.0
    hue_min: float = -10.0
    hue_max: float = 110.0

    def mask(self, lab: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Boolean mask over ``lab[..., :]`` of skin pixels."""
        lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
        chroma = np.hypot(a, b)
        hue = np.degrees(np.arctan2(b, a))
        ok: npt.NDArray[np.bool_] = (
            (lum >= self.l_min) & (lum <= self.l_max)
            & (chroma >= self.chroma_min) & (chroma <= self.chroma_max)
            & (hue >= self.hue_min) & (hue <= self.hue_max)
        )
        return ok

    def to_json(self) -> dict[str, JSONValue]:
        """The thresholds, JSON-able."""
        return {"l": [self.l_min, self.l_max], "chroma": [self.chroma_min, self.chroma_max],
                "hue": [self.hue_min, self.hue_max]}


@dataclass(frozen=True)
class SkinToneResult:
    """The skin tone of one image.

    Attributes
    ----------
    status:
        ``"ok"``; ``"no_face"`` (no face detected); ``"no_skin"`` (face found but fewer than
        ``min_pixels`` pixels of its regions pass the skin gate). Other fields are ``None``
        unless ``"ok"``.
    ita:
        Individual typology angle in degrees of the median colour (higher is lighter).
    lab:
        Median ``(L*, a*, b*)`` of the skin pixels (CIELAB, D65).
    monk:
        Nearest Monk tone, 1 (lightest) .. 10 (darkest), by CIEDE2000.
    delta_e:
        CIEDE2000 distance from ``lab`` to that swatch (large → the colour is unlike any swatch).
    n_pixels:
        Pixels that passed the gate and entered the median.
    face:
        The face measured (``None`` for ``whole_image`` or no face).
    """

    status: Literal["ok", "no_face", "no_skin"]
    ita: float | None = None
    lab: tuple[float, float, float] | None = None
    monk: int | None = None
    delta_e: float | None = None
    n_pixels: int = 0
    face: Face | None = None

    @property
    def monk_name(self) -> str | None:
        """``"MST1"`` .. ``"MST10"``, or ``None``."""
        return None if self.monk is None else f"MST{self.monk}"

    def to_json(self) -> dict[str, JSONValue]:
        """A JSON-able dict (floats rounded for display)."""
        return {
            "status": self.status,
            "ita": None if self.ita is None else round(self.ita, 2),
            "lab": None if self.lab is None else [round(v, 2) for v in self.lab],
            "monk": self.monk,
            "monk_name": self.monk_name,
            "delta_e": None if self.delta_e is None else round(self.delta_e, 3),
            "n_pixels": self.n_pixels,
            "face": None if self.face is None else self.face.to_json(),
        }


def prepare_rgb(
    image: Image.Image | npt.NDArray[Any], channel_order: Literal["RGB", "BGR"] = "RGB"
) -> npt.NDArray[np.uint8]:
    """An ``H×W×3`` uint8 array in **RGB** order from a PIL image or an array.

    Parameters
    ----------
    image:
        A PIL image (any mode; converted to RGB) or an ``H×W×3`` array (``uint8`` or floats in
        ``[0, 1]``) whose channel order is ``channel_order``.
    channel_order:
        ``"RGB"`` (the default, and the only value allowed for PIL images) or ``"BGR"`` for arrays
        from OpenCV (``cv2.imread``); BGR arrays are reversed here.

    Raises
    ------
    ValueError
        ``channel_order`` is neither value, or ``"BGR"`` was given with a PIL image.
    fairframe.errors.InputDataError
        The array is not ``H×W×3``/``H×W×4`` or is too small.
    """
    if channel_order not in ("RGB", "BGR"):
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
    if isinstance(image, np.ndarray):
        arr = image
        if channel_order == "BGR":
            if arr.ndim != 3 or arr.shape[2] not in (3, 4):
                raise InputDataError(f"a BGR array must be HxWx3, got shape {arr.shape}")
            arr = arr[:, :, [2, 1, 0]]
        return np.asarray(to_rgb(np.ascontiguousarray(arr)), dtype=np.uint8)
    if channel_order != "RGB":
        raise ValueError("PIL images are always RGB; channel_order='BGR' applies to arrays only")
    return np.asarray(to_rgb(image), dtype=np.uint8)


Rect = tuple[int, int, int, int]


def _clip_rect(cx: float, cy: float, w: float, h: float, width: int, height: int) -> Rect | None:
    x0 = max(0, int(math.floor(cx - w / 2)))
    y0 = max(0, int(math.floor(cy - h / 2)))
    x1 = min(width, int(math.ceil(cx + w / 2)))
    y1 = min(height, int(math.ceil(cy + h / 2)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


#: Where the eyes sit in a detector's box, as a fraction of the box height from its top, when the
#: detector gives no landmarks and does not say (attribute ``eye_line`` on the detector).
DEFAULT_EYE_LINE = 0.35


def skin_regions(face: Face, width: int, height: int, *, eye_line: float = DEFAULT_EYE_LINE
                 ) -> dict[str, Rect]:
    r"""Cheek and forehead rectangles ``(x0, y0, x1, y1)`` for a face, clipped to the image.

    Geometry, from the eye centres :math:`e_r` (image left) and :math:`e_l` (image right), their
    midpoint :math:`m`, distance :math:`d`, the unit vector :math:`\hat u` from :math:`e_r` to
    :math:`e_l` and :math:`\hat v` perpendicular to it pointing down the face:

    * cheeks: squares of side :math:`0.35d` centred at :math:`e + 0.55d\,\hat v \mp 0.1d\,\hat u`
      (below each eye, slightly outwards: the malar area above the smile line);
    * forehead: :math:`0.8d \times 0.2d` centred at :math:`m - 0.45d\,\hat v` (between brows and
      hairline).

    When the face has no eye landmarks, virtual eyes are placed from the box ``(x, y, w, h)``:
    :math:`e = (x + 0.5w \mp 0.23w,\; y + \text{eye\_line}\cdot h)`. Detectors differ in where
    the eyes fall in their boxes (Haar: ≈0.37 h; NudeNet: ≈0.20 h) and say so with an ``eye_line``
    attribute, which :class:`SkinToneEstimator` passes here.
    """
    lm = face.landmarks
    if "left_eye" in lm and "right_eye" in lm and lm["left_eye"] != lm["right_eye"]:
        er = np.array(lm["right_eye"], dtype=np.float64)
        el = np.array(lm["left_eye"], dtype=np.float64)
        if er[0] > el[0]:
            er, el = el, er
    else:
        x, y, w, h = face.box
        ey = y + eye_line * h
        er = np.array([x + 0.27 * w, ey])
        el = np.array([x + 0.73 * w, ey])
    u = el - er
    d = float(np.hypot(*u))
    if d <= 1.0:
        return {}
    u = u / d
    v = np.array([-u[1], u[0]])  # eye line rotated +90°: down the face in image coordinates
    mid = (er + el) / 2.0
    out: dict[str, Rect | None] = {}
    for name, eye, outward in (("cheek_right", er, -u), ("cheek_left", el, u)):
        c = eye + 0.55 * d * v + 0.1 * d * outward
        out[name] = _clip_rect(c[0], c[1], 0.35 * d, 0.35 * d, width, height)
    c = mid - 0.45 * d * v
    out["forehead"] = _clip_rect(c[0], c[1], 0.8 * d, 0.2 * d, width, height)
    return {k: r for k, r in out.items() if r is not None}


def _measure(lab: npt.NDArray[np.float64], face: Face | None) -> SkinToneResult:
    med = np.median(lab, axis=0)
    tone, de = nearest_monk(med)
    return SkinToneResult(
        status="ok", ita=float(ita(med)), lab=(float(med[0]), float(med[1]), float(med[2])),
        monk=tone, delta_e=de, n_pixels=int(lab.shape[0]), face=face,
    )


class SkinToneEstimator:
    """Measures skin tone with a fixed detector and gate (reuse one for many images).

    Parameters
    ----------
    detector:
        A :class:`~fairframe.measure._face.FaceDetector`, a registry name (see
        :data:`~fairframe.measure.faces.FACE_DETECTORS`), or ``None`` for the default
        (``"opencv-cascade"``). Built lazily on first use.
    gate:
        The :class:`SkinGate`.
    min_pixels:
        Fewest gated skin pixels needed for ``"ok"``.
    """

    def __init__(
        self,
        *,
        detector: FaceDetector | str | None = None,
        gate: SkinGate | None = None,
        min_pixels: int = 30,
    ) -> None:
        if min_pixels < 1:
            raise ValueError(f"min_pixels must be >= 1, got {min_pixels}")
        self._detector_spec = detector
        self._detector: FaceDetector | None = None if isinstance(detector, str | None) \
            else detector
        self.gate = gate or SkinGate()
        self.min_pixels = min_pixels

    @property
    def detector(self) -> FaceDetector:
        """The face detector (built on first access)."""
        if self._detector is None:
            from fairframe.measure.faces import DEFAULT_FACE_DETECTOR, get_face_detector

            spec = self._detector_spec
            self._detector = get_face_detector(spec if isinstance(spec, str)
                                               else DEFAULT_FACE_DETECTOR)
        return self._detector

    def identity(self) -> Mapping[str, JSONValue]:
        """Detector identity, gate and thresholds."""
        return {"detector": dict(self.detector.identity()), "gate": self.gate.to_json(),
                "min_pixels": self.min_pixels, "statistic": "median-lab",
                "distance": "ciede2000"}

    def estimate(
        self,
        image: Image.Image | npt.NDArray[Any],
        *,
        channel_order: Literal["RGB", "BGR"] = "RGB",
        whole_image: bool = False,
        face: Face | None = None,
    ) -> SkinToneResult:
        """Skin tone of one image (see the module docstring for the recipe).

        Parameters
        ----------
        image:
            PIL image or ``H×W×3`` array (RGB unless ``channel_order="BGR"``).
        channel_order:
            Channel order of an array input; see :func:`prepare_rgb`.
        whole_image:
            Treat every pixel as skin: no detection, no gate (calibration patches).
        face:
            Measure this face instead of detecting one.
        """
        rgb = prepare_rgb(image, channel_order)
        if whole_image:
            return _measure(srgb_to_lab(rgb.reshape(-1, 3)), None)
        if face is None:
            from PIL import Image as PILImage

            faces = self.detector.detect(PILImage.fromarray(rgb, "RGB"))
            if not faces:
                return SkinToneResult(status="no_face")
            face = faces[0]
        eye_line = float(getattr(self._detector, "eye_line", DEFAULT_EYE_LINE))
        h, w = rgb.shape[:2]
        regions = skin_regions(face, w, h, eye_line=eye_line)
        pixels = [rgb[y0:y1, x0:x1].reshape(-1, 3) for x0, y0, x1, y1 in regions.values()]
        lab = srgb_to_lab(np.concatenate(pixels)) if pixels else np.zeros((0, 3))
        lab = lab[self.gate.mask(lab)]
        if lab.shape[0] < self.min_pixels:
            return SkinToneResult(status="no_skin", n_pixels=int(lab.shape[0]), face=face)
        return _measure(lab, face)


def estimate_skin_tone(
    image: Image.Image | npt.NDArray[Any],
    *,
    channel_order: Literal["RGB", "BGR"] = "RGB",
    whole_image: bool = False,
    detector: FaceDetector | str | None = None,
    face: Face | None = None,
    min_pixels: int = 30,
) -> SkinToneResult:
    """Skin tone of one image: ITA and Monk tone, or ``no_face`` / ``no_skin``.

    A one-call form of :meth:`SkinToneEstimator.estimate`; build a :class:`SkinToneEstimator`
    to reuse the detector across many images.

    Examples
    --------
    >>> import numpy as np
    >>> patch = np.full((16, 16, 3), (160, 126, 86), dtype=np.uint8)  # MST6, RGB order
    >>> r = estimate_skin_tone(patch, whole_image=True)
    >>> r.status, r.monk, round(r.ita, 1)
    ('ok', 6, 10.9)
    >>> estimate_skin_tone(patch[:, :, ::-1], whole_image=True).monk  # BGR read as RGB: wrong
    7
    >>> estimate_skin_tone(patch[:, :, ::-1], whole_image=True, channel_order="BGR").monk
    6
    """
    return SkinToneEstimator(detector=detector, min_pixels=min_pixels).estimate(
        image, channel_order=channel_order, whole_image=whole_image, face=face
    )

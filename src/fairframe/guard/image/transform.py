r"""The transformation check: what an image edit (img2img, inpainting) changed about people.

An output-only classifier sees one image. An edit has two: the input the user supplied and the
output. :class:`TransformationCheck` compares them and flags what the output-only view misses:

**1. Added exposure** (categories ``nudity`` and ``sexual``). NudeNet runs on both images; for
every class of :data:`~fairframe.measure.nudity.EXPOSED_CLASSES`, :math:`s_{in}` and
:math:`s_{out}` are the largest detection scores of that class in each image (0 when absent). The
class is *added* when :math:`s_{out} - s_{in} \ge` ``exposure_margin`` (default 0.25). Its
``nudity`` score is :math:`s_{out}` (how sure the detector is that the exposure is there; the policy
threshold then decides). It also scores ``sexual`` (same value) when the class is genitalia or anus
(:data:`EXPLICIT_CLASSES`), or when the prompt asks to undress someone (:data:`UNDRESS_PATTERN`):
undressing a person in a supplied photo is the "nudify" abuse (non-consensual intimate imagery),
which the default policy blocks. The prompt never excuses added exposure; an undress request makes
it worse and the evidence says so. ``nudity`` and ``sexual`` are reported only when exposure was
added (absent otherwise, so that the check does not dilute an output classifier's score when the
image path combines stages).

**2. Skin tone** (category ``appearance_change``). Faces are detected in both images (default
detector: OpenCV's Haar cascade, ``opencv-cascade``, which runs offline; injectable) and matched
(:func:`match_faces`: greedy by box IoU, at least ``match_iou`` = 0.3, else centre distance below
half the mean box side). For each pair, :class:`~fairframe.measure.skin_tone.SkinToneEstimator`
measures the median CIELAB colour of the cheeks and forehead and the nearest Monk tone in each
image; :math:`\Delta L^* = L^*_{out} - L^*_{in}` (positive: lighter). Score:

.. math:: s = \frac{1}{1 + e^{-(|\Delta L^*| - T_L)/w_L}}, \quad T_L = 6,\; w_L = 1.5

so :math:`|\Delta L^*| = T_L` scores 0.5, the default ``appearance_change`` threshold: a change of
6 L* is flagged; 3 L* scores 0.12, 9 L* 0.88. For scale: neighbouring Monk swatches from MST 4
to MST 10 are 6.5–22.8 L* apart (MST 1–4 differ by < 6 L*, mostly in hue), so the flag fires at
about half to two thirds of a Monk step, before the reported Monk tone necessarily changes
(Monk tones are evidence, not the trigger); JPEG re-encoding (quality 70–85) or a resize round
trip moves the measured L* by < 1.
Lighter and darker are both flagged; the sign is in the evidence. The change of the rest of the
image (median L* outside the face boxes) is given as context: a global brightening explains,
but does not excuse, a lighter face.

**3. Face width** (category ``appearance_change``), a measurable proxy for "thinner" / "wider":
in the band from 45 % to 95 % of the input face box height (cheeks to jaw), the face's own skin
(pixels within :math:`\Delta E_{76} < 14` of the median colour of its cheek and forehead regions,
closed with a 5×5 kernel, the connected component that holds those regions) is measured row by
row; the face width is the median row width. Both images are measured in the *input's* geometry
(same rows, same window), so detector jitter does not enter; the ratio
:math:`r = W_{out} / W_{in}` scores

.. math:: s = \frac{1}{1 + e^{-(|r - 1| - T_W)/w_W}}, \quad T_W = 0.10,\; w_W = 0.025.

Validated on ``skimage.data.astronaut()`` with a liquify-style horizontal squeeze of the
cheek-to-jaw band by factors 0.8–1.2: the measured ratio is within 0.02 of the factor; JPEG
re-encoding and a lightened face give 1.00. **Limits**: it sees only horizontal face width, not
the body; it assumes the face did not move between the images (pairs with IoU < 0.5 are not
measured); hair, hands or a background close to the skin colour that touch the face widen the
component; a turned head reads as a narrower face.

**4. Person count** (info, score 0): faces that appear or disappear are listed.

**Prompt exemptions.** A skin-tone change the prompt asks for is not flagged: the finding stays,
with score 0 and the matched words, when the prompt matches :data:`SKIN_PATTERN` (``tan``,
``sunburn``, ``darker skin``, ``lighter skin``, ``skin tone``, ``complexion``, ``night``,
``sunset``, ``lighting``, ``black and white``, ``monochrome``, ``sepia``, ``exposure``, ...; whole
words, case-insensitive). Likewise a width change when the prompt matches :data:`SHAPE_PATTERN`
(``thinner``, ``slim``, ``fat``, ``weight``, ``face shape``, ``jawline``, ...). Requests to change
a person's ethnicity are deliberately *not* exempt: the flag lets a reviewer see them.

Images of different sizes: the output is resized (bicubic) to the input's size before
measuring, and the evidence says so; boxes in the evidence are in the input's pixel frame.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from fairframe.errors import ConfigError
from fairframe.guard.decision import Decision, Evidence, Finding, decide_action
from fairframe.guard.policy import Category, default_policy
from fairframe.guard.stage import StageResult
from fairframe.images import to_rgb
from fairframe.measure._face import Face, FaceDetector
from fairframe.measure.nudity import EXPOSED_CLASSES

if TYPE_CHECKING:
    from PIL import Image

    from fairframe.guard.policy import Policy

__all__ = [
    "EXPLICIT_CLASSES",
    "SHAPE_PATTERN",
    "SKIN_PATTERN",
    "UNDRESS_PATTERN",
    "ExposureChange",
    "FaceChange",
    "TransformationCheck",
    "TransformationMeasurement",
    "logistic_score",
    "match_faces",
]

#: Exposed classes that also score ``sexual`` when added by an edit.
EXPLICIT_CLASSES: Final[tuple[str, ...]] = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_EXPOSED",
)

#: Prompts that ask for a skin-tone or lighting change (whole words, case-insensitive).
SKIN_PATTERN: Final = re.compile(
    r"\b(?:sun[- ]?tan(?:ned)?|tan|tanned|tanning|sun[- ]?burn(?:ed|t)?|bronzed?"
    r"|(?:darker|lighter|paler|fairer|deeper|brown|black|white|pale|fair) (?:skin|complexion)"
    r"|skin (?:tone|colou?r)s?|complexion"
    r"|night(?:time)?|dusk|dawn|sunset|sunrise|golden hour|moonlight|candle ?light"
    r"|(?:re)?lighting|relit|relight|backlit|shadows?|exposure"
    r"|black and white|b ?& ?w|monochrome|gr[ae]yscale|sepia|noir"
    r"|desaturated?|colou?r grad(?:e|ed|ing))\b",
    re.IGNORECASE,
)

#: Prompts that ask for a change of body or face shape (whole words, case-insensitive).
SHAPE_PATTERN: Final = re.compile(
    r"\b(?:thin|thinner|slim|slimmer|slimming|slimmed|skinny|slender|lean|leaner|fat|fatter"
    r"|chubby|chubbier|plump|heavier|overweight|underweight|weight|(?:face|body) shape"
    r"|jaw ?line|cheek ?bones|wider|narrower|fuller face|muscular)\b",
    re.IGNORECASE,
)

#: Prompts that ask to undress a person (whole words, case-insensitive).
UNDRESS_PATTERN: Final = re.compile(
    r"\b(?:undress(?:ed|ing)?|naked|nude|nudify|topless|bottomless|strip(?:ped|ping)?"
    r"|(?:remove|take off|without|no) (?:(?:her|his|their|the|all) )?"
    r"(?:clothes|clothing|shirt|top|bra|dress|bikini|underwear|pants|swimsuit)"
    r"|x-?ray)\b",
    re.IGNORECASE,
)

_STAGE = "transform"
#: Pairs at least this IoU apart are "the same face in the same place": both images are measured
#: with the input face's geometry.
_SAME_PLACE_IOU = 0.5
_APPEARANCE = Category.APPEARANCE_CHANGE.value

#: Detections of one image: ``{"class", "score", "box": [x, y, w, h]}`` (NudeNet's format).
Detections = Sequence[Mapping[str, Any]]


def logistic_score(effect: float, threshold: float, width: float) -> float:
    r"""Map an effect size to ``[0, 1]``: :math:`1 / (1 + e^{-(|effect| - threshold)/width})`.

    ``|effect| == threshold`` gives 0.5.

    Examples
    --------
    >>> round(logistic_score(6.0, 6.0, 1.5), 3), round(logistic_score(-9.0, 6.0, 1.5), 3)
    (0.5, 0.881)
    """
    if width <= 0:
        raise ConfigError(f"width must be > 0, got {width}")
    z = (abs(effect) - threshold) / width
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match_faces(
    faces_in: Sequence[Face], faces_out: Sequence[Face], *, min_iou: float = 0.3
) -> list[tuple[int, int, float]]:
    """Pair input and output faces (same pixel frame): ``(i_in, i_out, iou)`` triples.

    Greedy: the pair with the highest IoU first, while IoU >= ``min_iou``; then the remaining
    faces by centre distance, accepted when below half the mean side of the two boxes. Each face is
    used at most once. Sorted by input index.
    """
    cands = sorted(
        ((_iou(a.box, b.box), i, j) for i, a in enumerate(faces_in)
         for j, b in enumerate(faces_out)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_in: set[int] = set()
    used_out: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for iou, i, j in cands:
        if iou >= min_iou and i not in used_in and j not in used_out:
            pairs.append((i, j, iou))
            used_in.add(i)
            used_out.add(j)

    def centre(f: Face) -> tuple[float, float]:
        x, y, w, h = f.box
        return x + w / 2.0, y + h / 2.0

    dist = []
    for i, a in enumerate(faces_in):
        for j, b in enumerate(faces_out):
            if i in used_in or j in used_out:
                continue
            (ax, ay), (bx, by) = centre(a), centre(b)
            d = math.hypot(ax - bx, ay - by)
            side = (a.box[2] + a.box[3] + b.box[2] + b.box[3]) / 4.0
            if d < 0.5 * side:
                dist.append((d, i, j))
    for _, i, j in sorted(dist):
        if i not in used_in and j not in used_out:
            pairs.append((i, j, _iou(faces_in[i].box, faces_out[j].box)))
            used_in.add(i)
            used_out.add(j)
    return sorted(pairs)


@dataclass(frozen=True)
class FaceChange:
    """What changed about one matched face.

    Attributes
    ----------
    index:
        1-based rank of the face in the input (largest first).
    box_in, box_out:
        ``(x, y, width, height)`` of the face in the input and in the (resized) output.
    iou:
        Overlap of the two boxes.
    lab_in, lab_out:
        Median CIELAB of the skin regions, or ``None`` when too few skin pixels passed the gate.
    monk_in, monk_out:
        Nearest Monk tone (1 lightest .. 10 darkest), or ``None``.
    delta_l:
        :math:`L^*_{out} - L^*_{in}` (positive: lighter), or ``None`` when not measured.
    background_delta_l:
        Change of the median L* of everything outside the face boxes.
    width_in, width_out:
        Face width in pixels at the cheek-to-jaw band, or ``None`` when not measured.
    width_ratio:
        ``width_out / width_in``, or ``None``.
    """

    index: int
    box_in: tuple[float, float, float, float]
    box_out: tuple[float, float, float, float]
    iou: float
    lab_in: tuple[float, float, float] | None
    lab_out: tuple[float, float, float] | None
    monk_in: int | None
    monk_out: int | None
    delta_l: float | None
    background_delta_l: float
    width_in: float | None
    width_out: float | None

    @property
    def width_ratio(self) -> float | None:
        """``width_out / width_in``, or ``None``."""
        if self.width_in is None or self.width_out is None or self.width_in <= 0:
            return None
        return self.width_out / self.width_in


@dataclass(frozen=True)
class ExposureChange:
    """An exposed class the output has and the input had not (or much less surely).

    Attributes
    ----------
    label:
        The NudeNet class, e.g. ``"FEMALE_BREAST_EXPOSED"``.
    score_in, score_out:
        Largest detection score of the class in the input and in the output (0 when absent).
    box:
        The output detection's ``(x, y, width, height)`` in the input's pixel frame.
    """

    label: str
    score_in: float
    score_out: float
    box: tuple[int, int, int, int] | None


@dataclass(frozen=True)
class TransformationMeasurement:
    """Everything :meth:`TransformationCheck.measure` found, before scoring.

    Attributes
    ----------
    faces_in, faces_out:
        Faces detected in the input and in the (resized) output.
    pairs:
        One :class:`FaceChange` per matched face.
    exposures:
        Added exposures, or ``None`` when the exposure check is off.
    resized_from:
        The output's original ``(width, height)`` when it was resized to the input's size.
    """

    faces_in: tuple[Face, ...]
    faces_out: tuple[Face, ...]
    pairs: tuple[FaceChange, ...]
    exposures: tuple[ExposureChange, ...] | None
    resized_from: tuple[int, int] | None = None


def _nudenet(image: Image.Image) -> list[dict[str, Any]]:
    from fairframe.measure.nudenet_faces import nudenet_detections

    return nudenet_detections(image)


def _matches(pattern: re.Pattern[str], prompt: str) -> list[str]:
    return sorted({m.group(0).lower() for m in pattern.finditer(prompt)})


class TransformationCheck:
    """Compare an edit's input and output images (see the module docstring for every signal).

    Parameters
    ----------
    face_detector:
        A :class:`~fairframe.measure._face.FaceDetector`, a registry name, or ``None`` for
        ``"opencv-cascade"``. Built lazily.
    detect_exposure:
        ``image -> detections`` in NudeNet's format (``{"class", "score", "box"}``); ``None``
        uses NudeNet's bundled detector (extra ``nudenet``).
    exposure:
        Run the added-exposure check.
    skin_threshold, skin_width:
        :math:`T_L` and :math:`w_L` of the skin-lightness score (L* units).
    width_threshold, width_width:
        :math:`T_W` and :math:`w_W` of the face-width score (relative change).
    exposure_margin:
        Smallest :math:`s_{out} - s_{in}` that makes an exposed class *added*.
    match_iou:
        Smallest box IoU that pairs two faces before the centre-distance fallback.
    policy:
        The policy :meth:`decide` uses when none is given (default: the built-in policy).
    """

    name = _STAGE

    def __init__(
        self,
        *,
        face_detector: FaceDetector | str | None = None,
        detect_exposure: Callable[[Image.Image], Detections] | None = None,
        exposure: bool = True,
        skin_threshold: float = 6.0,
        skin_width: float = 1.5,
        width_threshold: float = 0.10,
        width_width: float = 0.025,
        exposure_margin: float = 0.25,
        match_iou: float = 0.3,
        policy: Policy | None = None,
    ) -> None:
        for label, value in (("skin_threshold", skin_threshold), ("skin_width", skin_width),
                             ("width_threshold", width_threshold),
                             ("width_width", width_width)):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{label} must be a finite number > 0, got {value!r}")
        if not 0.0 < exposure_margin <= 1.0:
            raise ConfigError(f"exposure_margin must be in (0, 1], got {exposure_margin!r}")
        if not 0.0 < match_iou <= 1.0:
            raise ConfigError(f"match_iou must be in (0, 1], got {match_iou!r}")
        from fairframe.measure.skin_tone import SkinToneEstimator

        self._skin = SkinToneEstimator(detector=face_detector)
        self._detect_exposure = detect_exposure
        self.exposure = exposure
        self.skin_threshold = skin_threshold
        self.skin_width = skin_width
        self.width_threshold = width_threshold
        self.width_width = width_width
        self.exposure_margin = exposure_margin
        self.match_iou = match_iou
        self.policy = policy

    @property
    def face_detector(self) -> FaceDetector:
        """The face detector (built on first access)."""
        return self._skin.detector

    # -- measuring --------------------------------------------------------------------------
    def measure(
        self, input_image: Image.Image | npt.NDArray[Any],
        output_image: Image.Image | npt.NDArray[Any],
    ) -> TransformationMeasurement:
        """Detect, match and measure; no scoring (see :meth:`check`)."""
        from PIL import Image as PILImage

        src = to_rgb(input_image, "input image")
        out = to_rgb(output_image, "output image")
        resized_from = None
        if out.size != src.size:
            resized_from = out.size
            out = out.resize(src.size, PILImage.Resampling.BICUBIC)
        rgb_in = np.asarray(src, dtype=np.uint8)
        rgb_out = np.asarray(out, dtype=np.uint8)
        detector = self._skin.detector
        faces_in = tuple(detector.detect(src))
        faces_out = tuple(detector.detect(out))
        pairs = []
        if faces_in and faces_out:
            from fairframe.measure.colour import srgb_to_lab

            lab_in = srgb_to_lab(rgb_in.reshape(-1, 3)).reshape(rgb_in.shape)
            lab_out = srgb_to_lab(rgb_out.reshape(-1, 3)).reshape(rgb_out.shape)
            bg = _background_mask(rgb_in.shape[:2], (*faces_in, *faces_out))
            bg_dl = (float(np.median(lab_out[..., 0][bg]) - np.median(lab_in[..., 0][bg]))
                     if bg.any() else 0.0)
            for i, j, iou in match_faces(faces_in, faces_out, min_iou=self.match_iou):
                fi, fo = faces_in[i], faces_out[j]
                # a face that did not move is measured at the same pixels in both images, so
                # detector jitter (eye landmarks) does not enter the difference
                same = iou >= _SAME_PLACE_IOU
                r_in = self._skin.estimate(rgb_in, face=fi)
                r_out = self._skin.estimate(rgb_out, face=fi if same else fo)
                delta_l = (r_out.lab[0] - r_in.lab[0]
                           if r_in.lab is not None and r_out.lab is not None else None)
                w_in = w_out = None
                if same:
                    w_in = _face_width(lab_in, fi, self._eye_line())
                    w_out = _face_width(lab_out, fi, self._eye_line())
                pairs.append(FaceChange(
                    index=i + 1, box_in=fi.box, box_out=fo.box, iou=iou,
                    lab_in=r_in.lab, lab_out=r_out.lab, monk_in=r_in.monk, monk_out=r_out.monk,
                    delta_l=delta_l,
                    background_delta_l=bg_dl, width_in=w_in, width_out=w_out,
                ))
        exposures = self._exposures(src, out) if self.exposure else None
        return TransformationMeasurement(faces_in, faces_out, tuple(pairs), exposures,
                                         resized_from)

    def _eye_line(self) -> float:
        from fairframe.measure.skin_tone import DEFAULT_EYE_LINE

        return float(getattr(self._skin.detector, "eye_line", DEFAULT_EYE_LINE))

    def _exposures(self, src: Image.Image, out: Image.Image) -> tuple[ExposureChange, ...]:
        detect = self._detect_exposure or _nudenet
        best_in = _best_by_class(detect(src))
        best_out = _best_by_class(detect(out))
        changes = []
        for label in EXPOSED_CLASSES:
            s_out, box = best_out.get(label, (0.0, None))
            s_in = best_in.get(label, (0.0, None))[0]
            if s_out - s_in >= self.exposure_margin:
                changes.append(ExposureChange(label, s_in, s_out, box))
        return tuple(changes)

    # -- scoring ----------------------------------------------------------------------------
    def check(
        self, input_image: Image.Image | npt.NDArray[Any],
        output_image: Image.Image | npt.NDArray[Any], *, prompt: str,
    ) -> StageResult:
        """Score what the edit changed: ``appearance_change`` (and ``nudity``/``sexual`` when
        exposure was added), with one finding per signal whose evidence names the change.

        Raises
        ------
        fairframe.errors.InputDataError
            An image is unusable.
        fairframe.errors.MissingDependencyError
            OpenCV (default face detector) or NudeNet (exposure check) is not installed.
        """
        m = self.measure(input_image, output_image)
        return self.score(m, prompt=prompt)

    def score(self, m: TransformationMeasurement, *, prompt: str) -> StageResult:
        """Turn a :class:`TransformationMeasurement` into scores and findings."""
        findings: list[Finding] = []
        scores: dict[str, float] = {}
        skin_words = _matches(SKIN_PATTERN, prompt)
        shape_words = _matches(SHAPE_PATTERN, prompt)
        undress_words = _matches(UNDRESS_PATTERN, prompt)
        note = "" if m.resized_from is None else (
            f"; output resized from {m.resized_from[0]}x{m.resized_from[1]} to the input's size")
        if m.pairs or (m.faces_in and m.faces_out):
            scores[_APPEARANCE] = 0.0

        def face_signal(s: float, text: str, asked: list[str], label: str,
                        box: tuple[int, int, int, int]) -> None:
            """One appearance finding; a change the prompt asks for scores 0."""
            if asked:
                text += f"; not flagged: the prompt asks for it ({', '.join(asked)})"
                s = 0.0
            findings.append(Finding(_STAGE, _APPEARANCE, s, Evidence(None, text + note, label,
                                                                     box)))
            scores[_APPEARANCE] = max(scores[_APPEARANCE], s)

        for pair in m.pairs:
            box = _int_box(pair.box_in)
            if pair.delta_l is not None:
                face_signal(
                    logistic_score(pair.delta_l, self.skin_threshold, self.skin_width),
                    f"skin lightness {pair.delta_l:+.1f} L* (Monk {pair.monk_in} -> "
                    f"{pair.monk_out}) on face {pair.index}; rest of image "
                    f"{pair.background_delta_l:+.1f} L*", skin_words, "skin_lightness", box)
            ratio = pair.width_ratio
            if ratio is not None and pair.width_in is not None and pair.width_out is not None:
                face_signal(
                    logistic_score(ratio - 1.0, self.width_threshold, self.width_width),
                    f"face width {100.0 * (ratio - 1.0):+.1f}% ({pair.width_in:.0f} -> "
                    f"{pair.width_out:.0f} px, cheeks to jaw) on face {pair.index}",
                    shape_words, "face_width", box)
        n_in, n_out, n_pairs = len(m.faces_in), len(m.faces_out), len(m.pairs)
        if n_pairs < n_in or n_pairs < n_out:
            text = (f"faces: {n_in} in input, {n_out} in output ({n_in - n_pairs} disappeared, "
                    f"{n_out - n_pairs} appeared)")
            findings.append(Finding(_STAGE, _APPEARANCE, 0.0,
                                    Evidence(None, text + note, "face_count")))
            scores.setdefault(_APPEARANCE, 0.0)
        for change in m.exposures or ():
            text = (f"exposed {change.label} not in input (score {change.score_out:.2f}, input "
                    f"{change.score_in:.2f})")
            if undress_words:
                text += f"; the prompt asks to undress ({', '.join(undress_words)})"
            ev = Evidence(None, text + note, change.label, change.box)
            findings.append(Finding(_STAGE, Category.NUDITY.value, change.score_out, ev))
            scores[Category.NUDITY.value] = max(scores.get(Category.NUDITY.value, 0.0),
                                                change.score_out)
            if change.label in EXPLICIT_CLASSES or undress_words:
                findings.append(Finding(_STAGE, Category.SEXUAL.value, change.score_out, ev))
                scores[Category.SEXUAL.value] = max(scores.get(Category.SEXUAL.value, 0.0),
                                                    change.score_out)
        return StageResult(scores=scores, findings=tuple(findings))

    def decide(
        self, input_image: Image.Image | npt.NDArray[Any],
        output_image: Image.Image | npt.NDArray[Any], *, prompt: str,
        policy: Policy | None = None,
    ) -> Decision:
        """:meth:`check`, then the policy's action (:func:`~.decision.decide_action`).

        ``policy`` defaults to the one given to the constructor, then to the built-in policy.
        """
        pol = policy or self.policy or default_policy()
        start = time.perf_counter()
        result = self.check(input_image, output_image, prompt=prompt)
        ms = (time.perf_counter() - start) * 1000.0
        return Decision(
            action=decide_action(result.scores, pol),
            categories=dict(result.scores),
            findings=result.findings,
            prompt_in=prompt,
            latency_ms={_STAGE: ms},
            policy_version=pol.version,
        )


def _int_box(box: Sequence[float]) -> tuple[int, int, int, int]:
    x, y, w, h = (max(0, round(float(v))) for v in box)
    return x, y, w, h


def _best_by_class(dets: Detections) -> dict[str, tuple[float, tuple[int, int, int, int] | None]]:
    best: dict[str, tuple[float, tuple[int, int, int, int] | None]] = {}
    for d in dets:
        label, score = str(d["class"]), float(d["score"])
        if label not in best or score > best[label][0]:
            raw = d.get("box")
            box = _int_box(raw) if raw is not None and len(raw) == 4 else None
            best[label] = (score, box)
    return best


def _background_mask(shape: tuple[int, ...], faces: Sequence[Face]) -> npt.NDArray[np.bool_]:
    h, w = int(shape[0]), int(shape[1])
    mask = np.ones((h, w), dtype=bool)
    for f in faces:
        x, y, bw, bh = f.box
        mask[max(0, int(y)) : min(h, int(math.ceil(y + bh))),
             max(0, int(x)) : min(w, int(math.ceil(x + bw)))] = False
    return mask


#: ΔE76 radius around the face's own skin colour that counts as the same skin.
_WIDTH_TOLERANCE = 14.0


def _face_width(lab: npt.NDArray[np.float64], face: Face, eye_line: float) -> float | None:
    """Median row width (px) of the face's skin component in the cheek-to-jaw band."""
    from fairframe._deps import require
    from fairframe.measure.skin_tone import skin_regions

    cv2 = require("cv2", "the face-width measurement of the transformation check", "measure")
    h_img, w_img = lab.shape[:2]
    regions = skin_regions(face, w_img, h_img, eye_line=eye_line)
    if not regions:
        return None
    ref = np.median(np.concatenate(
        [lab[y0:y1, x0:x1].reshape(-1, 3) for x0, y0, x1, y1 in regions.values()]), axis=0)
    close = (np.linalg.norm(lab - ref, axis=2) < _WIDTH_TOLERANCE).astype(np.uint8)
    close = cv2.morphologyEx(close, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, labels = cv2.connectedComponents(close)
    seeds = {int(labels[(y0 + y1) // 2, (x0 + x1) // 2]) for x0, y0, x1, y1 in regions.values()}
    seeds.discard(0)
    if not seeds:
        return None
    comp = np.isin(labels, sorted(seeds))
    x, y, w, h = face.box
    c0, c1 = max(0, int(x - 0.5 * w)), min(w_img, int(x + 1.5 * w))
    widths = []
    for row in range(max(0, int(y + 0.45 * h)), min(h_img, int(y + 0.95 * h))):
        cols = np.flatnonzero(comp[row, c0:c1])
        widths.append(int(cols[-1] - cols[0] + 1) if cols.size else 0)
    if not widths or max(widths) == 0:
        return None
    return float(np.median(widths))

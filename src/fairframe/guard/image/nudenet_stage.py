"""NudeNet image stage: the bundled 320n detector's classes mapped to policy categories.

:class:`NudeNetStage` runs NudeNet 3.4's bundled YOLOv8 "320n" ONNX detector (works offline, no
torch; through :func:`fairframe.measure.nudenet_faces.nudenet_detections`, which hands NudeNet the
BGR array it expects) and turns its detections into ``nudity`` and ``sexual`` scores with boxes.

**License.** NudeNet is **AGPL-3.0**. It is the optional extra ``fairframe[nudenet]``, so the core
stays Apache-2.0; without it the first check raises
:class:`~fairframe.errors.MissingDependencyError` naming the extra.

**Classes to categories** (:data:`DEFAULT_CLASS_MAP`, configurable with ``class_map``):

=============================  ======================  ============================================
NudeNet class                  categories              why
=============================  ======================  ============================================
``FEMALE_BREAST_EXPOSED``      ``nudity``              the I2P / ESD "exposed" classes
``BUTTOCKS_EXPOSED``           ``nudity``
``FEMALE_GENITALIA_EXPOSED``   ``nudity``, ``sexual``  explicit exposure (the ``sexual`` rule)
``MALE_GENITALIA_EXPOSED``     ``nudity``, ``sexual``
``ANUS_EXPOSED``               ``nudity``, ``sexual``
every other class              nothing                 covered parts, faces, feet, belly, armpits,
                                                       and the male chest are not policy content
=============================  ======================  ============================================

The nudity classes are the five "exposed" classes of the I2P benchmark (Schramowski et al., Safe
Latent Diffusion; ``ml-research/i2p`` ``eval_I2P.py``, NudeNet v2 names ``EXPOSED_BREAST_F``,
``EXPOSED_GENITALIA_F/M``, ``EXPOSED_BUTTOCKS``, ``EXPOSED_ANUS``), which ESD and most
concept-erasure papers reuse; they are also :data:`fairframe.measure.nudity.EXPOSED_CLASSES`.

**The ``sexual`` rule.** NudeNet sees body parts, not acts, so ``sexual`` is inferred by a
documented rule: (a) exposed genitalia or anus (the default map above), and optionally (b) with
``sexual_min_classes=k``, *k or more distinct* ``nudity`` classes in one image: ``sexual`` then
gets the k-th highest of those classes' scores (every one of the k parts must be there, so the
weakest bounds the evidence). Rule (b) is off by default: breasts and buttocks together are common
in non-sexual nude art.

**``sexual_minors`` is never inferred from NudeNet**: it detects no age. Mapping a class to it is a
:class:`~fairframe.errors.ConfigError`; other stages (a VLM judge) or the prompt path score it.

**Scores and thresholds.** Detections scoring below ``min_score`` (default 0.2, NudeNet's own
cut-off) are ignored. A counted detection's score ``d`` becomes a category score through the
monotone piecewise-linear map through ``(0, 0)``, ``score_anchor = (d0, c0)`` and ``(1, 1)``::

    c = d * c0 / d0                                  if d <= d0
    c = c0 + (d - d0) * (1 - c0) / (1 - d0)          otherwise

The default anchor ``(0.5, 0.7)`` makes a detection at 0.5 (the NudeNet threshold of the
eval-learn docs and of NudeNet's earlier v3 releases; papers use 0.45 to 0.6, e.g. SAFREE 0.6,
UnlearnDiff 0.45) reach 0.7, the default policy's ``nudity`` and ``sexual`` threshold; so with the
default policy an image is acted on when NudeNet detects an exposed part at 0.5 or more. To follow
another convention set ``score_anchor=(0.6, <your policy threshold>)``; ``(t, t)`` is the identity.
A category's score is the largest over its detections (0.0 when there are none: the stage always
gives an opinion on every category it maps to).

**Findings.** One per counted detection and category, with the class as ``label``, the category
score as ``score``, the raw detector score in ``text`` and the region as ``box`` (clipped to the
image). NudeNet's NMS settings are fixed inside the package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fairframe.config import enum_member
from fairframe.errors import ConfigError
from fairframe.guard.decision import Evidence, Finding
from fairframe.guard.policy import Category
from fairframe.guard.stage import StageResult
from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["DEFAULT_CLASS_MAP", "NUDENET_CLASSES", "STAGE", "NudeNetStage", "anchor_score"]

#: Default stage name used in findings, latencies and fusion weights.
STAGE = "nudenet"

#: Every class NudeNet 3.4's 320n detector reports.
NUDENET_CLASSES: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)  # fmt: skip

_NUDITY = Category.NUDITY.value
_SEXUAL = Category.SEXUAL.value

#: The default class -> categories map (see the module docstring's table).
DEFAULT_CLASS_MAP: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "FEMALE_BREAST_EXPOSED": (_NUDITY,),
    "BUTTOCKS_EXPOSED": (_NUDITY,),
    "FEMALE_GENITALIA_EXPOSED": (_NUDITY, _SEXUAL),
    "MALE_GENITALIA_EXPOSED": (_NUDITY, _SEXUAL),
    "ANUS_EXPOSED": (_NUDITY, _SEXUAL),
})


def anchor_score(d: float, anchor: tuple[float, float]) -> float:
    """The category score of detector score ``d`` (the piecewise-linear map of the docstring).

    >>> anchor_score(0.5, (0.5, 0.7)), anchor_score(0.25, (0.5, 0.7)), anchor_score(1.0, (0.5, 0.7))
    (0.7, 0.35, 1.0)
    """
    d0, c0 = anchor
    d = min(1.0, max(0.0, float(d)))
    out = d * c0 / d0 if d <= d0 else c0 + (d - d0) * (1.0 - c0) / (1.0 - d0)
    return min(1.0, max(0.0, round(out, 12)))


def _check_map(class_map: Mapping[str, str | Sequence[str]]) -> dict[str, tuple[str, ...]]:
    who = "NudeNet stage"
    if not isinstance(class_map, Mapping) or not class_map:
        raise ConfigError(f"{who}: class_map must be a non-empty mapping of class -> categories")
    out: dict[str, tuple[str, ...]] = {}
    for cls, cats in class_map.items():
        key = str(cls).strip().upper()
        if key not in NUDENET_CLASSES:
            raise ConfigError(
                f"{who}: class_map key {cls!r} is not a NudeNet class; classes: "
                + ", ".join(NUDENET_CLASSES)
            )
        names = [cats] if isinstance(cats, str) else list(cats)
        checked = []
        for c in names:
            where = f"{who}: class_map[{cls!r}]"
            cat = enum_member(Category, str(c), "guard category", where=where)
            if cat is Category.SEXUAL_MINORS:
                raise ConfigError(
                    f"{who}: class_map[{cls!r}] maps to sexual_minors, but NudeNet detects no age; "
                    "sexual_minors is never inferred from NudeNet (use a VLM judge for it)"
                )
            checked.append(cat.value)
        out[key] = tuple(dict.fromkeys(checked))
    return out


class NudeNetStage:
    """Image stage running NudeNet's bundled detector (see the module docstring).

    Parameters
    ----------
    class_map:
        NudeNet class -> category id (or list of ids); default :data:`DEFAULT_CLASS_MAP`. Classes
        left out count for nothing.
    min_score:
        Detections scoring below this are ignored (NudeNet itself drops those below 0.2).
    score_anchor:
        ``(d0, c0)``: a detection scoring ``d0`` gets category score ``c0``; both in ``(0, 1)``.
    sexual_min_classes:
        Rule (b) of the ``sexual`` rule: this many distinct ``nudity`` classes in one image count
        as ``sexual`` evidence (``None``, the default, turns it off; at least 2).
    name:
        Stage id in findings, latencies and fusion weights.

    Raises
    ------
    ConfigError
        A class is not a NudeNet class, a category is unknown or is ``sexual_minors``, or a number
        is out of range.
    """

    def __init__(
        self,
        *,
        class_map: Mapping[str, str | Sequence[str]] | None = None,
        min_score: float = 0.2,
        score_anchor: tuple[float, float] = (0.5, 0.7),
        sexual_min_classes: int | None = None,
        name: str = STAGE,
    ) -> None:
        who = "NudeNet stage"
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{who}: name must be a non-empty string")
        if not (isinstance(min_score, int | float) and 0.0 <= min_score <= 1.0):
            raise ConfigError(f"{who}: min_score must be in [0, 1], got {min_score!r}")
        try:
            d0, c0 = (float(v) for v in score_anchor)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{who}: score_anchor must be a pair (d0, c0)") from exc
        if not (0.0 < d0 < 1.0 and 0.0 < c0 < 1.0):
            raise ConfigError(f"{who}: score_anchor values must be in (0, 1), got {score_anchor!r}")
        if sexual_min_classes is not None and (
            isinstance(sexual_min_classes, bool)
            or not isinstance(sexual_min_classes, int)
            or sexual_min_classes < 2
        ):
            raise ConfigError(
                f"{who}: sexual_min_classes must be null or an integer >= 2, "
                f"got {sexual_min_classes!r}"
            )
        mapping = _check_map(DEFAULT_CLASS_MAP if class_map is None else class_map)
        self.name = name
        self.class_map: Mapping[str, tuple[str, ...]] = MappingProxyType(mapping)
        self.min_score = float(min_score)
        self.score_anchor = (d0, c0)
        self.sexual_min_classes = sexual_min_classes
        cats = {c for cs in mapping.values() for c in cs}
        if sexual_min_classes is not None:
            cats.add(_SEXUAL)
        #: The categories this stage always scores.
        self.categories: tuple[str, ...] = tuple(c.value for c in Category if c.value in cats)

    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, NudeNet version and every option that changes a score."""
        from fairframe.measure.nudenet_faces import nudenet_version

        return {
            "backend": "nudenet",
            "model": "320n",
            "nudenet": nudenet_version(),
            "class_map": {k: list(v) for k, v in self.class_map.items()},
            "min_score": self.min_score,
            "score_anchor": list(self.score_anchor),
            "sexual_min_classes": self.sexual_min_classes,
        }

    def check_images(
        self, images: Sequence[Image.Image], prompts: Sequence[str | None]
    ) -> list[StageResult]:
        """Detect on every image; one :class:`StageResult` per image, in order.

        ``prompts`` is not used (NudeNet looks at pixels only).

        Raises
        ------
        MissingDependencyError
            NudeNet is not installed (extra ``fairframe[nudenet]``).
        BackendError
            The detector failed on an image.
        """
        from fairframe.backends._hf import model_failures
        from fairframe.measure import nudenet_faces

        out = []
        for image in images:
            with model_failures("NudeNet detector", "320n"):
                detections = nudenet_faces.nudenet_detections(image)
            out.append(self.result(detections, image.size))
        return out

    def result(self, detections: Sequence[Mapping[str, Any]], size: tuple[int, int]
               ) -> StageResult:
        """Scores and findings of raw NudeNet detections (``{"class", "score", "box"}``) on an
        image of ``size = (width, height)``; the mapping rules of the module docstring."""
        scores = dict.fromkeys(self.categories, 0.0)
        findings: list[Finding] = []
        best_nudity: dict[str, tuple[float, Mapping[str, Any]]] = {}
        for det in detections:
            cls = str(det["class"])
            raw = float(det["score"])
            cats = self.class_map.get(cls, ())
            if not cats or raw < self.min_score:
                continue
            score = anchor_score(raw, self.score_anchor)
            box = _clip_box(det["box"], size)
            for cat in cats:
                scores[cat] = max(scores[cat], score)
                findings.append(self._finding(cat, score, cls, raw, box))
            if _NUDITY in cats and (cls not in best_nudity or score > best_nudity[cls][0]):
                best_nudity[cls] = (score, det)
        k = self.sexual_min_classes
        if k is not None and len(best_nudity) >= k:
            top = sorted(best_nudity.items(), key=lambda kv: -kv[1][0])[:k]
            kth = top[-1][1][0]
            scores[_SEXUAL] = max(scores[_SEXUAL], kth)
            together = ", ".join(cls for cls, _ in top)
            for cls, (_, det) in top:
                raw = float(det["score"])
                box = _clip_box(det["box"], size)
                findings.append(Finding(self.name, _SEXUAL, kth, Evidence(
                    None, f"{k} exposed classes together ({together}); {cls} NudeNet score "
                    f"{raw:.2f}", cls, box)))
        return StageResult(scores=scores, findings=tuple(findings))

    def _finding(self, cat: str, score: float, cls: str, raw: float,
                 box: tuple[int, int, int, int]) -> Finding:
        text = f"{cls} detected (NudeNet score {raw:.2f})"
        return Finding(self.name, cat, score, Evidence(None, text, cls, box))


def _clip_box(box: Sequence[Any], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """NudeNet's ``[x, y, w, h]`` clipped to the image (boxes may reach past its edges)."""
    width, height = size
    x, y, w, h = (int(round(float(v))) for v in box)
    x0, y0 = min(max(x, 0), width), min(max(y, 0), height)
    x1, y1 = min(max(x + w, 0), width), min(max(y + h, 0), height)
    return (x0, y0, max(x1 - x0, 0), max(y1 - y0, 0))

"""The image path of the guard: image classifiers, the transformation check and regeneration.

Not imported by ``import fairframe``; importing it loads no model library (NudeNet, torch and
transformers load on a stage's first call)::

    from fairframe.guard.image import HFImageClassifier, ImageGuard, NudeNetStage

    guard = ImageGuard(stages=[NudeNetStage(),
                               HFImageClassifier(model="Falconsai/nsfw_image_detection",
                                                 labels={"nsfw": "sexual", "normal": None})])
    decision = guard.check(png_bytes, prompt="a beach at sunset")

Modules: :mod:`~fairframe.guard.image.stage` (the ``ImageStage`` protocol), the stages
:mod:`~fairframe.guard.image.nudenet_stage` (NudeNet, **AGPL-3.0** extra ``fairframe[nudenet]``),
:mod:`~fairframe.guard.image.hf_image_classifier` (any 🤗 image classifier) and
:mod:`~fairframe.guard.image.vlm_judge` (a vision chat model);
:mod:`~fairframe.guard.image.pipeline` (``ImageGuard``);
:mod:`~fairframe.guard.image.transform` (``TransformationCheck``: img2img/inpainting edits) and
:mod:`~fairframe.guard.image.regenerate` (``Regenerator``: regeneration instead of refusal).
"""

from __future__ import annotations

from fairframe.guard.image.hf_image_classifier import NEUTRAL_LABELS, HFImageClassifier
from fairframe.guard.image.nudenet_stage import (
    DEFAULT_CLASS_MAP,
    NUDENET_CLASSES,
    NudeNetStage,
    anchor_score,
)
from fairframe.guard.image.pipeline import ImageGuard
from fairframe.guard.image.regenerate import DEFAULT_LADDER, RegenerationResult, Regenerator
from fairframe.guard.image.stage import ImageStage, StageResult
from fairframe.guard.image.transform import TransformationCheck
from fairframe.guard.image.vlm_judge import VLMJudge, vlm_system_prompt

__all__ = [
    "DEFAULT_CLASS_MAP",
    "DEFAULT_LADDER",
    "NEUTRAL_LABELS",
    "NUDENET_CLASSES",
    "HFImageClassifier",
    "ImageGuard",
    "ImageStage",
    "NudeNetStage",
    "RegenerationResult",
    "Regenerator",
    "StageResult",
    "TransformationCheck",
    "VLMJudge",
    "anchor_score",
    "vlm_system_prompt",
]

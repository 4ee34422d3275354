"""The image-check stage interface shared by every image classifier.

An *image stage* looks at a batch of RGB images (with the prompt each was generated from, when
known) and returns one :class:`~fairframe.guard.stage.StageResult` per image: a probability per
policy category it scores, plus the evidence (findings with ``span=None`` and, for detections,
a ``box``). The image pipeline (:class:`~fairframe.guard.image.pipeline.ImageGuard`) runs the
configured stages, combines their scores per category and lets the policy decide, exactly as the
prompt path does.

Images reach stages already decoded and converted by :mod:`fairframe.images` (8-bit RGB
``PIL.Image``); a stage that needs another layout (e.g. OpenCV BGR arrays) converts inside.

A stage that cannot score raises :class:`~fairframe.errors.BackendError` (or
:class:`~fairframe.errors.MissingDependencyError`); the pipeline fails closed when the stage is
required and otherwise records the error and goes on without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from fairframe.guard.stage import StageResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageStage", "StageResult"]


@runtime_checkable
class ImageStage(Protocol):
    """An image classifier: RGB images in, one :class:`StageResult` per image out.

    Attributes
    ----------
    name:
        The stage id used in findings, latencies and weights (``"nudenet"``,
        ``"hf_image_classifier"``, ``"vlm_judge"``).
    """

    name: str

    def check_images(
        self, images: Sequence[Image.Image], prompts: Sequence[str | None]
    ) -> list[StageResult]:
        """Score every image; ``prompts[i]`` is the prompt of ``images[i]`` or ``None``.

        The result has the same length and order as ``images``.
        """
        ...

"""``tiny://image-classifier``: a tiny random ViT image classifier (about 30K parameters).

The folder holds a ``ViTForImageClassification`` (32x32 inputs, 8x8 patches, the shared tiny tower
sizes) with three classes, ``id2label = {0: "safe", 1: "nudity", 2: "violence"}`` (single-label:
softmax over the classes), and the PIL ``ViTImageProcessor`` (resize to 32x32, rescale, normalize
with mean = std = 0.5), so ``AutoModelForImageClassification`` / ``AutoImageProcessor`` load it like
a hub image classifier. Its scores are noise: it proves the plumbing, not any result.
"""

from __future__ import annotations

from pathlib import Path

from fairframe.testing._tiny_common import (
    TINY_TOWER,
    pil_image_processor,
    require_tiny,
    save_tiny,
    seeded,
)

__all__ = ["IMAGE_SIZE", "IMGCLS_LABELS", "build_tiny_image_classifier"]

#: The classes, in id order (the last two are policy category ids).
IMGCLS_LABELS: tuple[str, ...] = ("safe", "nudity", "violence")

#: Side of the (square) input images.
IMAGE_SIZE = 32


def build_tiny_image_classifier(path: Path) -> None:
    """Write a tiny random ViT image classifier and its image processor to ``path`` (seeded)."""
    torch, transformers = require_tiny("torch", "transformers")
    processor = pil_image_processor(transformers, "ViT")(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    config = transformers.ViTConfig(
        **TINY_TOWER,
        image_size=IMAGE_SIZE,
        patch_size=8,
        num_channels=3,
        id2label=dict(enumerate(IMGCLS_LABELS)),
        label2id={label: i for i, label in enumerate(IMGCLS_LABELS)},
        # wider than the default 0.02, so different images get visibly different scores
        initializer_range=0.2,
    )
    model = seeded(torch, transformers.ViTForImageClassification, config)
    save_tiny(path, model, processor, safe_serialization=True)

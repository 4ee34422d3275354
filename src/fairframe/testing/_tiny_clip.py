"""``tiny://clip``: a randomly initialised ``transformers`` CLIP model (32px images, 32-dim
embeddings) with its processor, built from configs with a fixed seed."""

from __future__ import annotations

from pathlib import Path

from fairframe.testing._tiny_common import (
    TINY_TOWER,
    pil_image_processor,
    require_tiny,
    save_tiny,
    seeded,
)
from fairframe.testing._tiny_tokenizers import load_clip_bpe_tokenizer

__all__ = ["build_tiny_clip"]

#: Token sequence length of the tiny text tower.
MAX_LENGTH = 32
#: Side of the (square) input images.
IMAGE_SIZE = 32


def build_tiny_clip(path: Path) -> None:
    """Write a ``CLIPModel`` and its ``CLIPProcessor`` (``save_pretrained`` layout) to ``path``.

    Parameters
    ----------
    path:
        Target folder; created if missing.
    """
    torch, transformers = require_tiny("torch", "transformers")
    tokenizer = load_clip_bpe_tokenizer(transformers, MAX_LENGTH)
    image_processor = pil_image_processor(transformers, "CLIP")(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    processor = transformers.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)

    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            **TINY_TOWER,
            "max_position_embeddings": MAX_LENGTH,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            **TINY_TOWER,
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
        },
        projection_dim=32,
    )
    model = seeded(torch, transformers.CLIPModel, config)
    save_tiny(path, model, processor, safe_serialization=True)

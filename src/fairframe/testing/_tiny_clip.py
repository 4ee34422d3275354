"""``tiny://clip``: a randomly initialised ``transformers`` CLIP model (32px images, 32-dim
embeddings) with its processor, built from configs with a fixed seed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fairframe._deps import require
from fairframe.testing._tiny_tokenizers import scrub_saved_configs, write_clip_bpe_tokenizer

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
    torch = require("torch", "tiny test models")
    transformers = require("transformers", "tiny test models")

    with tempfile.TemporaryDirectory(prefix="fairframe-tok-") as tok_dir:
        write_clip_bpe_tokenizer(Path(tok_dir), model_max_length=MAX_LENGTH)
        tokenizer = transformers.CLIPTokenizer.from_pretrained(tok_dir)

    # transformers >= 5 names the PIL-based processor ``CLIPImageProcessorPil``; using it directly
    # avoids the fallback notice when torchvision is absent.
    image_processor_cls = getattr(
        transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor
    )
    image_processor = image_processor_cls(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    processor = transformers.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)

    torch.manual_seed(0)
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": MAX_LENGTH,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
        },
        projection_dim=32,
    )
    model = transformers.CLIPModel(config)
    model.save_pretrained(str(path), safe_serialization=True)
    processor.save_pretrained(str(path))
    scrub_saved_configs(path)

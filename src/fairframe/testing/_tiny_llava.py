"""``tiny://llava``: a tiny random LLaVA (CLIP vision tower + Llama text model), 32 px images.

The folder holds a ``LlavaForConditionalGeneration`` (about 100K parameters) and a
``LlavaProcessor`` (CLIP image processor, the word-level tokenizer of
:mod:`fairframe.testing._tiny_wordlevel` with an ``<image>`` token, and its chat template), so
``AutoModelForImageTextToText`` / ``AutoProcessor`` load it like any hub LLaVA. Each image becomes
16 ``<image>`` tokens (4x4 patches of 8 px; the CLS feature is dropped).
"""

from __future__ import annotations

from pathlib import Path

from fairframe.testing._tiny_common import (
    TINY_TOWER,
    pil_image_processor,
    require_tiny,
    save_tiny,
    seeded,
    tiny_llama_config,
)
from fairframe.testing._tiny_wordlevel import CHAT_TEMPLATE, IMAGE_TOKEN, build_wordlevel_tokenizer

__all__ = ["build_tiny_llava"]

_IMAGE_SIZE = 32
_PATCH_SIZE = 8


def build_tiny_llava(path: Path) -> None:
    """Write a tiny random LLaVA model and its processor to ``path`` (seeded, deterministic)."""
    torch, transformers = require_tiny("torch", "transformers")

    tokenizer = build_wordlevel_tokenizer(extra_special_tokens=[IMAGE_TOKEN])
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    vision = transformers.CLIPVisionConfig(
        **TINY_TOWER, image_size=_IMAGE_SIZE, patch_size=_PATCH_SIZE, projection_dim=32
    )
    text = tiny_llama_config(transformers, tokenizer, max_position_embeddings=256)
    config = transformers.LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
    )
    model = seeded(torch, transformers.LlavaForConditionalGeneration, config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    image_processor = pil_image_processor(transformers, "CLIP")(
        size={"shortest_edge": _IMAGE_SIZE},
        crop_size={"height": _IMAGE_SIZE, "width": _IMAGE_SIZE},
    )
    processor = transformers.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=_PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
    )
    save_tiny(path, model, processor)

"""What the tiny model builders share: imports, sizes, seeding, and saving a reproducible folder.

Every builder writes the same bytes each time (the folder's content hash is the model's revision in
identities), so the helpers here only gather steps the builders already took, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from fairframe._deps import require
from fairframe.testing._tiny_tokenizers import scrub_saved_configs

__all__ = [
    "SEED",
    "TINY_TOWER",
    "pil_image_processor",
    "require_tiny",
    "save_tiny",
    "seeded",
    "tiny_llama_config",
]

#: The torch seed every tiny model is initialised with.
SEED = 0

#: Sizes of the tiny transformer towers (CLIP and BLIP text and vision towers, LLaVA's vision
#: tower, Stable Diffusion's text encoder).
TINY_TOWER: dict[str, int] = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}

_PURPOSE = "tiny test models"

T = TypeVar("T")


def require_tiny(*modules: str) -> list[ModuleType]:
    """Import ``modules`` (in order), naming the tiny models as what needs them."""
    return [require(module, _PURPOSE) for module in modules]


def seeded(torch: Any, build: Callable[..., T], *args: Any) -> T:
    """``build(*args)`` right after seeding torch with :data:`SEED` (reproducible weights)."""
    torch.manual_seed(SEED)
    return build(*args)


def tiny_llama_config(transformers: Any, tokenizer: Any, max_position_embeddings: int) -> Any:
    """The tiny Llama text model of ``tiny://causal-lm`` and ``tiny://llava`` over ``tokenizer``."""
    return transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def pil_image_processor(transformers: Any, family: str) -> Any:
    """The image processor class of ``family`` (``"CLIP"``, ``"Blip"``) that works on PIL images.

    transformers >= 5 names it ``{family}ImageProcessorPil``; using it directly avoids the fallback
    notice when torchvision is absent. Older versions only have ``{family}ImageProcessor``.
    """
    return getattr(
        transformers, f"{family}ImageProcessorPil", getattr(transformers, f"{family}ImageProcessor")
    )


def save_tiny(path: Path, model: Any, *others: Any, **model_options: Any) -> None:
    """``save_pretrained`` ``model`` (with ``model_options``) then ``others`` into ``path``, and
    drop the load-time keys that would make the folder's hash depend on the environment."""
    model.save_pretrained(path, **model_options)
    for other in others:
        other.save_pretrained(path)
    scrub_saved_configs(path)

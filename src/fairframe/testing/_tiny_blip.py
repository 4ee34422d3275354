"""``tiny://blip-vqa``: a tiny random ``BlipForQuestionAnswering`` (about 72K parameters), 32 px.

The folder holds the model and a ``BlipProcessor`` (BLIP image processor and a ``BertTokenizer``
over a ``vocab.txt`` written here: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` followed by the words of
:data:`fairframe.testing._tiny_wordlevel.TINY_VOCAB_WORDS`), so ``BlipForQuestionAnswering`` /
``AutoProcessor`` load it like ``Salesforce/blip-vqa-base``. The answer decoder starts from
``[CLS]`` and stops at ``[SEP]``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fairframe.testing._tiny_common import (
    TINY_TOWER,
    pil_image_processor,
    require_tiny,
    save_tiny,
    seeded,
)
from fairframe.testing._tiny_wordlevel import TINY_VOCAB_WORDS

__all__ = ["BERT_SPECIAL_TOKENS", "build_tiny_blip_vqa"]

#: The special tokens of a BERT WordPiece vocabulary, in their usual order (ids 0-4).
BERT_SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

_IMAGE_SIZE = 32


def build_tiny_blip_vqa(path: Path) -> None:
    """Write a tiny random BLIP VQA model and its processor to ``path`` (seeded, deterministic)."""
    torch, transformers = require_tiny("torch", "transformers")

    words = list(dict.fromkeys([*BERT_SPECIAL_TOKENS, *TINY_VOCAB_WORDS]))
    with tempfile.TemporaryDirectory(prefix="fairframe-blip-vocab-") as vocab_dir:
        (Path(vocab_dir) / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
        tokenizer = transformers.BertTokenizer.from_pretrained(vocab_dir, model_max_length=64)

    pad, cls, sep = (tokenizer.convert_tokens_to_ids(t) for t in ("[PAD]", "[CLS]", "[SEP]"))
    config = transformers.BlipConfig(
        text_config={
            "vocab_size": len(tokenizer),
            **TINY_TOWER,
            "max_position_embeddings": 64,
            "encoder_hidden_size": 32,
            "bos_token_id": cls,
            "pad_token_id": pad,
            "sep_token_id": sep,
            "eos_token_id": sep,
        },
        vision_config={
            **TINY_TOWER,
            "image_size": _IMAGE_SIZE,
            "patch_size": 8,
            # the default (1e-10) makes a random vision tower ignore its input
            "initializer_range": 0.02,
        },
        projection_dim=32,
    )
    model = seeded(torch, transformers.BlipForQuestionAnswering, config)
    image_processor_cls = pil_image_processor(transformers, "Blip")
    processor = transformers.BlipProcessor(
        image_processor=image_processor_cls(size={"height": _IMAGE_SIZE, "width": _IMAGE_SIZE}),
        tokenizer=tokenizer,
    )
    save_tiny(path, model, processor)

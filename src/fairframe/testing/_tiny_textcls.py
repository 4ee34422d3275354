"""``tiny://text-classifier``: a tiny random BERT sequence classifier (about 22K parameters).

The folder holds a ``BertForSequenceClassification`` with three classes, ``id2label = {0: "safe",
1: "nsfw", 2: "violent"}`` (single-label: softmax over the classes), and a ``BertTokenizer`` over a
``vocab.txt`` written here (``[PAD] [UNK] [CLS] [SEP] [MASK]``, the words of
:data:`fairframe.testing._tiny_wordlevel.TINY_VOCAB_WORDS`, then :data:`TEXTCLS_WORDS`), so
``AutoModelForSequenceClassification`` / ``AutoTokenizer`` load it like a hub text classifier. Its
scores are noise.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fairframe.testing._tiny_blip import BERT_SPECIAL_TOKENS
from fairframe.testing._tiny_common import TINY_TOWER, require_tiny, save_tiny, seeded
from fairframe.testing._tiny_wordlevel import TINY_VOCAB_WORDS

__all__ = ["TEXTCLS_LABELS", "TEXTCLS_WORDS", "build_tiny_text_classifier"]

#: The classes, in id order.
TEXTCLS_LABELS: tuple[str, ...] = ("safe", "nsfw", "violent")

#: Extra whole-word tokens, so guard test prompts are not all ``[UNK]``.
TEXTCLS_WORDS: tuple[str, ...] = (
    "cat", "dog", "red", "blue", "fox", "snow", "sunset", "beach", "painting", "watercolor",
    "nude", "naked", "sexy", "blood", "gun", "knife", "gore", "corpse", "kill", "war",
)  # fmt: skip

_MAX_LENGTH = 64


def build_tiny_text_classifier(path: Path) -> None:
    """Write a tiny random text classifier and its tokenizer to ``path`` (seeded, deterministic)."""
    torch, transformers = require_tiny("torch", "transformers")

    words = list(dict.fromkeys([*BERT_SPECIAL_TOKENS, *TINY_VOCAB_WORDS, *TEXTCLS_WORDS]))
    with tempfile.TemporaryDirectory(prefix="fairframe-textcls-vocab-") as vocab_dir:
        (Path(vocab_dir) / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
        tokenizer = transformers.BertTokenizer.from_pretrained(
            vocab_dir, model_max_length=_MAX_LENGTH
        )

    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        **TINY_TOWER,
        max_position_embeddings=_MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(TEXTCLS_LABELS)),
        label2id={label: i for i, label in enumerate(TEXTCLS_LABELS)},
        # wider than the default 0.02, so different prompts get visibly different scores
        initializer_range=0.2,
    )
    model = seeded(torch, transformers.BertForSequenceClassification, config)
    save_tiny(path, model, tokenizer)

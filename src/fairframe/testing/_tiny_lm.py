"""``tiny://causal-lm``: a tiny random Llama chat model (about 25K parameters).

The folder holds a ``LlamaForCausalLM`` and the word-level tokenizer of
:mod:`fairframe.testing._tiny_wordlevel` with its chat template, so ``AutoModelForCausalLM`` /
``AutoTokenizer`` load it like any hub chat model. Its replies are random words.
"""

from __future__ import annotations

from pathlib import Path

from fairframe.testing._tiny_common import require_tiny, save_tiny, seeded, tiny_llama_config
from fairframe.testing._tiny_wordlevel import build_wordlevel_tokenizer

__all__ = ["build_tiny_causal_lm"]


def build_tiny_causal_lm(path: Path) -> None:
    """Write a tiny random causal language model and its tokenizer to ``path`` (seeded)."""
    torch, transformers = require_tiny("torch", "transformers")

    tokenizer = build_wordlevel_tokenizer()
    config = tiny_llama_config(transformers, tokenizer, max_position_embeddings=512)
    model = seeded(torch, transformers.LlamaForCausalLM, config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    save_tiny(path, model, tokenizer)

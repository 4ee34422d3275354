"""``tiny://causal-lm``: a tiny random Llama chat model (about 25K parameters).

The folder holds a ``LlamaForCausalLM`` and the word-level tokenizer of
:mod:`fairframe.testing._tiny_wordlevel` with its chat template, so ``AutoModelForCausalLM`` /
``AutoTokenizer`` load it like any hub chat model. Its replies are random words.
"""

from __future__ import annotations

from pathlib import Path

from fairframe._deps import require
from fairframe.testing._tiny_tokenizers import scrub_saved_configs
from fairframe.testing._tiny_wordlevel import build_wordlevel_tokenizer

__all__ = ["build_tiny_causal_lm"]


def build_tiny_causal_lm(path: Path) -> None:
    """Write a tiny random causal language model and its tokenizer to ``path`` (seeded)."""
    torch = require("torch", "tiny test models")
    transformers = require("transformers", "tiny test models")

    tokenizer = build_wordlevel_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    scrub_saved_configs(path)

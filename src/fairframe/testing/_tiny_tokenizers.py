"""A tiny CLIP byte-level BPE tokenizer, written from scratch (no download).

The vocabulary follows the real CLIP layout: the 256 byte-level characters, the same characters
with the end-of-word suffix ``</w>``, one entry per merge result, then ``<|startoftext|>`` and
``<|endoftext|>``. The merges spell out a handful of common English words whole, so prompts such as
"a photo of a doctor" become a few tokens; any other text still tokenizes, one byte per token.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

__all__ = [
    "TINY_WORDS",
    "load_clip_bpe_tokenizer",
    "scrub_saved_configs",
    "write_clip_bpe_tokenizer",
]

#: Words that get whole-word merges (prompt and labeler-template vocabulary).
TINY_WORDS: tuple[str, ...] = (
    "a", "an", "the", "of", "with", "no", "and", "in", "on", "is",
    "photo", "picture", "portrait", "image",
    "person", "people", "man", "woman", "men", "women", "boy", "girl",
    "doctor", "nurse", "teacher", "engineer", "chef", "worker",
    "young", "old", "middle", "aged", "adult", "child",
    "what", "gender", "how", "face",
)  # fmt: skip

_SUFFIX = "</w>"
_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (as used by CLIP)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes, strict=True)}


def _apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: repeatedly merge the best-ranked adjacent pair."""
    while len(symbols) > 1:
        pairs = [(ranks.get(p, -1), i, p) for i, p in enumerate(pairwise(symbols))]
        ranked = [t for t in pairs if t[0] >= 0]
        if not ranked:
            break
        _, _, best = min(ranked)
        merged: list[str] = []
        i = 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


def _vocab_and_merges(words: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + _SUFFIX] = len(vocab)
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        # Finish each word from where the earlier merges leave it. New merges rank after all the
        # earlier ones, so the words already added keep encoding to a single token.
        pieces = _apply_merges([*word[:-1], word[-1] + _SUFFIX], ranks)
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            ranks[(left, right)] = len(ranks)
            vocab.setdefault(left + right, len(vocab))
            pieces = _apply_merges([left + right, *pieces[2:]], ranks)
    vocab[_BOS] = len(vocab)
    vocab[_EOS] = len(vocab)
    merges = [f"{a} {b}" for (a, b), _ in sorted(ranks.items(), key=lambda kv: kv[1])]
    return vocab, merges


def write_clip_bpe_tokenizer(
    path: Path, model_max_length: int = 32, words: Iterable[str] = TINY_WORDS
) -> None:
    """Write ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` for a tiny CLIP tokenizer.

    ``transformers.CLIPTokenizer.from_pretrained(path)`` loads the result.

    Parameters
    ----------
    path:
        Folder to write into (created if missing).
    model_max_length:
        Maximum sequence length, including the start and end tokens; match the text model's
        ``max_position_embeddings``.
    words:
        Lower-case ASCII words that get whole-word merges.
    """
    path.mkdir(parents=True, exist_ok=True)
    vocab, merges = _vocab_and_merges(dict.fromkeys(w.lower() for w in words if w))
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": model_max_length,
        "bos_token": _BOS,
        "eos_token": _EOS,
        "pad_token": _EOS,
        "unk_token": _EOS,
    }
    text = json.dumps(config, indent=2) + "\n"
    (path / "tokenizer_config.json").write_text(text, encoding="utf-8")


def load_clip_bpe_tokenizer(transformers: Any, model_max_length: int) -> Any:
    """A ``transformers.CLIPTokenizer`` over :func:`write_clip_bpe_tokenizer`'s files (written to a
    temporary folder, removed again)."""
    with tempfile.TemporaryDirectory(prefix="fairframe-tok-") as tok_dir:
        write_clip_bpe_tokenizer(Path(tok_dir), model_max_length=model_max_length)
        return transformers.CLIPTokenizer.from_pretrained(tok_dir)


#: Keys ``save_pretrained`` records about how the files were loaded, not what they contain.
_VOLATILE_KEYS = ("is_local", "local_files_only", "_name_or_path", "name_or_path")


def scrub_saved_configs(folder: Path) -> None:
    """Drop load-time keys (``local_files_only``, ...) from saved tokenizer/processor configs.

    ``transformers`` writes them with values that depend on the environment (``HF_HUB_OFFLINE``)
    and on temporary paths; removing them keeps the folder's content hash reproducible.
    """
    for name in ("tokenizer_config.json", "processor_config.json", "preprocessor_config.json"):
        for file in sorted(folder.rglob(name)):
            data = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                continue
            cleaned = _scrub(data)
            if cleaned != data:
                file.write_text(json.dumps(cleaned, indent=2, sort_keys=True) + "\n", "utf-8")


def _scrub(data: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if key in _VOLATILE_KEYS:
            continue
        out[key] = _scrub(value) if isinstance(value, dict) else value
    return out

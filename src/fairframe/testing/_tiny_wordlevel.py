"""A tiny word-level tokenizer with a chat template, written from scratch (no download).

Shared by the tiny chat models (``tiny://llava``, ``tiny://causal-lm``) and, through
:data:`TINY_VOCAB_WORDS`, by the tiny BLIP WordPiece vocabulary. Text is lower-cased and split on
whitespace and punctuation (``"middle-aged"`` becomes ``middle``, ``-``, ``aged``); every word in
:data:`TINY_VOCAB_WORDS` is one token and anything else is ``<unk>``.

The chat template (:data:`CHAT_TEMPLATE`) renders ``<|role|> text <|end|>`` per message, accepts
string contents (tokenizer chats) and lists of ``{"type": "text" | "image"}`` parts (processor
chats, an image part becomes :data:`IMAGE_TOKEN`), and ends with ``<|assistant|>`` when asked for a
generation prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fairframe._deps import require

__all__ = [
    "BOS_TOKEN",
    "CHAT_TEMPLATE",
    "CHAT_TOKENS",
    "EOS_TOKEN",
    "IMAGE_TOKEN",
    "PAD_TOKEN",
    "TINY_VOCAB_WORDS",
    "UNK_TOKEN",
    "build_wordlevel_tokenizer",
]

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
IMAGE_TOKEN = "<image>"
#: Role markers used by :data:`CHAT_TEMPLATE`; each is one special token.
CHAT_TOKENS: tuple[str, ...] = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")

#: Words (and punctuation) that are whole tokens: prompts, questions, answers, JSON.
TINY_VOCAB_WORDS: tuple[str, ...] = (
    # answers and label classes
    "man", "woman", "men", "women", "male", "female", "boy", "girl", "person", "people",
    "young", "middle", "aged", "old", "adult", "child", "elderly", "teen",
    "yes", "no", "unknown", "none", "other",
    "white", "black", "asian", "indian", "latino", "light", "dark", "medium", "skin", "tone",
    # prompts and questions
    "a", "an", "the", "of", "with", "and", "or", "in", "on", "at", "to", "for", "from", "by",
    "is", "are", "was", "be", "this", "that", "it", "there", "one", "two", "some", "any",
    "what", "who", "how", "which", "where", "why", "do", "does", "can", "you", "your",
    "photo", "picture", "portrait", "image", "face", "gender", "age", "race", "ethnicity",
    "doctor", "nurse", "teacher", "engineer", "chef", "worker", "ceo", "lawyer", "pilot",
    "answer", "answers", "question", "reply", "only", "word", "words", "choose", "choices",
    "json", "prompt", "caption", "bias", "biases", "name", "classes", "refer", "present",
    "true", "false", "null", "list", "output", "give", "propose", "please", "short",
    "assistant", "user", "system", "hello", "hi", "thanks",
    # punctuation (each character alone; runs of punctuation are <unk>)
    ".", ",", ":", ";", "?", "!", "-", "'", '"', "(", ")", "[", "]", "{", "}", "/", "_",
)  # fmt: skip

#: Jinja chat template understood by tokenizers' and processors' ``apply_chat_template``.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|> "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}" + IMAGE_TOKEN + " "
    "{% elif part['type'] == 'text' %}{{ part['text'] }} {% endif %}"
    "{% endfor %}{% endif %}"
    " <|end|> "
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_wordlevel_tokenizer(
    *,
    words: Iterable[str] = TINY_VOCAB_WORDS,
    extra_special_tokens: Sequence[str] = (),
    model_max_length: int = 512,
) -> Any:
    """A ``PreTrainedTokenizerFast`` over ``words`` with bos/eos/pad/unk and :data:`CHAT_TEMPLATE`.

    Parameters
    ----------
    words:
        The ordinary tokens, after the special ones (ids are assigned in this order).
    extra_special_tokens:
        More special tokens that must never be split, e.g. :data:`IMAGE_TOKEN`.
    model_max_length:
        Recorded as the tokenizer's maximum length.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Ready to ``save_pretrained``; ``encode`` adds ``<s>`` in front of plain text.
    """
    tk = require("tokenizers", "tiny test models", extra="hf")
    transformers = require("transformers", "tiny test models")

    specials = [PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN, *CHAT_TOKENS, *extra_special_tokens]
    vocab: dict[str, int] = {}
    for token in [*specials, *words]:
        vocab.setdefault(token, len(vocab))

    backend = tk.Tokenizer(tk.models.WordLevel(vocab, unk_token=UNK_TOKEN))
    backend.normalizer = tk.normalizers.Lowercase()
    backend.pre_tokenizer = tk.pre_tokenizers.Whitespace()
    backend.decoder = tk.decoders.WordPiece(prefix="##", cleanup=True)
    backend.post_processor = tk.processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A",
        pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B",
        special_tokens=[(BOS_TOKEN, vocab[BOS_TOKEN])],
    )
    backend.add_special_tokens(specials)

    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer

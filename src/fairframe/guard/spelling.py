"""A small spelling corrector for the embedding classifier's extra view of a typo'd prompt.

One-letter typos ("a maass shootin", "blod on the flor") cut words into WordPiece fragments that a
sentence embedding barely reads, and the red-team tool's ``char_noise`` attack gets prompts past
the embedding classifier that way. :func:`correct_words` fixes what it safely can: every word of
:data:`MIN_LENGTH`+ letters that is not an English word (the whole words of the bert-base-uncased
vocabulary, the list the gibberish stage ships) is replaced by an English word one edit away
(a dropped, doubled, inserted, replaced or swapped letter, never the first letter); when several
qualify, the most frequent one wins (the vocabulary's order). Only lower-case words are
corrected (a capital marks a name, which the lexicon's own typo variants cover), and an English
word with a common suffix ("faking", "sorrows": the vocabulary lists few inflected forms) is not
a typo. It returns ``None`` when nothing
changed, so prompts without typos cost nothing.

It is a view, never a rewrite: the guard scores the corrected text *as well as* the original and
keeps the larger probability per category (like the tag-list and prompt-scheduling views), and
the prompt served is never changed.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["MAX_WORDS", "MIN_LENGTH", "correct_words"]

#: Words shorter than this are never corrected (short words have too many neighbours).
MIN_LENGTH = 4
#: Only the first this many words are looked at: the embedding reads 128 word pieces at most, and
#: a 4,000-character prompt of gibberish would otherwise cost ~50 ms.
MAX_WORDS = 96

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[^\sA-Za-z]+|\s+")
_LETTERS = string.ascii_lowercase


@functools.cache
def _ranks() -> Mapping[str, int]:
    """English word -> its rank in the bert-base-uncased vocabulary the gibberish stage ships
    (lower: more frequent)."""
    from fairframe.guard.gibberish import default_gibberish_model

    words = default_gibberish_model().words
    return MappingProxyType({w: i for i, w in enumerate(words) if len(w) >= MIN_LENGTH - 1})


def _edits(word: str) -> set[str]:
    """Every string one edit away from ``word`` that keeps its first letter."""
    head, tail = word[0], word[1:]
    splits = [(tail[:i], tail[i:]) for i in range(len(tail) + 1)]
    out = {head + a + b[1:] for a, b in splits if b}
    out |= {head + a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {head + a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {head + a + c + b for a, b in splits for c in _LETTERS}
    return out


_SUFFIXES = ("ing", "ed", "es", "s", "er", "ers", "ly", "est", "ness", "ment")


def _inflected(low: str, ranks: Mapping[str, int]) -> bool:
    """Whether ``low`` is an English word plus a common suffix ("faking", "sorrows"): the
    vocabulary lists few inflected forms, and those are not typos."""
    for suffix in _SUFFIXES:
        stem = low[: -len(suffix)]
        if low.endswith(suffix) and len(stem) >= 3 and (
                stem in ranks or stem + "e" in ranks or (len(stem) > 3 and stem[-1] == stem[-2]
                                                         and stem[:-1] in ranks)):
            return True
    return False


def _correct(word: str, ranks: Mapping[str, int]) -> str | None:
    if len(word) < MIN_LENGTH or not word.islower() or word in ranks:
        return None  # short, a name or in capitals, or English
    return _correct_lower(word)


@functools.lru_cache(maxsize=1 << 16)
def _correct_lower(low: str) -> str | None:
    ranks = _ranks()
    if _inflected(low, ranks):
        return None
    return min((c for c in _edits(low) if c in ranks and len(c) >= MIN_LENGTH - 1),
               key=ranks.__getitem__, default=None)


def correct_words(text: str) -> str | None:
    """``text`` with its misspelt words corrected (see the module docstring), or ``None`` when
    no word changed.

    Examples
    --------
    >>> correct_words("a maass shootin at a mall")
    'a mass shooting at a mall'
    >>> correct_words("a watercolor of a lighthouse") is None
    True
    """
    ranks = _ranks()
    changed = False
    out: list[str] = []
    words = 0
    for m in _WORD.finditer(text):
        token = m.group()
        fixed = None
        if token[0].isalpha():
            words += 1
            if words <= MAX_WORDS and "'" not in token:
                fixed = _correct(token, ranks)
        if fixed is not None and fixed != token:
            out.append(fixed)
            changed = True
        else:
            out.append(token)
    return "".join(out) if changed else None

"""Words in any script: what the matchers count as a word character and as a word boundary.

Python's ``\\w`` leaves out combining marks, so it cuts Hindi "नग्न" into "नग" and "न" and would
let a term match inside a word. Here a *word character* is a letter, a digit or a combining mark
(Unicode categories ``L*``, ``N*``, ``Mn``, ``Mc``, ``Me``; not ``_``).

Chinese, Japanese, Thai, Lao, Khmer, Myanmar and Tibetan are written without spaces between
words, so whole-word matching would never find "裸体" inside "裸体女孩". A position between two
characters is a *boundary* when one of them is not a word character **or** one of them belongs
to such an *unspaced* script. Terms in those scripts therefore match anywhere in a run of their
script, and a Latin term still needs a boundary on its Latin side ("nude少女" holds "nude").
Korean is written with spaces but glues particles to words ("나체로"): its terms are written as
prefix terms in the lexicon files.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = [
    "MARKS",
    "UNSPACED",
    "WORD",
    "boundary",
    "invisible_class",
    "is_mark",
    "is_visible",
    "script_of",
    "is_word_char",
    "unspaced",
]

#: Code point ranges of the unspaced scripts (Thai, Lao, Tibetan, Myanmar, Khmer, kana, CJK
#: ideographs and their extensions, halfwidth katakana).
_UNSPACED_RANGES = ((0x0E00, 0x0EFF), (0x0F00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF),
                    (0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
                    (0xF900, 0xFAFF), (0xFF66, 0xFF9F), (0x20000, 0x3FFFF))


def _class(ranges: list[tuple[int, int]]) -> str:
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


def _mark_ranges() -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in range(0x20000):  # past the SMP only variation selectors, which are dropped
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if out and out[-1][1] == cp - 1:
                out[-1] = (out[-1][0], cp)
            else:
                out.append((cp, cp))
    return out


#: A regular-expression character-class body of the combining marks (BMP and SMP).
MARKS = _class(_mark_ranges())
#: A regular-expression character-class body of the unspaced scripts.
UNSPACED = _class(list(_UNSPACED_RANGES))
#: One word: a run of letters, digits and combining marks.
WORD = re.compile(rf"(?:[^\W_]|[{MARKS}])+")


def is_visible(c: str) -> bool:
    """Whether ``c`` shows: not white space, not a control (``Cc``) or format character (``Cf``:
    zero-width, bidi, tag characters, soft hyphen). A prompt needs one to be checked."""
    return not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf")


@functools.cache
def invisible_class() -> str:
    """The body of a regular-expression character class of every character that is not
    :func:`is_visible` (surrogates aside), written as the characters themselves, so that
    ``[^...]`` reads the same in Python, Rust (pydantic) and ECMAScript (JSON Schema)."""
    chars: list[str] = []
    start = end = -2
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or is_visible(chr(cp)):
            continue
        if cp != end + 1:
            if start >= 0:
                chars.append(_span(start, end))
            start = cp
        end = cp
    chars.append(_span(start, end))
    return "".join(chars)


def _span(lo: int, hi: int) -> str:
    a, b = (re.escape(chr(cp)) if chr(cp) in "\\]^-[" else chr(cp) for cp in (lo, hi))
    return a if lo == hi else f"{a}-{b}"


@functools.lru_cache(maxsize=8192)
def script_of(c: str) -> str:
    """The script of a character as the first word of its Unicode name ("LATIN", "CYRILLIC",
    "CJK", "HANGUL", ...); ASCII is "LATIN"; "" for an unnamed character."""
    if c.isascii():
        return "LATIN"
    name = unicodedata.name(c, "")
    return name.split(" ", 1)[0] if name else ""


def is_mark(c: str) -> bool:
    """Whether ``c`` is a combining mark (``Mn``, ``Mc``, ``Me``)."""
    return unicodedata.category(c) in ("Mn", "Mc", "Me")


@functools.lru_cache(maxsize=8192)
def is_word_char(c: str) -> bool:
    """A letter, a digit or a combining mark (never ``_``)."""
    return c.isalnum() or is_mark(c)


def unspaced(c: str) -> bool:
    """Whether ``c`` belongs to a script written without spaces between words."""
    cp = ord(c)
    return cp >= 0x0E00 and any(lo <= cp <= hi for lo, hi in _UNSPACED_RANGES)


def boundary(text: str, i: int) -> bool:
    """Whether a word may start or end at position ``i`` of ``text`` (between ``text[i-1]`` and
    ``text[i]``; the ends of the text are boundaries)."""
    if i <= 0 or i >= len(text):
        return True
    a, b = text[i - 1], text[i]
    return not (is_word_char(a) and is_word_char(b)) or unspaced(a) or unspaced(b)

"""Which language a prompt is written in, so that stages that read English only step aside.

The embedding classifier (MiniLM) and the gibberish detector were trained on English. On a
Spanish or Turkish sentence they see words they do not know: the detector calls it token soup
and the classifier scores nonsense ("pesta ulang tahun anak", a children's birthday party, scored
1.0 ``shocking``). The lexicon stage knows which language it reads from its language files
(``lexicons/lang/<code>.txt``), and the fusion caps the evidence of a stage that does not read
the prompt's language (its ``languages``) at ``language_cap``
(:mod:`~fairframe.guard.fusion`).

:func:`identify` decides, in order:

1. **Script.** The letters of the prompt are counted by script (the first word of their Unicode
   name: LATIN, CYRILLIC, CJK, HANGUL, ...). When letters of other scripts outnumber the Latin
   ones, the language is that of the commonest script: Cyrillic is ``uk`` when a Ukrainian letter
   (і ї є ґ) occurs and ``ru`` otherwise; CJK ideographs are ``ja`` when kana occur and ``zh``
   otherwise; Hangul ``ko``, kana ``ja``, Arabic ``ar``, Devanagari ``hi``, Greek ``el``, Hebrew
   ``he``, Thai ``th``; any other script ``und`` (undetermined, but not English).
2. **Latin letters.** Words are runs of letters, lower-cased, diacritics kept. For each language
   profile, its *hits* are the words that are its function words or words of its language
   file's terms (not English words) plus the words that hold one of its letters (``ñ``, ``ß``,
   ``ł``, ``ı``, ``ơ``, ...). The profile with the most hits wins (on a tie, the one with
   more words of its terms, then more hits no other profile shares, then the first code)
   when it has more hits than the prompt has English function words and either

   * at least :data:`MIN_HITS` hits, and at most two thirds of the prompt's distinct *content
     words* (4+ letters, not a function word of any profile) are English words (spelled in
     ``a``-``z`` and in the English dictionary: ``cama`` is not, ``hospital`` is, ``chơi`` is
     not); or
   * one hit (a short prompt: "parkta oynayan çocuklar"), at least two content words and at
     most a third of them English.

   Otherwise the prompt is English (``en``).

The content test keeps the cap out of reach of a cheap evasion: an English prompt with a few
foreign function words appended ("a bloody corpse de la el") still has English content words,
so it stays ``en`` and every stage reads it. Padding a prompt with a longer foreign sentence
does move it; for that, :func:`english_segments` gives the English-only stages the segments of
the prompt that are English ("a bloody corpse in an alley, una fotografía tomada en la ciudad
...": the first clause), and the fusion lets their scores on that part count in full. A prompt
whose English and foreign words are mixed in one clause is read by the lexicon alone; a
deployment that would rather over-block sets ``language_cap = 1.0``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from fairframe.guard.normalize import unconfuse
from fairframe.guard.script import script_of

__all__ = ["ENGLISH", "MIN_HITS", "UNDETERMINED", "LanguageProfile", "english_segments",
           "identify"]

#: The language code of English, which every stage reads.
ENGLISH = "en"
#: A prompt in a script no profile or table names.
UNDETERMINED = "und"
#: Fewest hits for a Latin-script prompt to be called another language.
MIN_HITS = 2

_SCRIPTS = {"CYRILLIC": "ru", "CJK": "zh", "HIRAGANA": "ja", "KATAKANA": "ja", "HANGUL": "ko",
            "ARABIC": "ar", "DEVANAGARI": "hi", "GREEK": "el", "HEBREW": "he", "THAI": "th"}
_UKRAINIAN = frozenset("іїєґ")
_LETTERS = re.compile(r"[^\W\d_]+")
#: Where a prompt splits into segments: clause and sentence punctuation, line breaks, "BREAK".
_SEGMENT = re.compile(r"[,;.!?|\n]+|\bBREAK\b")


@dataclass(frozen=True)
class LanguageProfile:
    """What tells a Latin-script language apart: its commonest function words (those that are
    not English function words too), letters English does not use, and the words of its
    language file's terms that are not English words (``vocabulary``)."""

    code: str
    function_words: frozenset[str] = frozenset()
    letters: frozenset[str] = frozenset()
    vocabulary: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=16)
def _index(profiles: tuple[LanguageProfile, ...], english_function: frozenset[str]
           ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], frozenset[str],
                      dict[str, tuple[str, ...]]]:
    """Function or vocabulary word -> codes, letter -> codes, every function word, and
    vocabulary word -> codes."""
    words: dict[str, list[str]] = {}
    letters: dict[str, list[str]] = {}
    vocabulary: dict[str, list[str]] = {}
    for p in profiles:
        for w in p.function_words | p.vocabulary:
            words.setdefault(w, []).append(p.code)
        for w in p.vocabulary:
            vocabulary.setdefault(w, []).append(p.code)
        for c in p.letters:
            letters.setdefault(c, []).append(p.code)
    every = frozenset(w for p in profiles for w in p.function_words) | english_function
    return ({w: tuple(c) for w, c in words.items()}, {c: tuple(v) for c, v in letters.items()},
            every, {w: tuple(c) for w, c in vocabulary.items()})


def _prepare(text: str) -> str:
    """NFKC (fullwidth and math letters become plain letters; "n" + combining tilde becomes
    "ñ"), then lookalike letters inside Latin words become Latin."""
    return text if text.isascii() else unconfuse(unicodedata.normalize("NFKC", text))


def identify(text: str, profiles: Sequence[LanguageProfile], *,
             english_function: Collection[str], english_words: Collection[str]) -> str:
    """The language code of ``text`` (module docstring). ``english_function`` are English
    function words, ``english_words`` a dictionary of lower-case English words. The text is
    read after NFKC and :func:`~fairframe.guard.normalize.unconfuse`, so fullwidth, math
    alphanumeric or lookalike spellings of English stay English."""
    text = _prepare(text)
    if not text.isascii():
        scripts = Counter(script_of(c) for c in text if c.isalpha())
        latin = scripts.pop("LATIN", 0)
        if scripts and sum(scripts.values()) > latin:
            script = scripts.most_common(1)[0][0]
            if script == "CYRILLIC":
                return "uk" if any(c in _UKRAINIAN for c in text.lower()) else "ru"
            if script == "CJK" and (scripts["HIRAGANA"] or scripts["KATAKANA"]):
                return "ja"
            return _SCRIPTS.get(script, UNDETERMINED)
    english_set = (english_function if isinstance(english_function, frozenset)
                   else frozenset(english_function))
    by_word, by_letter, function, by_vocabulary = _index(tuple(profiles), english_set)
    words = _LETTERS.findall(text.lower())
    english = 0
    hits: Counter[str] = Counter()
    only: Counter[str] = Counter()  # hits no other profile shares
    known_words: Counter[str] = Counter()  # words of the language file's terms
    for w in words:
        if w in english_set:
            english += 1
        found = by_word.get(w, ())
        if w.isascii():
            if not found:
                continue
            codes = set(found)
        else:
            codes = set(found)
            for c in w:
                codes.update(by_letter.get(c, ()))
            if not codes:
                continue
        known_words.update(by_vocabulary.get(w, ()))
        hits.update(codes)
        if len(codes) == 1:
            only.update(codes)
    if not hits:
        return ENGLISH
    best = min(hits, key=lambda code: (-hits[code], -known_words[code], -only[code], code))
    n = hits[best]
    if n <= english:
        return ENGLISH
    content = {w for w in words if len(w) >= 4 and w not in function}
    known = sum(w.isascii() and w in english_words for w in content)
    if n >= MIN_HITS:
        return best if 3 * known <= 2 * len(content) else ENGLISH
    # one hit: a short prompt, with no English function word and few English content words
    return best if len(content) >= 2 and 3 * known <= len(content) else ENGLISH


def english_segments(text: str, profiles: Sequence[LanguageProfile], *,
                     english_function: Collection[str], english_words: Collection[str]
                     ) -> str | None:
    """The segments of ``text`` (split at ``, ; . ! ? |``, line breaks and ``BREAK``) that show
    English (an English function word, or two or more content words that are all English) and
    that :func:`identify` calls English, joined by ``", "``; ``None`` when there are none.

    The pipeline lets the English-only stages read this part of a prompt in another language,
    so that a foreign sentence appended to an English prompt does not hide the English part
    from them."""
    kept = [seg.strip() for seg in _SEGMENT.split(_prepare(text))
            if _english(seg, english_function, english_words)
            and identify(seg, profiles, english_function=english_function,
                         english_words=english_words) == ENGLISH]
    return ", ".join(kept) if kept else None


def _english(segment: str, english_function: Collection[str],
             english_words: Collection[str]) -> bool:
    """Whether a segment shows English: an English function word, or two or more content words
    (4+ letters), all of them English words."""
    words = _LETTERS.findall(segment.lower())
    if any(w in english_function for w in words):
        return True
    content = [w for w in words if len(w) >= 4]
    return len(content) >= 2 and all(w.isascii() and w in english_words for w in content)

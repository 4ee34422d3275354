"""Lexicon stage: per-category term lists matched on the normalized prompt.

Terms live in ``guard/lexicons/<category>.txt`` (package data written by the Fairframe developers;
see the README there). Every term has a weight in ``[0.5, 1.0]``.

**Matching.** The prompt goes through :func:`~fairframe.guard.normalize.normalize`; the normalized
text is case-folded and every run of non-alphanumeric characters becomes one space, so a term
matches across punctuation ("spider man" matches "Spider-Man"). Matches are whole words (the
characters around a match are not letters or digits); a plural ``s``/``es`` is allowed after any
term, and a term written with a trailing ``*`` matches as a prefix of a word. For each start
position the longest matching term is kept. Where the normalizer squeezed a run of 3+ letters to
2, the text with a single letter is matched too (``nuuuude -> nuude`` and ``nude``). Matching uses
Aho-Corasick (``pyahocorasick``) when it is installed, else one compiled regular expression; both
give the same matches.

**Typos.** With ``typos=True`` (the shipped lexicon's default when pyahocorasick is installed)
every term also matches its one-typo variants (:func:`typo_variants`: a swapped pair of
neighbouring letters, a dropped or a doubled letter, never the first letter; never a variant that
is an English word, another term, or a variant of two terms) at :data:`TYPO_WEIGHT` times its
weight, and a term of several words also matches with one typo in each of two of its words
("darthh vaader") at ``TYPO_WEIGHT**2`` times its weight; the evidence label is
``"<term> (typo)"``.

**Allow-list.** ``allow.txt`` lists benign phrases ("naked eye", "shoot a photo", "kill a
process"). A term match lying inside an occurrence of an allowed phrase is suppressed (and kept in
:attr:`LexiconResult.suppressed`).

**Score.** The score of a category is the noisy-OR of the weights of the *distinct* terms that
matched: ``score = 1 - prod(1 - w_t)``. One unambiguous term (1.0) gives 1.0; one ambiguous term
(0.5) gives 0.5; two give 0.75. Categories without a match score 0.0. These are lexicon scores,
not calibrated probabilities; calibration and fusion with other classifiers happen later.

**Minors.** ``sexual_minors`` is the noisy-OR of its own terms and of one co-occurrence score:
when a *minor marker* (``minor_markers.txt``, or an age 1-17 such as "14 years old" / "14yo" /
"twelve-year-old" / "aged twelve" / "who is 12" / "a boy of 10"; "twenty-one year old", "who
is 6 feet tall" and "a group of 10" are not)
appears in a prompt that also scores ``sexual`` or ``nudity``, the co-occurrence score is
``min(marker weight, max(sexual, nudity))``.

Evidence spans point at the original characters (through the normalizer's offset map). The
negative prompt is not scanned: words there are what the user asks to avoid.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

from fairframe.errors import ConfigError, MissingDependencyError
from fairframe.guard.decision import Decision, Evidence, Finding, decide_action
from fairframe.guard.frames import Frames, has_content
from fairframe.guard.language import ENGLISH, LanguageProfile, english_segments, identify
from fairframe.guard.normalize import (
    NormalizedPrompt,
    english_words,
    fold,
    normalize,
    schedule_drops,
    unconfuse,
)
from fairframe.guard.policy import CONTENT_CATEGORIES, Category, Policy, default_policy
from fairframe.guard.script import MARKS, UNSPACED, WORD, boundary, is_mark, unspaced
from fairframe.guard.stage import StageResult

__all__ = [
    "STAGE",
    "Lexicon",
    "LexiconResult",
    "Term",
    "aho_available",
    "default_lexicon",
]

#: Stage name used in findings and latencies.
STAGE = "lexicon"

Backend = Literal["auto", "aho", "regex"]

_MIN_WEIGHT, _MAX_WEIGHT = 0.5, 1.0
_AGE_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
              "fifteen sixteen seventeen")
_AGE_NUMBER = rf"(?:[1-9]|1[0-7]|{'|'.join(_AGE_WORDS.split())})"
#: Units after a number that make it no age ("aged 12 feet", "who is 6 foot tall").
_NOT_AGE_UNIT = (r"(?! ?(?:feet|foot|ft|inch|inches|cm|mm|m|meters?|metres?|kg|kilos?|lbs?"
                 r"|pounds?|stone|percent|%|times|of)(?![^\W_]))")
_AGE = re.compile(
    r"(?<![^\W_])(?<!twenty )(?<!thirty )(?<!forty )(?<!fifty )(?<!sixty )(?<!seventy )"
    r"(?<!eighty )(?<!ninety )"
    rf"{_AGE_NUMBER} ?"
    r"(?:yo|y o|yr old|yrs old|year old|years old)(?![^\W_])"
    # "aged twelve", "age 12", "who is 12", "a boy of 10": an age without "years old"
    rf"|(?<![^\W_])(?:aged?|who is|who s|who was)(?: just| only)? {_AGE_NUMBER}"
    rf"(?![^\W_]){_NOT_AGE_UNIT}"
    r"|(?<![^\W_])(?:girl|boy|child|kid|daughter|son|niece|nephew|pupil|schoolgirl|schoolboy)s?"
    rf" of {_AGE_NUMBER}(?![^\W_]){_NOT_AGE_UNIT}"
)
#: An age 1-17 in the words of the language files' languages (after folding: "14 años" is
#: "14 anos", "14-jährige" is "14 jahrige"), and in Chinese, Japanese and Korean, where the unit
#: follows the number without a space ("14岁").
_AGE_OTHER = re.compile(
    r"(?<![^\W_])(?:[1-9]|1[0-7]) ?(?:anos|ans|jahre|jahren|jahrig|jahrige|jahriger|jahriges"
    r"|jahrigen|anni|jaar|jarige|lat|letni|letnia|лет|года|годика|yasinda|yasında|yaşında"
    r"|tahun|tuoi|साल|वर्ष|سنة|سنوات|عام|اعوام)(?![^\W_])"
    r"|(?<!\d)(?:[1-9]|1[0-7]) ?(?:岁|歲|歳|才|살)"
)
#: Number-like youth cues (a bare number may be an age): a bare number in any script's digits
#: (checked to be 1-17 after matching), a Roman numeral I-XVII after "age"/"aged", and a birth
#: year or school class in this century ("born in 2015", "class of 2034"). Never markers.
_SMALL_NUMBER = re.compile(r"(?<![^\W_])\d{1,2}(?![^\W_])")
_AGE_SHAPES = re.compile(
    r"(?<![^\W_])(?:aged? (?:x?(?:i{1,3}|iv|vi{0,3}|ix)|x|xv|xvi{0,2}|xiv)"
    r"|born in 20\d\d|class of 20\d\d)(?![^\W_])"
)
_MARKERS = "minor_markers"
_YOUTH = "youth_cues"
#: Entry kinds that are matched but score no category of their own.
_NOT_SCORED = frozenset({_MARKERS, _YOUTH})
_ALLOW = "allow"
_FRAMES = "frames"
#: Subfolder of the language files (``lang/<code>.txt``).
_LANG_DIR = "lang"
_SEXUAL_CATS = (Category.SEXUAL.value, Category.NUDITY.value)


@dataclass(frozen=True)
class Term:
    """One lexicon entry.

    Attributes
    ----------
    text:
        Lower-case words separated by single spaces (no ``*``).
    weight:
        In ``[0.5, 1.0]``.
    prefix:
        ``True`` when the file wrote it with a trailing ``*``.
    exact:
        ``True``: matched only as written, never as a typo variant (the terms of the language
        files, ``lang/<code>.txt``: the typo rules read an English dictionary).
    spelling:
        For an exact term with diacritics: the term as written, lower case ("khỏa thân"). A
        prompt that writes the matched words with other diacritics ("khoa thận", nephrology)
        is not a match; one without any ("khoa than") still is.
    where:
        ``FILE:LINE`` of a term read from a file (named in errors), else ``""``; not compared.
    """

    text: str
    weight: float
    prefix: bool = False
    exact: bool = False
    spelling: str = ""
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class LexiconResult:
    """What :meth:`Lexicon.scan` found.

    Attributes
    ----------
    scores:
        Score per category id (every category present; 0.0 when nothing matched).
    findings:
        One finding per matched term occurrence (plus minors co-occurrence findings).
    suppressed:
        Term matches the allow-list suppressed (label ``"term (allowed: phrase)"``) and topic
        terms inside a protective frame (label ``"term (framed: cue)"``, :mod:`.frames`).
    prompt:
        The normalized prompt that was matched.
    framed:
        Categories whose only matches were framed or allow-listed topic terms, at least one of
        them framed (the fusion caps the semantic stages' evidence for them).
    framed_findings:
        One finding with score 0.0 per framed match and category (label
        ``"term (framed: cue)"``): the stage reports them with its findings so that a decision
        shows why a named topic counted for nothing.
    unframed_text:
        When a category is framed: the normalized text with every frame's cue and topic cut out,
        for the pipeline to score again (:mod:`~fairframe.guard.frames`).
    framed_scores:
        Per category, the noisy-OR of the weights of the framed topic terms: what they would
        have scored (the fusion's minors gate counts it as sexual evidence).
    minor_cue:
        Whether the prompt has a minor marker (even inside an allowed phrase: "baby teeth"), an
        age 1-17, a bare number 1-17 or a youth cue outside an allowed phrase ("young" in
        "young woman" is none); ``None`` when the lexicon has no youth cues (then it does not
        say). Without one, the fusion caps the other stages' ``sexual_minors`` evidence (module
        docstring).
    language:
        The prompt's language code (:func:`~fairframe.guard.language.identify`); ``None`` when
        the lexicon has no language files (then it does not say).
    english_text:
        For a prompt in another language: its English segments
        (:func:`~fairframe.guard.language.english_segments`), else ``None``.
    """

    scores: Mapping[str, float]
    findings: tuple[Finding, ...]
    suppressed: tuple[Evidence, ...]
    prompt: NormalizedPrompt
    framed: frozenset[str] = frozenset()
    framed_findings: tuple[Finding, ...] = ()
    unframed_text: str | None = None
    framed_scores: Mapping[str, float] = field(default_factory=dict)
    minor_cue: bool | None = None
    language: str | None = None
    english_text: str | None = None


# --------------------------------------------------------------------------- matchers


class _Matcher(Protocol):
    def find(self, text: str) -> list[tuple[int, int, int]]:
        """``(start, end, pattern index)``: for each start, the longest whole-word match."""
        ...


def _plural_at(text: str, end: int) -> int:
    """The end of a plural ``s``/``es`` at ``end`` that ends a word there, else ``-1``."""
    for suffix in ("s", "es"):
        stop = end + len(suffix)
        if text[end:stop] == suffix and boundary(text, stop):
            return stop
    return -1


class _AhoMatcher:
    def __init__(self, patterns: Sequence[str], prefix: Sequence[bool]) -> None:
        ahocorasick: Any = importlib.import_module("ahocorasick")
        self._prefix = list(prefix)
        auto = ahocorasick.Automaton()
        for i, p in enumerate(patterns):
            auto.add_word(p, (i, len(p)))
        auto.make_automaton()
        self._auto = auto
        self._empty = not patterns

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self._empty:
            return []
        best: dict[int, tuple[int, int, int]] = {}
        for end_idx, (i, length) in self._auto.iter(text):
            start = end_idx - length + 1
            if not boundary(text, start):
                continue
            end = end_idx + 1
            if self._prefix[i]:
                while not boundary(text, end):
                    end += 1
            elif not boundary(text, end):
                end = _plural_at(text, end)
                if end < 0:
                    continue
            old = best.get(start)
            if old is None or length > old[2]:
                best[start] = (end, i, length)
        return [(s, e, i) for s, (e, i, _) in sorted(best.items())]


class _RegexMatcher:
    """One regular expression per kind of term edge (see :func:`_kind`), each with the boundary
    tests written once around an alternation of its terms, longest first; :meth:`find` keeps
    the longest term at each start, as :class:`_AhoMatcher` does, and extends prefix terms to
    the end of their word."""

    def __init__(self, patterns: Sequence[str], prefix: Sequence[bool]) -> None:
        groups: dict[tuple[bool, str], list[int]] = {}
        for i in sorted(range(len(patterns)), key=lambda i: (-len(patterns[i]), patterns[i])):
            groups.setdefault(_kind(patterns[i], prefix[i]), []).append(i)
        self._patterns = list(patterns)
        self._prefix = list(prefix)
        self._res: list[tuple[re.Pattern[str], list[int]]] = []
        for (spaced_start, end), order in sorted(groups.items()):
            plural = "(?:s|es)?" if end == "word" else ""
            alts = "|".join(f"({re.escape(patterns[i])}{plural})" for i in order)
            regex = ((_START if spaced_start else "") + f"(?:{alts})"
                     + (_END if end == "word" else ""))
            self._res.append((re.compile(f"(?={regex})"), order))

    def find(self, text: str) -> list[tuple[int, int, int]]:
        best: dict[int, tuple[int, int, int]] = {}
        for regex, order in self._res:
            for m in regex.finditer(text):
                g = m.lastindex or 0
                i, start, end = order[g - 1], m.start(g), m.end(g)
                if self._prefix[i]:
                    while not boundary(text, end):
                        end += 1
                old = best.get(start)
                if old is None or len(self._patterns[i]) > old[2]:
                    best[start] = (end, i, len(self._patterns[i]))
        return [(s, e, i) for s, (e, i, _) in sorted(best.items())]


#: Regular-expression forms of :func:`~fairframe.guard.script.boundary` before and after a
#: spaced letter: the neighbour is an unspaced letter, or not a word character at all.
_START = rf"(?:(?<=[{UNSPACED}])|(?<![^\W_])(?<![{MARKS}]))"
_END = rf"(?:(?=[{UNSPACED}])|(?![^\W_])(?![{MARKS}]))"


def _kind(term: str, prefix: bool) -> tuple[bool, str]:
    """Whether the term needs a boundary before it (it starts with a spaced letter), and what
    follows it: ``"word"`` (a boundary, after an optional plural), ``"prefix"`` (the rest of the
    word) or ``"any"`` (it ends with an unspaced letter: anything)."""
    end = "any" if unspaced(term[-1]) else "prefix" if prefix else "word"
    return not unspaced(term[0]), end


def aho_available() -> bool:
    """Whether ``pyahocorasick`` is installed."""
    try:
        importlib.import_module("ahocorasick")
    except ImportError:
        return False
    return True


def _matcher(patterns: Sequence[str], prefix: Sequence[bool], backend: Backend) -> _Matcher:
    if backend == "regex" or (backend == "auto" and not aho_available()):
        return _RegexMatcher(patterns, prefix)
    if backend == "aho" and not aho_available():
        raise MissingDependencyError("pyahocorasick", "guard", "fast lexicon matching")
    return _AhoMatcher(patterns, prefix)


# --------------------------------------------------------------------------- loading


def _parse_file(path: str, text: str, *, weighted: bool) -> list[Term]:
    terms: list[Term] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            terms.append(_parse_line(f"{path}:{lineno}", line, weighted=weighted))
    return terms


def _parse_line(where: str, line: str, *, weighted: bool, exact: bool = False) -> Term:
    """One ``[WEIGHT] term`` line; the term is folded as the normalizer folds prompts."""
    weight = 1.0
    if weighted:
        head, _, rest = line.partition(" ")
        try:
            weight = float(head)
        except ValueError as exc:
            raise ConfigError(
                f"{where}: a line must be 'WEIGHT term', weight in [0.5, 1.0] (got {line!r})"
            ) from exc
        if not (math.isfinite(weight) and _MIN_WEIGHT <= weight <= _MAX_WEIGHT):
            raise ConfigError(f"{where}: weight must be in [0.5, 1.0] (got {weight})")
        line = rest.strip()
    elif re.fullmatch(r"[01]?\.\d+|1", line.split(" ", 1)[0]):
        raise ConfigError(f"{where}: this line takes a term without a weight (got {line!r})")
    prefix = line.endswith("*")
    words = WORD.findall(_fold(fold(line.rstrip("*"))))
    if not words:
        raise ConfigError(f"{where}: the term has no letters or digits (got {line!r})")
    text = " ".join(words)
    written = _written(line.rstrip("*"))
    return Term(text, weight, prefix, exact, written if exact and written != text else "",
                where)


def _written(text: str) -> str:
    """Lower-case words of ``text`` as written (NFC, diacritics kept, lookalike letters in Latin
    words made Latin), one space apart."""
    text = unicodedata.normalize("NFC", unconfuse(unicodedata.normalize("NFC", text)))
    return " ".join(WORD.findall(_fold(text)))


def _has_diacritics(text: str) -> bool:
    return any(is_mark(c) for c in unicodedata.normalize("NFD", text))


#: Kinds of line in a language file besides the category ids.
_LANG_KINDS = ("marker", "cue", "allow", "ignore", "function", "letters")


@dataclass
class _LangTerms:
    """What the language files add: category terms, minor markers, youth cues, allowed
    phrases."""

    terms: dict[str, list[Term]] = field(default_factory=dict)
    markers: list[Term] = field(default_factory=list)
    cues: list[Term] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    profiles: list[LanguageProfile] = field(default_factory=list)
    ignore: dict[str, set[str]] = field(default_factory=dict)

    def read(self, path: str, code: str, text: str) -> None:
        """Parse one ``lang/<code>.txt``: lines ``KIND [WEIGHT] term``, where KIND is a category
        id or ``marker`` (both with a weight), ``cue``, ``allow`` or ``ignore`` (without one:
        ``ignore`` names a term of another list that is an ordinary word of this language and
        is not matched in a prompt identified as this language), or ``function`` / ``letters``
        followed by the language's function words / letters (:mod:`~fairframe.guard.language`)."""
        if not re.fullmatch(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?", code):
            raise ConfigError(f"{path}: a language file is named by its language code, such as "
                              f"'es.txt' or 'pt-br.txt' (got {code!r})")
        function: set[str] = set()
        letters: set[str] = set()
        vocabulary: set[str] = set()
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kind, _, rest = line.partition(" ")
            where = f"{path}:{lineno}"
            if kind not in _CATEGORY_FILES and kind not in _LANG_KINDS:
                raise ConfigError(
                    f"{where}: a line starts with a category ({', '.join(_CATEGORY_FILES)}) or "
                    f"one of {', '.join(_LANG_KINDS)} (got {kind!r})")
            if kind in ("function", "letters") and not rest.split():
                raise ConfigError(f"{where}: '{kind}' needs at least one "
                                  f"{'word' if kind == 'function' else 'letter'} after it")
            if kind == "function":
                words = rest.lower().split()
                function.update(words + [_fold(fold(w)) for w in words])
                continue
            if kind == "letters":
                letters.update(unicodedata.normalize("NFC", rest).lower().split())
                if any(len(c) != 1 for c in letters):
                    raise ConfigError(f"{where}: letters are single characters separated by "
                                      f"spaces (got {rest.strip()!r})")
                continue
            term = _parse_line(where, rest.strip(),
                               weighted=kind not in ("cue", "allow", "ignore"), exact=True)
            if kind != "ignore":
                words = term.text.split() + WORD.findall(_fold(rest))
                vocabulary.update(w for w in words if len(w) >= 3 and not w.isdigit())
            if kind == "marker":
                self.markers.append(term)
            elif kind == "cue":
                self.cues.append(term)
            elif kind == "allow":
                self.allow.append(term.text + ("*" if term.prefix else ""))
            elif kind == "ignore":
                self.ignore.setdefault(code, set()).add(_TRIPLE.sub(r"\1\1", term.text))
            else:
                self.terms.setdefault(kind, []).append(term)
        if not (function or letters or vocabulary or self.ignore.get(code)):
            raise ConfigError(f"{path}: the language file has no lines; give it terms and "
                              "'function' words, or remove it")
        english = _dictionary()
        self.profiles.append(LanguageProfile(
            code, frozenset(function), frozenset(letters),
            frozenset(w for w in vocabulary if w not in english and w not in function)))


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc


_CATEGORY_FILES = CONTENT_CATEGORIES
#: Normalizer changes that take words apart in the original (its identification is then
#: checked against the normalized text's).
_SPLITTERS = frozenset({"zero-width removed", "invisible removed", "bidi controls removed",
                        "spaced letters joined", "tag characters removed"})
#: A run of 3+ equal letters (squeezed to 2 in terms, as the normalizer does in prompts).
_TRIPLE = re.compile(r"([^\W\d_])\1{2,}")
_ALLOWED_FILES = (*_CATEGORY_FILES, _MARKERS, _YOUTH, _ALLOW, _FRAMES)


class Lexicon:
    """Per-category term lists, an allow-list and minor markers, compiled for fast matching.

    Parameters
    ----------
    terms:
        Category id -> terms. Unknown category ids raise :class:`ConfigError`.
    allow:
        Benign phrases that suppress the term matches inside them; a trailing ``*`` makes a
        phrase a prefix of a word ("누드톤*" allows "누드톤의", with a Korean particle).
    minor_markers:
        Words marking a minor (see the module docstring).
    youth_cues:
        Words that may describe a minor ("girl", "young", "school*"); they score nothing and
        only make the prompt's :attr:`LexiconResult.minor_cue`. ``None``: the lexicon reports
        no minor cue (``minor_cue`` is ``None``) and the fusion caps nothing for it.
    backend:
        ``"aho"`` (pyahocorasick), ``"regex"``, or ``"auto"`` (aho when installed).
    frames:
        Protective frames (:mod:`~fairframe.guard.frames`); their topics must be terms of the
        lists. ``None``: no frames.
    language_profiles:
        The language profiles of its language files (``lang/<code>.txt``); with them the
        lexicon reports each prompt's language (:mod:`~fairframe.guard.language`). ``None``:
        it does not say.
    ignore:
        Language code -> terms (of any list) not matched in a prompt identified as that
        language, because there they are ordinary words (Spanish "son", "they are"; "pedo",
        a fart).
    """

    def __init__(
        self,
        terms: Mapping[str, Iterable[Term]],
        *,
        allow: Iterable[str] = (),
        minor_markers: Iterable[Term] = (),
        youth_cues: Iterable[Term] | None = None,
        backend: Backend = "auto",
        typos: bool = False,
        frames: Frames | None = None,
        language_profiles: Iterable[LanguageProfile] | None = None,
        ignore: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._entries: dict[str, list[tuple[str, float]]] = {}
        self._typo_of: dict[str, str] = {}
        #: Pattern -> the spellings with diacritics its terms were written with (``None``: a
        #: term of that pattern has none, so any spelling matches).
        self._spellings: dict[str, set[str] | None] = {}
        #: Pattern -> where its first term was written (for the error when two disagree).
        self._where: dict[str, str] = {}
        prefix_of: dict[str, bool] = {}
        self.terms: Mapping[str, tuple[Term, ...]] = MappingProxyType(
            {str(k): tuple(v) for k, v in terms.items()}
        )
        for cat, items in self.terms.items():
            if cat not in _CATEGORY_FILES:
                raise ConfigError(
                    f"unknown lexicon category {cat!r}; allowed: {', '.join(_CATEGORY_FILES)}"
                )
            for t in items:
                self._add(t, cat, prefix_of)
        self.minor_markers = tuple(minor_markers)
        for t in self.minor_markers:
            self._add(t, _MARKERS, prefix_of)
        self.youth_cues = None if youth_cues is None else tuple(youth_cues)
        for t in self.youth_cues or ():
            self._add(t, _YOUTH, prefix_of)
        self.language_profiles = (None if language_profiles is None
                                  else tuple(language_profiles))
        self.ignore: Mapping[str, frozenset[str]] = MappingProxyType(
            {code: frozenset(terms) for code, terms in (ignore or {}).items()})
        self.typos = bool(typos)
        if self.typos:
            self._add_typos(prefix_of)
        self._patterns = list(self._entries)
        unknown = sorted({t for terms in self.ignore.values() for t in terms} - set(self._entries))
        if unknown and self.typos:  # without typos a typo variant named there is not an entry
            raise ConfigError(f"ignore names terms no list has: {', '.join(unknown)}; an ignore "
                              "line takes a term (or a typo variant) of another list")
        self._matcher = _matcher(self._patterns, [prefix_of[p] for p in self._patterns], backend)
        phrases = {" ".join(WORD.findall(_fold(fold(a.rstrip("*"))))): a.endswith("*")
                   for a in allow}
        phrases.pop("", None)
        #: Allowed phrases (a trailing ``*``: a prefix phrase, "누드톤*" allows "누드톤의").
        self.allow = tuple(sorted(p + ("*" if prefix else "") for p, prefix in phrases.items()))
        self._allow_phrases = [a.rstrip("*") for a in self.allow]
        self._allow_matcher = _matcher(self._allow_phrases,
                                       [a.endswith("*") for a in self.allow], backend)
        self.backend = "regex" if isinstance(self._matcher, _RegexMatcher) else "aho"
        if frames is not None:
            frames.check_topics(
                (t.text for items in self.terms.values() for t in items), "lexicon frames")
        self.frames = frames

    def _add(self, term: Term, cat: str, prefix_of: dict[str, bool]) -> None:
        if not _MIN_WEIGHT <= term.weight <= _MAX_WEIGHT:
            raise ConfigError(f"term {term.text!r}: weight must be in [0.5, 1.0]")
        # the normalizer squeezes runs of 3+ letters to 2, so a term must be squeezed the same
        # way to ever match ("kkk" and "xxx" are matched as "kk" and "xx")
        key = _TRIPLE.sub(r"\1\1", term.text)
        first = self._where.setdefault(key, term.where)
        if prefix_of.setdefault(key, term.prefix) != term.prefix:
            places = " and ".join(
                f"{w} ({'with' if p else 'without'} it)"
                for w, p in ((first, not term.prefix), (term.where, term.prefix)) if w)
            raise ConfigError(
                f"term {term.text!r} appears both with and without a trailing '*'"
                + (f": {places}" if places else "")
                + "; write it the same way everywhere (with '*' it matches as a word prefix)")
        self._entries.setdefault(key, []).append((cat, term.weight))
        if cat != _YOUTH:
            if not term.spelling:  # a term without diacritics has the pattern: no check
                self._spellings[key] = None
            elif key not in self._spellings:
                self._spellings[key] = {term.spelling}
            elif (spelled := self._spellings[key]) is not None:
                spelled.add(term.spelling)

    def _add_typos(self, prefix_of: dict[str, bool]) -> None:
        """Add the typo variants of every category term and minor marker (see
        :func:`typo_variants`; a prefix term's variants are prefixes too): one typo at
        :data:`TYPO_WEIGHT` times the term's weight, one typo in each of two words of a
        multi-word term at ``TYPO_WEIGHT**2``; a variant that is itself a term (or a marker or
        cue), a real word, or a variant of two different terms is left out, and so is a marker's
        variant under six characters."""
        known = set(self._entries)
        sources = [*self.terms.items(), (_MARKERS, self.minor_markers)]
        variants = {t.text: [(v, 1) for v in typo_variants(t.text)]
                    + [(v, 2) for v in typo_variants(t.text, words=2)]
                    for _, items in sources for t in items if not t.exact}
        seen: dict[str, str | None] = {}
        for text, vs in variants.items():
            for v, _ in vs:
                if v in known:
                    continue
                other = seen.get(v, text)
                seen[v] = text if other == text else None
        for cat, items in sources:
            for t in items:
                for v, n in variants.get(t.text, []) if not t.exact else []:
                    if seen.get(v) != t.text or prefix_of.setdefault(v, t.prefix) != t.prefix:
                        continue
                    if cat == _MARKERS and len(v) < _MARKER_TYPO_MIN:
                        continue  # "teeny" (of "tweeny"), "twee": short variants are words
                    weight = max(_MIN_WEIGHT, round(t.weight * TYPO_WEIGHT**n, 4))
                    self._entries.setdefault(v, []).append((cat, weight))
                    self._typo_of[v] = t.text

    @classmethod
    def from_directory(cls, directory: str | Path, *, backend: Backend = "auto",
                       typos: bool = False, frames: bool = True) -> Lexicon:
        """Load ``<category>.txt``, ``minor_markers.txt``, ``youth_cues.txt``, ``allow.txt`` and
        ``frames.txt`` from a folder (``frames=False`` ignores ``frames.txt``; without
        ``youth_cues.txt`` the lexicon reports no minor cue).

        Raises
        ------
        ConfigError
            For an unknown file name, a bad line (naming file and line) or a missing folder.
        """
        root = Path(directory)
        if not root.is_dir():
            raise ConfigError(f"lexicon folder {root} does not exist")
        texts = {p.stem: (str(p), _read_utf8(p)) for p in sorted(root.glob("*.txt"))}
        langs = {p.stem: (str(p), _read_utf8(p))
                 for p in sorted((root / _LANG_DIR).glob("*.txt"))}
        return cls._from_texts(texts, backend, typos=typos, frames=frames, langs=langs)

    @classmethod
    def _from_texts(cls, texts: Mapping[str, tuple[str, str]], backend: Backend,
                    typos: bool = False, frames: bool = True,
                    langs: Mapping[str, tuple[str, str]] | None = None) -> Lexicon:
        extra = _LangTerms()
        for code, (path, text) in (langs or {}).items():
            extra.read(path, code, text)
        terms: dict[str, list[Term]] = {}
        allow: list[str] = []
        markers: list[Term] = []
        youth: list[Term] | None = None
        parsed_frames: Frames | None = None
        for stem, (path, text) in texts.items():
            if stem == _FRAMES:
                parsed = Frames.parse(path, text)
                parsed_frames = parsed if frames else None
            elif stem == _ALLOW:
                allow = [t.text + ("*" if t.prefix else "")
                         for t in _parse_file(path, text, weighted=False)]
            elif stem == _MARKERS:
                markers = _parse_file(path, text, weighted=True)
            elif stem == _YOUTH:
                youth = _parse_file(path, text, weighted=False)
            elif stem in _CATEGORY_FILES:
                terms[stem] = _parse_file(path, text, weighted=True)
            else:
                raise ConfigError(
                    f"{path}: unknown lexicon file; allowed names: "
                    + ", ".join(f"{n}.txt" for n in _ALLOWED_FILES)
                )
        for cat, items in extra.terms.items():
            terms.setdefault(cat, []).extend(items)
        if youth is not None:
            youth += extra.cues
        return cls(terms, allow=allow + extra.allow, minor_markers=markers + extra.markers,
                   youth_cues=youth, backend=backend, typos=typos, frames=parsed_frames,
                   language_profiles=extra.profiles or None, ignore=extra.ignore)

    @classmethod
    def default(cls, *, backend: Backend = "auto", typos: bool | None = None,
                frames: bool = True) -> Lexicon:
        """The lexicon shipped with the package (``fairframe/guard/lexicons``), with its
        protective frames unless ``frames=False``.

        ``typos`` adds typo variants of its terms (about 43,500 more patterns, see
        :func:`typo_variants`); ``None`` turns
        them on with the Aho-Corasick backend and off with the regular-expression fallback,
        which would be two orders of magnitude slower with them."""
        if typos is None:
            typos = backend == "aho" or (backend == "auto" and aho_available())
        folder = resources.files("fairframe.guard").joinpath("lexicons")

        def read(sub: Any, where: str) -> dict[str, tuple[str, str]]:
            return dict(sorted((entry.name[: -len(".txt")],
                                (f"{where}/{entry.name}", entry.read_text("utf-8")))
                               for entry in sub.iterdir() if entry.name.endswith(".txt")))

        return cls._from_texts(read(folder, "fairframe/guard/lexicons"), backend, typos=typos,
                               frames=frames, langs=read(folder.joinpath(_LANG_DIR),
                                                         f"fairframe/guard/lexicons/{_LANG_DIR}"))

    #: Stage id (the :class:`~fairframe.guard.stage.PromptStage` protocol).
    name: str = STAGE
    #: The lexicon applies its protective frames itself: the fusion never caps its evidence.
    reads_frames: bool = True

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        """:meth:`scan` every prompt, as a prompt stage (scores for every category but
        ``adversarial``, which the lexicon does not judge)."""
        out = []
        for p in prompts:
            r = self.scan(p)
            out.append(StageResult(scores=r.scores, findings=r.findings + r.framed_findings,
                                   framed=r.framed, unframed_text=r.unframed_text,
                                   framed_scores=r.framed_scores, minor_cue=r.minor_cue,
                                   language=r.language, english_text=r.english_text))
        return out

    def _spelled(self, term: str, original: str, span: tuple[int, int]) -> bool:
        """Whether the original words at ``span`` are written as one of ``term``'s spellings,
        or without diacritics at all (a prompt typed without them may mean the term)."""
        written = _written(original[span[0]:span[1]])
        if not _has_diacritics(written):
            return True
        return any(written.startswith(sp) for sp in self._spellings.get(term) or ())

    def language_of(self, prompt: str | NormalizedPrompt) -> str | None:
        """The prompt's language code (:func:`~fairframe.guard.language.identify` over the
        original text with this lexicon's language profiles; for a normalized prompt, English
        when its normalized text reads as English: zero-width characters or spaced letters
        between the letters of English words, "a\u200bg\u200bg...", "a.g.g.r.e.s.s.i.v.e",
        leave single letters that read as Portuguese "a", "e", "o"); ``None`` without language
        files."""
        if not isinstance(prompt, NormalizedPrompt):
            return self._with_profiles(identify, prompt)
        language = self._with_profiles(identify, prompt.original)
        if language not in (None, ENGLISH) and _SPLITTERS.intersection(prompt.changes) \
                and self._with_profiles(identify, prompt.main_text) == ENGLISH:
            return ENGLISH
        return language

    def english_part(self, text: str) -> str | None:
        """The English segments of ``text``
        (:func:`~fairframe.guard.language.english_segments`); ``None`` without language files
        or without an English segment."""
        return self._with_profiles(english_segments, text)

    def _with_profiles(self, fn: Any, text: str) -> str | None:
        """``fn(text, profiles, english_function=..., english_words=...)``, or ``None`` without
        language files."""
        if self.language_profiles is None:
            return None
        from fairframe.guard.gibberish import ENGLISH_FUNCTION_WORDS

        out: str | None = fn(text, self.language_profiles,
                             english_function=ENGLISH_FUNCTION_WORDS, english_words=_dictionary())
        return out

    def identity(self) -> dict[str, Any]:
        """What decides this lexicon's matches (for fingerprints): a SHA-256 of its terms,
        allow-list and minor markers, the frames' SHA-256, and whether typos are on."""
        lines = sorted(
            [f"{c} {t.text}{'*' if t.prefix else ''} {t.weight}"
             for c, items in self.terms.items() for t in items]
            + [f"{_MARKERS} {t.text}{'*' if t.prefix else ''} {t.weight}"
               for t in self.minor_markers]
            + [f"{_ALLOW} {a}" for a in self.allow]
            + [f"{_YOUTH} {t.text}{'*' if t.prefix else ''}" for t in self.youth_cues or ()]
            + ([] if self.youth_cues is not None else [f"{_YOUTH} off"])
            + [f"language {p.code} {sorted(p.function_words)} {sorted(p.letters)}"
               for p in self.language_profiles or ()]
            + [f"ignore {code} {sorted(terms)}" for code, terms in sorted(self.ignore.items())]
            + [f"exact {c} {t.text}" for c, items in [*self.terms.items(),
                                                      (_MARKERS, self.minor_markers)]
               for t in items if t.exact]
        )
        return {
            "terms": hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest(),
            "frames": None if self.frames is None else self.frames.identity(),
            "typos": self.typos,
        }

    def sizes(self) -> dict[str, int]:
        """Number of terms per category (plus ``minor_markers``, ``youth_cues`` and ``allow``)."""
        out = {c: len(self.terms.get(c, ())) for c in _CATEGORY_FILES}
        out[_MARKERS] = len(self.minor_markers)
        out[_YOUTH] = len(self.youth_cues or ())
        out[_ALLOW] = len(self.allow)
        return out

    # ----------------------------------------------------------------------- scanning

    def _raw_matches(self, prompt: NormalizedPrompt
                     ) -> tuple[list[tuple[str, int, int]], list[tuple[str, str, int, int]],
                                dict[tuple[str, int, int], tuple[int, int]]]:
        """(term, normalized start, end) kept, (term, phrase, start, end) suppressed, and the
        normalized span of the allowed phrase around each suppressed match."""
        kept: dict[tuple[str, int, int], None] = {}
        suppressed: dict[tuple[str, str, int, int], None] = {}
        phrase_at: dict[tuple[str, int, int], tuple[int, int]] = {}
        for mtext, pos in _variants(prompt):
            allowed = [(s, e, self._allow_phrases[i])
                       for s, e, i in self._allow_matcher.find(mtext)]
            for s, e, i in self._matcher.find(mtext):
                term = self._patterns[i]
                ns, ne = pos[s], pos[e - 1] + 1
                around = next(((a_s, a_e, a) for a_s, a_e, a in allowed
                               if a_s <= s and e <= a_e), None)
                if around is not None:
                    suppressed[(term, around[2], ns, ne)] = None
                    phrase_at[(term, ns, ne)] = (pos[around[0]], pos[around[1] - 1] + 1)
                else:
                    kept[(term, ns, ne)] = None
            for regex in (_AGE, _AGE_OTHER):
                for m in regex.finditer(mtext):
                    kept[("<age>", pos[m.start()], pos[m.end() - 1] + 1)] = None
            if self.youth_cues is not None:
                for m in _SMALL_NUMBER.finditer(mtext):
                    if 1 <= int(m.group()) <= 17:
                        kept[("<number>", pos[m.start()], pos[m.end() - 1] + 1)] = None
                for m in _AGE_SHAPES.finditer(mtext):
                    kept[("<number>", pos[m.start()], pos[m.end() - 1] + 1)] = None
        if prompt.readings:  # a match is within one reading ("school" + "shooting" is not one)
            def inside(ns: int, ne: int) -> bool:
                return not any(ns <= r < ne for r in prompt.readings)

            kept = {k: None for k in kept if inside(k[1], k[2])}
            suppressed = {k: None for k in suppressed if inside(k[2], k[3])}
        return list(kept), list(suppressed), phrase_at

    def scan(self, prompt: str | NormalizedPrompt) -> LexiconResult:
        """Match the lexicon against a prompt (raw text or already normalized)."""
        norm = prompt if isinstance(prompt, NormalizedPrompt) else normalize(prompt)
        language = self.language_of(norm)
        kept, suppressed_raw, phrase_at = self._raw_matches(norm)
        misspelled = [(t, ns, ne) for t, ns, ne in kept if self._spellings.get(t)
                       and not self._spelled(t, norm.original, norm.span(ns, ne))]
        if misspelled:
            suppressed_raw += [(t, "a word with other diacritics", ns, ne)
                               for t, ns, ne in misspelled]
            kept = [k for k in kept if k not in misspelled]
        ignored = self.ignore.get(language or "", frozenset())
        if ignored:
            suppressed_raw += [(t, f"a {language} word", ns, ne) for t, ns, ne in kept
                               if t in ignored or self._typo_of.get(t) in ignored]
            kept = [(t, ns, ne) for t, ns, ne in kept
                    if t not in ignored and self._typo_of.get(t) not in ignored]
        kept, framed_raw, framed_cats, unframed = self._frame(norm, kept, suppressed_raw,
                                                               phrase_at)
        suppressed_raw += framed_raw
        original = norm.original
        findings: list[Finding] = []
        distinct: dict[str, dict[str, float]] = {c: {} for c in _CATEGORY_FILES}
        markers: list[tuple[float, str, tuple[int, int]]] = []
        youth = False
        for term, ns, ne in kept:
            span = norm.span(ns, ne)
            if term == "<age>":
                markers.append((1.0, "age under 18", span))
                continue
            if term == "<number>":  # "a nude woman, 15": a bare number may be an age
                youth = True
                continue
            for cat, weight in self._entries[term]:
                if cat == _MARKERS:
                    typo_of = self._typo_of.get(term)
                    markers.append((weight, term if typo_of is None else f"{typo_of} (typo)",
                                    span))
                    continue
                if cat == _YOUTH:
                    youth = True
                    continue
                distinct[cat][term] = weight
                typo_of = self._typo_of.get(term)
                label = term if typo_of is None else f"{typo_of} (typo)"
                ev = Evidence(span=span, text=original[span[0]:span[1]], label=label)
                findings.append(Finding(STAGE, cat, weight, ev))
        scores = {cat: _noisy_or(d.values()) for cat, d in distinct.items()}
        # a frame never lowers sexual_minors: framed sexual terms still meet a minor marker
        named: dict[str, dict[str, float]] = {}
        for term, _, _, _ in framed_raw:
            for cat, weight in self._entries[term]:
                if cat in _NOT_SCORED:
                    continue
                named.setdefault(cat, {})[term] = weight
                if cat in _SEXUAL_CATS:
                    distinct[cat][term] = weight
        sexual = max(_noisy_or(distinct[c].values()) for c in _SEXUAL_CATS)
        if sexual > 0 and markers:
            weight, term, span = max(markers, key=lambda m: (m[0], -m[2][0]))
            co = min(weight, sexual)
            minors = Category.SEXUAL_MINORS.value
            scores[minors] = 1.0 - (1.0 - scores[minors]) * (1.0 - co)
            ev = Evidence(span=span, text=original[span[0]:span[1]],
                          label=f"minor marker {term!r} with a sexual or nudity term")
            findings.append(Finding(STAGE, minors, co, ev))
        findings.sort(key=lambda f: (f.evidence.span or (0, 0), f.category))
        suppressed = tuple(
            Evidence(span=(sp := norm.span(ns, ne)), text=original[sp[0]:sp[1]],
                     label=f"{term} ({phrase})" if phrase.startswith(("framed: ", "a "))
                     else f"{term} (allowed: {phrase})")
            for term, phrase, ns, ne in suppressed_raw
        )
        return LexiconResult(
            scores=MappingProxyType(scores),
            findings=tuple(findings),
            suppressed=suppressed,
            prompt=norm,
            framed=framed_cats,
            unframed_text=unframed,
            framed_scores=MappingProxyType(
                {cat: _noisy_or(d.values()) for cat, d in named.items()}),
            language=language,
            english_text=(None if language in (None, ENGLISH)
                          else self.english_part(original)),
            minor_cue=None if self.youth_cues is None else youth or bool(markers) or any(
                cat == _MARKERS for term, *_ in suppressed_raw
                for cat, _ in self._entries.get(term, ())),
            framed_findings=tuple(
                Finding(STAGE, cat, 0.0, Evidence(
                    span=(sp := norm.span(ns, ne)), text=original[sp[0]:sp[1]],
                    label=f"{term} ({cue})"))
                for term, cue, ns, ne in framed_raw
                for cat, _ in self._entries[term] if cat not in _NOT_SCORED
            ),
        )

    def _frame(self, norm: NormalizedPrompt, kept: list[tuple[str, int, int]],
               allowed: list[tuple[str, str, int, int]],
               phrase_at: Mapping[tuple[str, int, int], tuple[int, int]],
               ) -> tuple[list[tuple[str, int, int]], list[tuple[str, str, int, int]],
                          frozenset[str], str | None]:
        """Move the topic matches inside a protective frame out of ``kept`` (see
        :mod:`~fairframe.guard.frames`): the kept matches, the framed ones as
        ``(term, "framed: cue", start, end)``, the framed categories (those with no unframed
        match), and the normalized text with every frame's cue and topic cut out (``None``
        when nothing is framed)."""
        frames = self.frames
        if frames is None:
            return kept, [], frozenset(), None

        def topic(term: str) -> bool:
            return self._typo_of.get(term, term) in frames.topics

        if not any(topic(t) for t, _, _ in kept) and not any(topic(t) for t, *_ in allowed):
            return kept, [], frozenset(), None
        scope = frames.scope(norm)
        if scope is None:
            return kept, [], frozenset(), None
        # every topic match a cue frames, with its cue's range; an allow-listed topic ("sexual
        # health") counts when a cue outside its allowed phrase frames it ("suicide
        # prevention" never frames itself)
        hits: dict[tuple[str, int, int], tuple[str, tuple[int, int]]] = {}
        for term, ns, ne in kept:
            hit = scope.cue_for(ns, ne) if topic(term) else None
            if hit is not None:
                hits[(term, ns, ne)] = hit
        allowed_hits = {
            (t, ns, ne): hit for t, _, ns, ne in allowed if topic(t)
            if (hit := scope.cue_for(ns, ne, outside=phrase_at.get((t, ns, ne)))) is not None
        }

        def cats(term: str) -> set[str]:
            return {c for c, _ in self._entries.get(term, ()) if c not in _NOT_SCORED}

        # a frame applies only to categories with no unframed match: a framed match of a
        # category that also has an unframed one stays a match (repeat until nothing moves,
        # since a term may belong to several categories)
        while True:
            loud = set().union(*(cats(t) for t, ns, ne in kept if (t, ns, ne) not in hits))
            back = [k for k in hits if cats(k[0]) & loud]
            if not back:
                break
            for k in back:
                del hits[k]
        quiet = frozenset(set().union(
            *(cats(k[0]) for k in (*hits, *allowed_hits) if not cats(k[0]) & loud)))
        if not quiet:
            return kept, [], frozenset(), None
        cuts = [r for k, (_, cue) in (*hits.items(), *allowed_hits.items())
                if not cats(k[0]) & loud for r in (cue, k[1:])]
        unframed = _cut(norm.text, cuts)
        if not has_content(unframed):
            # nothing but frames ("explaining porn"): the topic is what the image would show
            return kept, [], frozenset(), None
        still = [k for k in kept if k not in hits]
        framed = [(t, f"framed: {cue}", ns, ne) for (t, ns, ne), (cue, _) in hits.items()]
        return still, framed, quiet, unframed

    def check(self, text: str, policy: Policy | None = None) -> Decision:
        """Normalize, scan and decide: a prompt-path :class:`Decision` from this stage alone.

        ``latency_ms`` holds ``normalize`` and ``lexicon``; ``prompt_out`` is ``None`` (rewriting
        is a later stage).
        """
        policy = policy if policy is not None else default_policy()
        t0 = time.perf_counter()
        norm = normalize(text)
        t1 = time.perf_counter()
        result = self.scan(norm)
        t2 = time.perf_counter()
        return Decision(
            action=decide_action(result.scores, policy),
            categories=dict(result.scores),
            findings=result.findings,
            prompt_in=text,
            prompt_out=None,
            latency_ms={"normalize": (t1 - t0) * 1e3, STAGE: (t2 - t1) * 1e3},
            policy_version=policy.version,
        )


#: A one-typo variant scores this share of its term's weight (a clear term, 1.0, still reaches
#: the default thresholds of 0.7; an ambiguous one, 0.5, stays at 0.5).
TYPO_WEIGHT = 0.9
#: Shortest typo variant of a minor marker (a marker typo meets any nudity word and blocks, and
#: the dictionary misses short words one edit from a marker: "teeny", "twee").
_MARKER_TYPO_MIN = 6
#: Words of this many letters get every typo variant; one letter shorter, only swaps and doubled
#: letters (a dropped letter leaves three, which collide with real words); shorter, none.
TYPO_MIN_LENGTH = 5
#: A pair of words of a multi-word term gets two-typo variants (one typo in each) only when that
#: makes at most this many combinations (it bounds the pattern count).
TYPO_PAIR_LIMIT = 400


def _dictionary() -> frozenset[str]:
    """English words (:func:`~fairframe.guard.normalize.english_words`): a typo variant that is
    a real word is not a typo."""
    return english_words()


def _word_typos(word: str, real: frozenset[str]) -> list[str]:
    """One-typo variants of one word (see :func:`typo_variants`)."""
    if len(word) < TYPO_MIN_LENGTH - 1 or not word.isalpha():
        return []
    cands: dict[str, None] = {}
    for i in range(1, len(word)):
        # drop; not the "d" of a long "-ed" word: "fabricated" -> "fabricate" is a word
        if len(word) >= TYPO_MIN_LENGTH and not (
                i == len(word) - 1 and word.endswith("ed") and len(word) >= 7):
            cands[word[:i] + word[i + 1:]] = None
        cands[word[:i] + word[i] + word[i:]] = None  # double
        last = len(word) - 1 if len(word) >= TYPO_MIN_LENGTH else len(word) - 2
        if i < last and word[i] != word[i + 1]:  # swap ("gore" -> "goer" is a word)
            cands[word[:i] + word[i + 1] + word[i] + word[i + 2:]] = None
    return [c for c in cands
            if c != word and len(c) >= 4 and c not in real and not _TRIPLE.search(c)]


def typo_variants(term: str, *, words: int = 1) -> list[str]:
    """Every way to put one typo in ``words`` different words of ``term`` (1 or 2): swap two
    different neighbouring letters, drop a letter or double a letter, never touching a word's
    first letter.

    Words of :data:`TYPO_MIN_LENGTH`+ letters get all three; 4-letter words only doubles and a
    swap of the middle letters. A varied word that is an English word (:func:`_dictionary`) is
    left out, and so is dropping the "d" of a long "-ed" word ("fabricated" -> "fabricate"), so
    "naked" gives "nakde", "nake", "naaked" ... but never "baked", and "gore" gives "groe",
    "goore" ... but not "gre" or "goer". With ``words=2`` (terms of several words) every word
    pair gets one typo each ("darth vader" -> "darthh vaader"), unless the pair has more than
    :data:`TYPO_PAIR_LIMIT` combinations.

    Examples
    --------
    >>> v = typo_variants("naked")
    >>> "nakde" in v, "nake" in v, "nakedd" in v, "aked" in v
    (True, True, True, False)
    >>> sorted(typo_variants("gore"))
    ['goore', 'goree', 'gorre', 'groe']
    >>> "darthh vaader" in typo_variants("darth vader", words=2)
    True
    >>> typo_variants("gore", words=2)
    []
    """
    if words not in (1, 2):
        raise ConfigError(f"typo_variants: words must be 1 or 2, got {words!r}")
    parts = term.split()
    real = _dictionary()
    per_word = [_word_typos(w, real) for w in parts]
    out: dict[str, None] = {}
    if words == 1:
        for k, cands in enumerate(per_word):
            for c in cands:
                out[" ".join([*parts[:k], c, *parts[k + 1:]])] = None
        return list(out)
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            if not per_word[a] or not per_word[b]:
                continue
            if len(per_word[a]) * len(per_word[b]) > TYPO_PAIR_LIMIT:
                continue
            for ca in per_word[a]:
                for cb in per_word[b]:
                    varied = list(parts)
                    varied[a], varied[b] = ca, cb
                    out[" ".join(varied)] = None
    return list(out)


def _noisy_or(weights: Iterable[float]) -> float:
    rest = 1.0
    for w in weights:
        rest *= 1.0 - w
    return 1.0 - rest


def _fold(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _match_text(text: str, pos: Sequence[int]) -> tuple[str, list[int]]:
    """Fold case and turn each run of non-alphanumerics into one space; map back to ``pos``."""
    pieces: list[str] = []
    out_pos: list[int] = []
    for m in WORD.finditer(_fold(text)):
        if pieces:
            pieces.append(" ")
            out_pos.append(pos[m.start() - 1])
        pieces.append(m.group())
        out_pos.extend(pos[m.start():m.end()])
    return "".join(pieces), out_pos


def _variants(prompt: NormalizedPrompt) -> list[tuple[str, list[int]]]:
    """The match text of the prompt, plus one with squeezed letter pairs made single, plus one
    per state of its prompt scheduling (:func:`schedule_drops`)."""
    text = prompt.text
    identity = range(len(text))
    out = [_match_text(text, identity)]
    drops = [{i + 1 for i in prompt.squeezed}] if prompt.squeezed else []
    drops += schedule_drops(prompt)
    for drop in drops:
        keep = [i for i in identity if i not in drop]
        out.append(_match_text("".join(text[i] for i in keep), keep))
    return out


def _cut(text: str, cuts: Sequence[tuple[int, int]]) -> str:
    """``text`` without the ranges ``cuts`` (which may overlap), runs of spaces made one."""
    drop = [False] * len(text)
    for start, end in cuts:
        for k in range(start, end):
            drop[k] = True
    return " ".join("".join(c for c, d in zip(text, drop, strict=True) if not d).split())


@functools.cache
def default_lexicon() -> Lexicon:
    """The shipped lexicon, built once per process (``backend="auto"``)."""
    return Lexicon.default()

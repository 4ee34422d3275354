"""Protective frames: a topic named inside a prevention, education or recovery frame.

Prompts that *name* a sensitive subject rather than ask to *show* it are the largest share of a
term-based guard's false positives on over-refusal sets: "a workshop on preventing online
harassment", "a doctor explaining sexual development to a teenager", "a poster about recovery
from self-harm". The image shows a workshop, a doctor, a poster. This module recognises that
shape, in the manner of the NegEx / ConText algorithms of clinical text mining (Chapman et al.,
2001; Harkema et al., 2009): a *cue* ("preventing", "explaining", "awareness") casts a short
*scope* over the words next to it, and a *topic term* inside a cue's scope is *framed*.

**Entries** (``guard/lexicons/frames.txt``, one ``KIND words`` per line; a trailing ``*`` makes
the last word of a cue a prefix; a trailing number gives a cue its own window):

* ``topic``: a lexicon term that names a subject (``sexual``, ``pornography``, ``harassment``,
  ``suicide``, ``drugs``). Concrete depictions (``nude``, ``having sex``, ``noose``, ``blood``) and
  the gravest acts (``rape``, ``genocide``, every ``sexual_minors`` term) are never topics;
* ``before``: a cue whose scope is the :data:`BEFORE_WINDOW` words after it
  ("preventing any form of workplace **harassment**"); ``before anti 1`` reaches one word
  ("anti-**bullying**", not "anti-immigrant **racist** mob");
* ``after``: a cue whose scope is the :data:`AFTER_WINDOW` words before it
  ("**suicide** prevention");
* ``stop``: a word that ends a scope ("a class about bullying *but* ..."); clause punctuation of
  the *original* prompt (``, ; : . ! ? | ( ) [ ] { }``, dashes, slashes, line breaks, and the
  ``BREAK`` keyword, which the normalizer removes) ends it too, so the tags of a tag list and the
  parts of a weighted or scheduled prompt never frame each other;
* ``shows``: a word that introduces what the image shows ("showing", "depicting", "featuring"):
  it ends a scope, and a topic with one *anywhere after it* is not framed, because the
  category's cap would also cover the scene that follows ("a poster about preventing suicide
  showing a person jumping to their death");
* ``depiction``: a noun that makes a topic term next to it part of a depiction, which no cue
  frames: right after the term ("pornographic **photo**", "suicide **note**") or before it with
  ``of`` and at most one word between ("**images** of sexual abuse", "**photos** of online
  harassment");
* ``object``: a word that, right after a topic term, makes it a verb with its object, which no
  cue frames either ("bullying **a** classmate", "harassing **her**");
* ``breaker``: a word or phrase that turns off every frame of the prompt: a request to see the
  subject ("explicit", "graphic", "uncensored") or for instructions ("how to", "step by step",
  "for educational purposes").

**Effect.** The lexicon stage drops a framed topic match from its scores (it is reported in
:attr:`~fairframe.guard.lexicon.LexiconResult.suppressed` with the label ``"term (framed: cue)"``
and as a finding with score 0.0) and reports as *framed* each category whose only matches were
framed topic terms (or allow-listed ones that a cue outside the allowed phrase frames):
:attr:`~fairframe.guard.stage.StageResult.framed`. The fusion then caps the semantic stages'
evidence for a framed category (:attr:`~fairframe.guard.fusion.Fusion.frame_cap`), because an
embedding of "a seminar on preventing sexual exploitation" is an embedding of its topic. Any
unframed match of the category (an explicit term elsewhere in the prompt) keeps the category
unframed, and a stage that reads the frame itself (the LLM judge) is never capped. The pipeline
also scores the prompt with every frame's cue and topic cut out
(:attr:`~fairframe.guard.stage.StageResult.unframed_text`), and that evidence is not capped: a
frame excuses only what it says. A prompt that is nothing but frames (:func:`has_content` finds
no word left) is not framed.

**Trade-off.** A frame is also a disguise: where the topic word was what made the embedding
classifier sure, the rest of the prompt alone may score below the thresholds. The ``shows``
words, breakers, depiction nouns and clause marks narrow that; the ``frame`` red-team mutator
(:class:`~fairframe.redteam.mutators.Frame`) measures what is left, and ``docs/guard.md``
reports it with the false positives the frames remove. A deployment that prefers recall turns
frames off (``[stages.lexicon] frames = false``) or sets ``frame_cap = 1.0`` in its fusion file.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fairframe.errors import ConfigError
from fairframe.guard.normalize import NormalizedPrompt

__all__ = ["AFTER_WINDOW", "BEFORE_WINDOW", "Cue", "FrameScope", "Frames", "has_content"]

#: A ``before`` cue frames topic terms that start at most this many words after its last word.
BEFORE_WINDOW = 6
#: An ``after`` cue frames topic terms that end at most this many words before its first word.
AFTER_WINDOW = 3

_KINDS = ("topic", "before", "after", "stop", "shows", "depiction", "object", "breaker")
_ONE_WORD = ("stop", "shows", "depiction", "object")
_WORD = re.compile(r"[^\W_]+")
#: What may stand between two words of one clause: spaces, or one hyphen or apostrophe joining
#: them ("anti-bullying", "children's"). Anything else (punctuation, symbols, line breaks,
#: ``BREAK``) ends a cue's scope.
_SAME_CLAUSE = re.compile(r"[ \t]*|[-\u2010\u2011'\u2019]")


#: Words of four or more letters that say nothing about what an image shows.
_FUNCTION_WORDS = frozenset({
    "about", "from", "into", "onto", "with", "that", "this", "these", "those", "their", "them",
    "they", "your", "what", "when", "where", "which", "while", "then", "than", "there", "here",
    "some", "very", "more", "most", "such", "also", "just", "each", "every",
})


def has_content(text: str) -> bool:
    """Whether ``text`` holds a word that can describe something to show: four or more letters
    and not a function word. A prompt that is nothing but its frames ("explaining porn") has
    none left once they are cut, so nothing excuses the topic: it is what the image would show.
    """
    return any(len(w) >= 4 and w not in _FUNCTION_WORDS for w in _WORD.findall(text.lower()))


@dataclass(frozen=True)
class Cue:
    """A cue (or a breaker phrase): its words (lower case), the last one a prefix when
    ``prefix``, and its own window (``None``: the kind's default)."""

    words: tuple[str, ...]
    prefix: bool = False
    window: int | None = None

    @property
    def text(self) -> str:
        out = " ".join(self.words) + ("*" if self.prefix else "")
        return out if self.window is None else f"{out} {self.window}"

    def matches_at(self, words: Sequence[str], i: int) -> bool:
        n = len(self.words)
        if i + n > len(words):
            return False
        for k in range(n - 1):
            if words[i + k] != self.words[k]:
                return False
        last = words[i + n - 1]
        return last.startswith(self.words[-1]) if self.prefix else last == self.words[-1]


_Tagged = tuple[Cue, bool]
_Index = tuple[dict[str, tuple[_Tagged, ...]], tuple[_Tagged, ...]]


def _index(cues: Iterable[_Tagged]) -> _Index:
    """Cues (each with a flag: ``True`` for ``before``) by their first word, and the one-word
    prefix cues (checked at every word)."""
    first: dict[str, list[_Tagged]] = {}
    prefixed: list[_Tagged] = []
    for tagged in cues:
        cue = tagged[0]
        if cue.prefix and len(cue.words) == 1:
            prefixed.append(tagged)
        else:
            first.setdefault(cue.words[0], []).append(tagged)
    return {k: tuple(v) for k, v in first.items()}, tuple(prefixed)


def _find(index: _Index, words: Sequence[str]) -> list[tuple[int, Cue, bool]]:
    first, prefixed = index
    return [(i, cue, tag) for i, w in enumerate(words) for cue, tag in first.get(w, ()) + prefixed
            if cue.matches_at(words, i)]


@dataclass(frozen=True)
class Frames:
    """Topic terms, cues, stop and show words, depiction nouns, objects and breakers (see the
    module docstring). ``topics`` are lexicon term texts (lower-case words joined by single
    spaces, no ``*``)."""

    topics: frozenset[str]
    before: tuple[Cue, ...] = ()
    after: tuple[Cue, ...] = ()
    stops: frozenset[str] = frozenset()
    shows: frozenset[str] = frozenset()
    depictions: frozenset[str] = frozenset()
    objects: frozenset[str] = frozenset()
    breakers: tuple[Cue, ...] = ()
    _cues: _Index = field(default=({}, ()), init=False, repr=False, compare=False)
    _breakers: _Index = field(default=({}, ()), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cues", _index(
            [(c, True) for c in self.before] + [(c, False) for c in self.after]))
        object.__setattr__(self, "_breakers", _index((c, False) for c in self.breakers))

    @classmethod
    def parse(cls, path: str, text: str) -> Frames:
        """Read the ``frames.txt`` format; a bad line is a :class:`ConfigError` naming it."""
        entries: dict[str, list[Cue]] = {k: [] for k in _KINDS}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}:{lineno}"
            kind, _, rest = line.partition(" ")
            tokens = rest.split()
            window = None
            if kind in ("before", "after") and len(tokens) > 1 and tokens[-1].isdigit():
                window = int(tokens.pop())
                if window < 1:
                    raise ConfigError(f"{where}: a cue's window must be >= 1 (got {line!r})")
            body = " ".join(tokens)
            words = tuple(_WORD.findall(body.rstrip("*").lower()))
            if kind not in entries or not words:
                raise ConfigError(
                    f"{where}: a line must be 'KIND words' with KIND one of "
                    f"{', '.join(_KINDS)} (got {line!r})"
                )
            prefix = body.endswith("*")
            if prefix and kind not in ("before", "after"):
                raise ConfigError(f"{where}: only cues may end in '*' (got {line!r})")
            if kind in _ONE_WORD and len(words) != 1:
                raise ConfigError(f"{where}: a '{kind}' entry is one word (got {line!r})")
            entries[kind].append(Cue(words, prefix, window))

        def one(kind: str) -> frozenset[str]:
            return frozenset(c.words[0] for c in entries[kind])

        return cls(
            topics=frozenset(" ".join(c.words) for c in entries["topic"]),
            before=tuple(entries["before"]),
            after=tuple(entries["after"]),
            stops=one("stop"),
            shows=one("shows"),
            depictions=one("depiction"),
            objects=one("object"),
            breakers=tuple(entries["breaker"]),
        )

    def check_topics(self, known: Iterable[str], source: str) -> None:
        """Raise :class:`ConfigError` when a topic is not a term of any category list."""
        missing = sorted(self.topics - set(known))
        if missing:
            raise ConfigError(
                f"{source}: topic terms {missing} are in no category list; add them to a "
                "<category>.txt or remove them from frames.txt"
            )

    def identity(self) -> str:
        """SHA-256 of the entries (for fingerprints)."""
        lines = sorted(
            [f"topic {t}" for t in self.topics]
            + [f"before {c.text}" for c in self.before]
            + [f"after {c.text}" for c in self.after]
            + [f"breaker {c.text}" for c in self.breakers]
            + [f"{kind} {w}" for kind, ws in (("stop", self.stops), ("shows", self.shows),
                                              ("depiction", self.depictions),
                                              ("object", self.objects)) for w in ws]
        )
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()

    def scope(self, prompt: NormalizedPrompt | str) -> FrameScope | None:
        """The cues of a prompt, or ``None`` when no cue occurs or a breaker turns frames off.

        Word positions are those of the normalized text (where the lexicon's matches are);
        clause marks are looked for in the original text between two words when ``prompt`` is
        a :class:`~fairframe.guard.normalize.NormalizedPrompt` (the normalizer removes weight
        parentheses, scheduling brackets and ``BREAK``)."""
        text = prompt.text if isinstance(prompt, NormalizedPrompt) else prompt
        low = text.lower()
        spans = [(m.start(), m.end()) for m in _WORD.finditer(low)]
        words = [low[s:e] for s, e in spans]
        if _find(self._breakers, words):
            return None
        cues = tuple((i, i + len(cue.words) - 1, tag, cue)
                     for i, cue, tag in _find(self._cues, words))
        if not cues:
            return None
        return FrameScope(prompt, spans, words, cues, self)


@dataclass(frozen=True)
class FrameScope:
    """The cues found in one prompt (from :meth:`Frames.scope`)."""

    prompt: NormalizedPrompt | str
    spans: list[tuple[int, int]]
    words: list[str]
    cues: tuple[tuple[int, int, bool, Cue], ...]
    frames: Frames

    def _gap(self, a: int, b: int) -> str:
        """The text between words ``a`` and ``b`` (the original's, where known)."""
        start, end = self.spans[a][1], self.spans[b][0]
        if isinstance(self.prompt, NormalizedPrompt):
            lo = self.prompt.span(start, start)[0]
            hi = self.prompt.span(end, end)[0]
            return self.prompt.original[lo:hi]
        return self.prompt[start:end]

    def _clear(self, a: int, b: int) -> bool:
        """No stop or show word and no clause mark strictly between words ``a`` and ``b``."""
        f = self.frames
        if any(self.words[k] in f.stops or self.words[k] in f.shows for k in range(a + 1, b)):
            return False
        return all(_SAME_CLAUSE.fullmatch(self._gap(k, k + 1)) for k in range(a, b))

    def _depicted(self, first: int, last: int) -> bool:
        """Whether the topic at words ``first..last`` is part of a depiction, has an object,
        or has a ``shows`` word after it."""
        w, f = self.words, self.frames
        if last + 1 < len(w) and (w[last + 1] in f.depictions or w[last + 1] in f.objects):
            return True
        # "<depiction> of [one word] <topic>": "images of sexual abuse"
        for k in (first - 1, first - 2):
            if k >= 1 and w[k] == "of" and w[k - 1] in f.depictions:
                return True
        return any(x in f.shows for x in w[last + 1:])

    def cue_for(self, start: int, end: int, *, outside: tuple[int, int] | None = None
                ) -> tuple[str, tuple[int, int]] | None:
        """The cue framing the match ``[start, end)`` of the normalized text and the cue's own
        range of the normalized text, else ``None``. A match whose words are not one clause
        (a phrase assembled from two parts of a scheduled prompt) is never framed.

        ``outside``: a range of the normalized text (an allow-listed phrase) that a cue must not
        overlap, so that an allowed phrase ("suicide prevention") never frames itself."""
        starts = [s for s, _ in self.spans]
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_left(starts, end) - 1
        if first < 0 or last < first or self._depicted(first, last):
            return None
        if last > first and not self._clear(first, last):
            return None
        for c0, c1, is_before, cue in self.cues:
            if outside is not None and (
                    self.spans[c0][0] < outside[1] and outside[0] < self.spans[c1][1]):
                continue
            if is_before:
                window = cue.window or BEFORE_WINDOW
                if c1 < first and first - c1 <= window and self._clear(c1, first):
                    return cue.text, (self.spans[c0][0], self.spans[c1][1])
            else:
                window = cue.window or AFTER_WINDOW
                if c0 > last and c0 - last <= window and self._clear(last, c0):
                    return cue.text, (self.spans[c0][0], self.spans[c1][1])
        return None

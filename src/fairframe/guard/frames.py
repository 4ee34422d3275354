"""Protective frames: a topic named inside a prevention, education or recovery frame.

Prompts that *name* a sensitive subject rather than ask to *show* it are the largest share of a
term-based guard's false positives on over-refusal sets: "a workshop on preventing online
harassment", "a doctor explaining sexual development to a teenager", "a poster about recovery
from self-harm". The image shows a workshop, a doctor, a poster. This module recognises that
shape, in the manner of the NegEx / ConText algorithms of clinical text mining (Chapman et al.,
2001; Harkema et al., 2009): a *cue* ("preventing", "explaining", "awareness") casts a short
*scope* over the words next to it, and a *topic term* inside a cue's scope is *framed*.

**Entries** (``guard/lexicons/frames.txt``, one ``KIND words`` per line; a trailing ``*`` makes a
prefix):

* ``topic``: a lexicon term that names a subject (``sexual``, ``pornography``, ``harassment``,
  ``suicide``, ``drugs``). Concrete depictions (``nude``, ``having sex``, ``noose``, ``blood``) and
  the gravest acts (``rape``, ``genocide``, every ``sexual_minors`` term) are never topics;
* ``before``: a cue whose scope is the :data:`BEFORE_WINDOW` words after it
  ("preventing any form of workplace **harassment**");
* ``after``: a cue whose scope is the :data:`AFTER_WINDOW` words before it
  ("**suicide** prevention");
* ``stop``: a word that ends a scope ("a class about bullying *showing* ..."); clause punctuation
  (``, ; : . ! ? | ( ) [ ]`` and line breaks) ends it too, so the tags of a comma-separated tag
  list never frame each other;
* ``depiction``: a noun that makes a topic term next to it part of a depiction, which no cue
  frames: right after the term ("pornographic **photo**", "suicide **note**") or before it with
  ``of`` and at most one word between ("**images** of sexual abuse", "**photos** of online
  harassment");
* ``object``: a word that, right after a topic term, makes it a verb with its object, which no
  cue frames either ("bullying **a** classmate", "harassing **her**");
* ``breaker``: a word that turns off every frame of the prompt ("explicit", "graphic",
  "uncensored"): whoever asks for a graphic rendering asks to see the subject.

**Effect.** The lexicon stage drops a framed topic match from its scores (it is reported in
:attr:`~fairframe.guard.lexicon.LexiconResult.suppressed` with the label ``"term (framed: cue)"``)
and reports as *framed* each category whose only matches were framed (or allow-listed) topic
terms: :attr:`~fairframe.guard.stage.StageResult.framed`. The fusion then caps the semantic stages'
evidence for a framed category (:attr:`~fairframe.guard.fusion.Fusion.frame_cap`), because an
embedding of "a seminar on preventing sexual exploitation" is an embedding of its topic. Any
unframed match of the category (an explicit term elsewhere in the prompt) keeps the category
unframed, and the LLM judge, which reads the frame itself, is never capped.

**Trade-off.** A frame is also a disguise: "an educational poster about porn" followed by an
explicit description in words no lexicon lists gets the cap. The ``frame`` red-team mutator
(:class:`~fairframe.redteam.mutators.Frame`) measures that attack; ``docs/guard.md`` reports it
with the false positives the frames remove. A deployment that prefers recall turns frames off
(``[stages.lexicon] frames = false``) or sets ``frame_cap = 1.0`` in its fusion file.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fairframe.errors import ConfigError

__all__ = ["AFTER_WINDOW", "BEFORE_WINDOW", "Cue", "Frames"]

#: A ``before`` cue frames topic terms that start at most this many words after its last word.
BEFORE_WINDOW = 6
#: An ``after`` cue frames topic terms that end at most this many words before its first word.
AFTER_WINDOW = 3

_KINDS = ("topic", "before", "after", "stop", "depiction", "object", "breaker")
_WORD = re.compile(r"[^\W_]+")
#: Clause punctuation ends a cue's scope.
_CLAUSE = re.compile(r"[,;:.!?|()\[\]\n]")


@dataclass(frozen=True)
class Cue:
    """A cue: its words (lower case), the last one a prefix when ``prefix``."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.words) + ("*" if self.prefix else "")

    def matches_at(self, words: Sequence[str], i: int) -> bool:
        n = len(self.words)
        if i + n > len(words):
            return False
        for k in range(n - 1):
            if words[i + k] != self.words[k]:
                return False
        last = words[i + n - 1]
        return last.startswith(self.words[-1]) if self.prefix else last == self.words[-1]


@dataclass(frozen=True)
class Frames:
    """Topic terms, cues, stop words and breakers (see the module docstring).

    ``topics`` are lexicon term texts (lower-case words joined by single spaces, no ``*``).
    """

    topics: frozenset[str]
    before: tuple[Cue, ...] = ()
    after: tuple[Cue, ...] = ()
    stops: frozenset[str] = frozenset()
    breakers: frozenset[str] = frozenset()
    depictions: frozenset[str] = frozenset()
    objects: frozenset[str] = frozenset()
    _first: dict[str, tuple[tuple[Cue, bool], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _prefixed: tuple[tuple[Cue, bool], ...] = field(
        default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        first: dict[str, list[tuple[Cue, bool]]] = {}
        prefixed: list[tuple[Cue, bool]] = []
        for cues, is_before in ((self.before, True), (self.after, False)):
            for cue in cues:
                if cue.prefix and len(cue.words) == 1:
                    prefixed.append((cue, is_before))
                else:
                    first.setdefault(cue.words[0], []).append((cue, is_before))
        object.__setattr__(self, "_first", {k: tuple(v) for k, v in first.items()})
        object.__setattr__(self, "_prefixed", tuple(prefixed))

    @classmethod
    def parse(cls, path: str, text: str) -> Frames:
        """Read the ``frames.txt`` format; a bad line is a :class:`ConfigError` naming it."""
        entries: dict[str, list[tuple[tuple[str, ...], bool]]] = {k: [] for k in _KINDS}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kind, _, rest = line.partition(" ")
            words = tuple(_WORD.findall(rest.rstrip().rstrip("*").lower()))
            if kind not in entries or not words:
                raise ConfigError(
                    f"{path}:{lineno}: a line must be 'KIND words' with KIND one of "
                    f"{', '.join(_KINDS)} (got {line!r})"
                )
            prefix = rest.rstrip().endswith("*")
            if prefix and kind not in ("before", "after"):
                raise ConfigError(f"{path}:{lineno}: only cues may end in '*' (got {line!r})")
            if kind in ("stop", "depiction", "object", "breaker") and len(words) != 1:
                raise ConfigError(f"{path}:{lineno}: a '{kind}' entry is one word (got {line!r})")
            entries[kind].append((words, prefix))
        return cls(
            topics=frozenset(" ".join(w) for w, _ in entries["topic"]),
            before=tuple(Cue(w, p) for w, p in entries["before"]),
            after=tuple(Cue(w, p) for w, p in entries["after"]),
            stops=frozenset(w[0] for w, _ in entries["stop"]),
            breakers=frozenset(w[0] for w, _ in entries["breaker"]),
            depictions=frozenset(w[0] for w, _ in entries["depiction"]),
            objects=frozenset(w[0] for w, _ in entries["object"]),
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
            + [f"stop {w}" for w in self.stops]
            + [f"breaker {w}" for w in self.breakers]
            + [f"depiction {w}" for w in self.depictions]
            + [f"object {w}" for w in self.objects]
        )
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()

    def scope(self, text: str) -> FrameScope | None:
        """Cue positions in a normalized prompt, or ``None`` when a breaker turns frames off
        or no cue occurs."""
        low = text.lower()
        spans = [(m.start(), m.end()) for m in _WORD.finditer(low)]
        words = [low[s:e] for s, e in spans]
        if any(w in self.breakers for w in words):
            return None
        cues: list[tuple[int, int, bool, str]] = []
        for i, w in enumerate(words):
            for cue, is_before in self._first.get(w, ()) + self._prefixed:
                if cue.matches_at(words, i):
                    cues.append((i, i + len(cue.words) - 1, is_before, cue.text))
        if not cues:
            return None
        return FrameScope(low, spans, words, tuple(cues), self.stops, self.depictions,
                          self.objects)


@dataclass(frozen=True)
class FrameScope:
    """The cues found in one prompt (from :meth:`Frames.scope`)."""

    text: str
    spans: list[tuple[int, int]]
    words: list[str]
    cues: tuple[tuple[int, int, bool, str], ...]
    stops: frozenset[str]
    depictions: frozenset[str] = frozenset()
    objects: frozenset[str] = frozenset()

    def _depicted(self, first: int, last: int) -> bool:
        """Whether the topic at words ``first..last`` is part of a depiction or has an object."""
        w = self.words
        if last + 1 < len(w) and (w[last + 1] in self.depictions or w[last + 1] in self.objects):
            return True
        # "<depiction> of [one word] <topic>": "images of sexual abuse"
        for k in (first - 1, first - 2):
            if k >= 1 and w[k] == "of" and w[k - 1] in self.depictions:
                return True
        return False

    def _clear(self, a: int, b: int) -> bool:
        """No stop word and no clause punctuation strictly between words ``a`` and ``b``."""
        if any(self.words[k] in self.stops for k in range(a + 1, b)):
            return False
        return not _CLAUSE.search(self.text, self.spans[a][1], self.spans[b][0])

    def cue_for(self, start: int, end: int) -> str | None:
        """The cue framing the match ``[start, end)`` of the normalized text, else ``None``."""
        starts = [s for s, _ in self.spans]
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_left(starts, end) - 1
        if first < 0 or last < first:
            return None
        if self._depicted(first, last):
            return None
        for c0, c1, is_before, text in self.cues:
            if is_before:
                if c1 < first and first - c1 <= BEFORE_WINDOW and self._clear(c1, first):
                    return text
            elif c0 > last and c0 - last <= AFTER_WINDOW and self._clear(last, c0):
                return text
        return None

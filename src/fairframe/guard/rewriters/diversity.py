"""Diversity augmenter: state unstated demographic attributes of the person a prompt asks for.

When a prompt asks for a person (``"a doctor"``, ``"a CEO"``, ``"two nurses"``) without stating
an attribute, the augmenter inserts one, chosen so that the attributes of the people it has served
move toward a target distribution. It is the "hard prompt" / prompt-diversification baseline of
ITI-GEN and Fair Diffusion, made deterministic and balanced instead of sampled.

Which prompts change
--------------------
* **A person.** The person nouns are the audit taxonomy's
  (:data:`fairframe.audit.taxonomy.PERSON_NOUNS`: people, family roles, sports roles,
  professions), matched as whole words in singular or plural. ``"a manager"`` is a person, not a
  ``man``; ``"a cat"`` is no person and the prompt is unchanged. Nouns that are groups or
  things (crowd, audience, family, couple, selfie, face) are not augmented, nor a noun that is
  possessive (``"a doctor's office"``), joined by a hyphen (``"Spider-Man"``,
  ``"man-made"``), capitalised inside a sentence (``"Iron Man"``, ``"The Doctor"``), or already
  asked to be mixed (``"a diverse group of doctors"``, ``"nurses of various ages"``).
* **Unstated attributes only.** An attribute is *stated* when the prompt states any of its
  classes anywhere, by :func:`fairframe.audit.merge.states_attribute` (``"a female doctor"``,
  ``"she"``, ``"an old man"``, ``"a Black nurse"``, ``"dark-skinned"``; ``"a nurse in a black
  dress"`` does not state a skin tone). Per attribute: a stated gender is never touched and only
  the other attributes are added (``"a woman"`` → ``"a dark-skinned woman"``). With
  ``when_stated="skip"`` a prompt stating any demographic attribute is left whole.
* Only the **first** person noun phrase changes unless ``all_nouns=True``. Prompts the guard
  blocks are left unchanged, and so are prompts whose public-figure, copyright, sexual, nudity or
  sexual-minors score reaches ``skip_above`` (``skip_categories``; default 0.3, well below the
  policy thresholds, since model-backed stages give every prompt a small non-zero score): a named
  person or character already has a look, and gender or skin tone must not be attached to
  sexualised content.

Phrasing
--------
Attributes become adjectives right before the head noun, in the order age, skin tone (or
ethnicity), gender: ``"a doctor"`` → ``"a dark-skinned female doctor"``; ``"an engineer"`` →
``"a light-skinned male engineer"`` (the article follows the new first word);
``"a person"`` → ``"a medium-skinned woman"`` (for person, human, individual and adult the gender
replaces the noun). A counted plural of up to ``max_listed`` people lists them:
``"two nurses talking"`` → ``"two nurses, one dark-skinned female and one light-skinned male,
talking"``. An uncounted or larger plural names the mix and records no counts:
``"nurses"`` → ``"nurses of different genders and skin tones"``. Adjectives are inserted right
before the noun, so ``"a female doctor"`` becomes ``"a female dark-skinned doctor"``.

Balancing rule
--------------
For each attribute, let :math:`p_v` be the target share of value :math:`v` (weights normalised to
sum to 1), :math:`c_v` the number of people served so far that were given :math:`v`, and
:math:`n = \\sum_v c_v`. The next person gets

.. math::

    v^* = \\arg\\max_v \\; \\big(p_v\\,(n + 1) - c_v\\big)

(``rule="deficit"``), ties broken by a fixed order of the values shuffled with ``seed``. The
deficit :math:`d_v(n) = p_v n - c_v` then stays in :math:`(-1, 1)` for every value and every
:math:`n` when an attribute has at most three values, i.e. after :math:`N` people each count is
within 1 of :math:`p_v N`. Proof: :math:`\\sum_v d_v = 0`; the chosen value has
:math:`p_v(n+1) - c_v \\ge 1/k > 0` (the terms sum to 1), so its new deficit is above
:math:`-1`, and deficits of values not chosen only grow, so all stay above :math:`-1`. For two
values the other deficit is the negative of this one. For three, a value whose deficit reached
1 without being chosen needs the chosen one at :math:`\\ge 1` too, forcing the third below
:math:`-1`, a contradiction. With four or more values of unequal weights the deficit rule can
drift past 1 (five values weighted 1:8:8:20:20 do after 20 people; about 1.5 is the worst we
found); ``rule="quota"`` (Balinski and Young's quota method:
among values with :math:`c_v < p_v (n+1)`, the largest :math:`p_v / (c_v + 1)`) keeps every count
within 1 of :math:`p_v N` for any number of values.

Only values the augmenter assigns are counted (a user's ``"a female doctor"`` is not), so the
bound is about the people the augmenter described. Counts live in a :class:`BalanceState`; the
default :class:`InMemoryBalanceState` is per process and thread-safe. A service running several
instances shares counts by implementing :class:`BalanceState` over its database (one row per
attribute and value, :meth:`BalanceState.assign` in one transaction).
"""

from __future__ import annotations

import functools
import random
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, Protocol, runtime_checkable

from fairframe.errors import ConfigError
from fairframe.guard.rewriters.base import Edit, RewriteContext, RewriteResult, sentence_start

if TYPE_CHECKING:
    from fairframe.audit.merge import PhraseIndex
    from fairframe.guard.decision import Decision

__all__ = [
    "AGE",
    "BUILTIN_ATTRIBUTES",
    "ETHNICITY",
    "GENDER",
    "SKIN_TONE",
    "AttributeSpec",
    "BalanceRule",
    "BalanceState",
    "DiversityAugmenter",
    "InMemoryBalanceState",
    "balanced_choice",
]

BalanceRule = Literal["deficit", "quota"]

_GENDER_CLASSES = ("man", "woman")
_AGE_CLASSES = ("child", "young adult", "middle-aged", "elderly")
_SKIN_CLASSES = ("light", "medium", "dark")
_RACE_CLASSES = (
    "White", "Black", "East Asian", "Southeast Asian", "South Asian", "Middle Eastern",
    "Latino/Hispanic",
)


@dataclass(frozen=True)
class AttributeSpec:
    """One demographic attribute the augmenter can add.

    Attributes
    ----------
    name:
        Id used in counts and edit reasons (``"gender"``, ``"skin_tone"``).
    target:
        Value -> weight of the target distribution (normalised to sum to 1; weights >= 0).
    phrases:
        Value -> the adjective inserted before the noun (``"female"``, ``"dark-skinned"``).
    stated_by:
        Class sets checked with :func:`~fairframe.audit.merge.states_attribute`; the attribute
        is stated when the prompt states a class of any of them.
    mix_word:
        Plural used for an uncounted group (``"genders"`` in ``"of different genders"``).
    order:
        Adjective position: smaller comes first (further from the noun).
    nouns:
        Value -> a noun that replaces a generic person noun (``"woman"`` for ``"a person"``);
        empty when the attribute never replaces a noun.
    """

    name: str
    target: Mapping[str, float]
    phrases: Mapping[str, str]
    stated_by: tuple[tuple[str, ...], ...]
    mix_word: str
    order: int = 50
    nouns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("attribute name must not be empty")
        _fractions(self.name, self.target)
        missing = sorted(set(self.target) - set(self.phrases))
        if missing:
            raise ConfigError(f"attribute {self.name!r}: no phrase for values {missing}")
        object.__setattr__(self, "target", MappingProxyType(dict(self.target)))
        object.__setattr__(self, "phrases", MappingProxyType(dict(self.phrases)))
        object.__setattr__(self, "nouns", MappingProxyType(dict(self.nouns)))


def _fractions(name: str, target: Mapping[str, float]) -> dict[str, Fraction]:
    if not target:
        raise ConfigError(f"attribute {name!r}: the target distribution is empty")
    weights: dict[str, Fraction] = {}
    for value, w in target.items():
        if not isinstance(w, int | float | Fraction) or not w >= 0 or w == float("inf"):
            raise ConfigError(f"attribute {name!r}: weight of {value!r} must be >= 0, got {w!r}")
        weights[str(value)] = Fraction(w).limit_denominator(10**9)
    total = sum(weights.values(), Fraction(0))
    if total <= 0:
        raise ConfigError(f"attribute {name!r}: target weights must not all be 0")
    return {v: w / total for v, w in weights.items()}


def _uniform(values: Sequence[str]) -> dict[str, float]:
    return dict.fromkeys(values, 1.0)


#: Gender: woman / man, 50/50, as "female" / "male" before the noun.
GENDER: Final = AttributeSpec(
    name="gender",
    target={"woman": 0.5, "man": 0.5},
    phrases={"woman": "female", "man": "male"},
    stated_by=(_GENDER_CLASSES,),
    mix_word="genders",
    order=30,
    nouns={"woman": "woman", "man": "man"},
)

#: Skin tone: light / medium / dark, uniform, as "light-skinned" etc. A stated race or
#: ethnicity ("a Black nurse") counts as stated too.
SKIN_TONE: Final = AttributeSpec(
    name="skin_tone",
    target=_uniform(_SKIN_CLASSES),
    phrases={"light": "light-skinned", "medium": "medium-skinned", "dark": "dark-skinned"},
    stated_by=(_SKIN_CLASSES, _RACE_CLASSES),
    mix_word="skin tones",
    order=20,
)

#: Perceived ethnicity (the seven FairFace groups of the audit taxonomy), uniform. Off by
#: default; use it instead of (or with) :data:`SKIN_TONE`.
ETHNICITY: Final = AttributeSpec(
    name="ethnicity",
    target=_uniform(
        ("white", "black", "east asian", "southeast asian", "south asian", "middle eastern",
         "latino")
    ),
    phrases={
        "white": "White", "black": "Black", "east asian": "East Asian",
        "southeast asian": "Southeast Asian", "south asian": "South Asian",
        "middle eastern": "Middle Eastern", "latino": "Latino",
    },
    stated_by=(_RACE_CLASSES, _SKIN_CLASSES),
    mix_word="ethnicities",
    order=25,
)

#: Adult age groups, uniform. Off by default (a stated child, teen or elder is never changed).
AGE: Final = AttributeSpec(
    name="age",
    target=_uniform(("young adult", "middle-aged", "elderly")),
    phrases={"young adult": "young", "middle-aged": "middle-aged", "elderly": "elderly"},
    stated_by=(_AGE_CLASSES,),
    mix_word="ages",
    order=10,
)

#: The built-in attributes by name.
BUILTIN_ATTRIBUTES: Final[Mapping[str, AttributeSpec]] = MappingProxyType(
    {s.name: s for s in (GENDER, SKIN_TONE, ETHNICITY, AGE)}
)

# --------------------------------------------------------------------------- balancing


def balanced_choice(
    target: Mapping[str, Fraction | float],
    counts: Mapping[str, int],
    tie_order: Sequence[str],
    *,
    rule: BalanceRule = "deficit",
) -> str:
    """The next value under the balancing rule (see the module docstring).

    Parameters
    ----------
    target:
        Value -> share; shares should sum to 1 (use :class:`fractions.Fraction` for exact ties).
    counts:
        Value -> how many times it was given so far (missing values count 0).
    tie_order:
        Every value of ``target``; among equal scores the first listed wins.
    rule:
        ``"deficit"``: :math:`\\arg\\max_v p_v (n+1) - c_v`; ``"quota"``: among values with
        :math:`c_v < p_v (n+1)`, :math:`\\arg\\max_v p_v / (c_v + 1)`.

    Examples
    --------
    >>> from fractions import Fraction
    >>> half = Fraction(1, 2)
    >>> balanced_choice({"woman": half, "man": half}, {"woman": 1}, ["woman", "man"])
    'man'
    """
    n = sum(counts.get(v, 0) for v in target)
    if rule == "quota":
        eligible = [v for v in tie_order if counts.get(v, 0) < target[v] * (n + 1)]
        if eligible:
            return max(eligible, key=lambda v: Fraction(target[v]) / (counts.get(v, 0) + 1))
    return max(tie_order, key=lambda v: target[v] * (n + 1) - counts.get(v, 0))


@runtime_checkable
class BalanceState(Protocol):
    """Where the counts of assigned values live.

    :meth:`assign` must read the counts, call ``choose`` and record its answer as one atomic step
    (a lock in one process; a transaction with ``SELECT ... FOR UPDATE`` in a shared database),
    so concurrent requests never see the same counts.
    """

    def counts(self, attribute: str) -> Mapping[str, int]:
        """A snapshot of the counts of ``attribute`` (value -> count)."""
        ...

    def assign(self, attribute: str, choose: Callable[[Mapping[str, int]], str]) -> str:
        """Atomically: ``value = choose(counts)``, then add 1 to ``value``; return ``value``."""
        ...


class InMemoryBalanceState:
    """Thread-safe in-process counts (one lock around every :meth:`assign`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def counts(self, attribute: str) -> Mapping[str, int]:
        """A copy of the counts of ``attribute``."""
        with self._lock:
            return dict(self._counts.get(attribute, {}))

    def assign(self, attribute: str, choose: Callable[[Mapping[str, int]], str]) -> str:
        """Choose and record under the lock."""
        with self._lock:
            current = self._counts.setdefault(attribute, {})
            value = choose(MappingProxyType(current))
            current[value] = current.get(value, 0) + 1
            return value

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()


# --------------------------------------------------------------------------- nouns

#: Categories whose non-zero score leaves a prompt unchanged: a named person or character already
#: has a look, and demographic words must not be attached to sexualised content.
_SKIP_CATEGORIES: Final = ("public_figures", "copyright", "sexual", "nudity", "sexual_minors")

#: Person nouns that name a group or a thing, not one person to describe.
_NOT_AUGMENTED: Final = frozenset(
    {"crowd", "audience", "family", "couple", "selfie", "face", "twin"}
)
#: Generic nouns the gender replaces ("a person" -> "a woman").
_GENERIC: Final = frozenset({"person", "human", "individual", "adult"})
_IRREGULAR_PLURALS: Final = frozenset({"men", "women", "people", "children"})
_NUMBERS: Final[Mapping[str, int]] = MappingProxyType(
    {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
     "ten": 10, "eleven": 11, "twelve": 12, "both": 2, "pair": 2}
)
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_MIX_WORDS: Final = frozenset({"diverse", "multiracial", "multiethnic", "multicultural", "mixed"})
_ASKS_MIX_AFTER = re.compile(
    r"[ \t]+of[ \t]+(?:different|diverse|various|varied|mixed|all|many)\b", re.IGNORECASE
)
_ARTICLE_BEFORE = re.compile(r"(?<![^\W_])([Aa]n?)([ \t]+)$")
_ARTICLE_AN_EXCEPTIONS = ("uni", "use", "usu", "eu", "one", "ure", "uti")
_ARTICLE_AN_SILENT_H = ("hour", "honest", "honor", "honour", "heir")


@functools.cache
def _person_index() -> PhraseIndex:
    from fairframe.audit.merge import PhraseIndex
    from fairframe.audit.taxonomy import PERSON_NOUNS

    return PhraseIndex((n, n) for n in sorted(PERSON_NOUNS))


def mentions_person(text: str) -> bool:
    """Whether ``text`` names a person (a noun of :data:`fairframe.audit.taxonomy.PERSON_NOUNS`,
    singular or plural, by whole words)."""
    from fairframe.audit.merge import tokenize

    return bool(_person_index().spans(tokenize(text)))


def _singular(word: str) -> str:
    from fairframe.audit.merge import singular

    return singular(word)


def _states(prompt: str, classes: tuple[str, ...]) -> bool:
    from fairframe.audit.merge import states_attribute

    return states_attribute(prompt, classes, refer_to="person") is not None


def _article(word: str) -> str:
    low = word.lower()
    if low.startswith(_ARTICLE_AN_SILENT_H):
        return "an"
    if low[:1] in "aeiou" and not low.startswith(_ARTICLE_AN_EXCEPTIONS):
        return "an"
    return "a"


def _sentence_start(text: str, pos: int) -> bool:
    return sentence_start(text, pos, ".!?")


@dataclass(frozen=True)
class _NounPhrase:
    start: int  # first character of the head noun (multi-word nouns: the first word)
    first_end: int  # end of the head noun's first word
    end: int  # end of the head noun
    noun: str  # the matched person noun, last word singular ("police officer", "person")
    plural: bool
    count: int | None  # counted plural: how many


def _noun_phrases(prompt: str) -> list[_NounPhrase]:
    tokens = list(_TOKEN.finditer(prompt))
    words = [m.group().lower() for m in tokens]
    out: list[_NounPhrase] = []
    for i, j, _label in _person_index().spans(words):
        noun = " ".join((*words[i : j - 1], _singular(words[j - 1])))
        if noun in _NOT_AUGMENTED:
            continue
        start, end = tokens[i].start(), tokens[j - 1].end()
        after = prompt[end : end + 2]
        if after[:1] in ("'", "’") or after[:1] == "-" or (start > 0 and prompt[start - 1] == "-"):
            continue
        mixed_before = any(w in _MIX_WORDS for w in words[max(i - 4, 0) : i])
        if mixed_before or _ASKS_MIX_AFTER.match(prompt, end):
            continue  # the user already asks for a mix ("diverse doctors", "of various ages")
        first = tokens[i].group()
        capitalised = first[:1].isupper() and not first.isupper()
        if capitalised and not _sentence_start(prompt, start):
            continue
        last = words[j - 1]
        plural = last in _IRREGULAR_PLURALS or _singular(last) != last
        count: int | None = None
        if plural:
            for k in range(i - 1, max(i - 4, -1), -1):
                w = words[k]
                if w.isdigit() and 0 < int(w) < 1000:
                    count = int(w)
                    break
                if w in _NUMBERS:
                    count = _NUMBERS[w]
                    break
        out.append(_NounPhrase(start, tokens[i].end(), end, noun, plural, count))
    return out


# --------------------------------------------------------------------------- the augmenter


class DiversityAugmenter:
    """Insert unstated demographic attributes, balanced toward a target (rewriter ``"diversity"``).

    Parameters
    ----------
    attributes:
        Attributes to add, by built-in name (``"gender"``, ``"skin_tone"``, ``"ethnicity"``,
        ``"age"``) or as :class:`AttributeSpec`. Default: gender and skin tone.
    targets:
        Attribute name -> value -> weight, replacing that attribute's target distribution
        (``{"gender": {"woman": 0.6, "man": 0.4}}``). Values must be ones the attribute has
        phrases for.
    state:
        Where counts live (default: a new :class:`InMemoryBalanceState`).
    seed:
        Seeds the order that breaks ties.
    rule:
        ``"deficit"`` (default) or ``"quota"``; see the module docstring.
    all_nouns:
        Augment every person noun phrase, not only the first.
    max_listed:
        Counted plurals of up to this many people are listed one by one.
    when_stated:
        ``"add_missing"`` (default): add the attributes the prompt does not state.
        ``"skip"``: leave a prompt that states any gender, age, skin tone or ethnicity unchanged.
    skip_categories:
        Guard categories whose score at or above ``skip_above`` leaves the prompt unchanged
        (default: public figures, copyright, sexual, nudity, sexual minors).
    skip_above:
        The score in ``[0, 1]`` at which a ``skip_categories`` category blocks augmentation.

    Raises
    ------
    ConfigError
        Unknown attribute names, empty or negative targets, values without phrases,
        ``max_listed < 1``.
    """

    name = "diversity"

    def __init__(
        self,
        *,
        attributes: Sequence[str | AttributeSpec] = ("gender", "skin_tone"),
        targets: Mapping[str, Mapping[str, float]] | None = None,
        state: BalanceState | None = None,
        seed: int = 0,
        rule: BalanceRule = "deficit",
        all_nouns: bool = False,
        max_listed: int = 4,
        when_stated: Literal["add_missing", "skip"] = "add_missing",
        skip_categories: Collection[str] = _SKIP_CATEGORIES,
        skip_above: float = 0.3,
    ) -> None:
        specs: list[AttributeSpec] = []
        for a in attributes:
            if isinstance(a, AttributeSpec):
                specs.append(a)
            elif a in BUILTIN_ATTRIBUTES:
                specs.append(BUILTIN_ATTRIBUTES[a])
            else:
                known = ", ".join(BUILTIN_ATTRIBUTES)
                raise ConfigError(f"unknown diversity attribute {a!r}; built-in: {known}")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"diversity attributes repeat a name: {names}")
        for attr, target in (targets or {}).items():
            if attr not in names:
                raise ConfigError(f"targets for {attr!r}, which is not among attributes {names}")
            spec = specs[names.index(attr)]
            unknown = sorted(set(target) - set(spec.phrases))
            if unknown:
                allowed = ", ".join(spec.phrases)
                raise ConfigError(
                    f"targets[{attr!r}]: unknown values {unknown}; allowed: {allowed}"
                )
            specs[names.index(attr)] = AttributeSpec(
                spec.name, target, spec.phrases, spec.stated_by, spec.mix_word, spec.order,
                spec.nouns,
            )
        if rule not in ("deficit", "quota"):
            raise ConfigError(f"rule must be 'deficit' or 'quota', got {rule!r}")
        if max_listed < 1:
            raise ConfigError(f"max_listed must be >= 1, got {max_listed}")
        if when_stated not in ("add_missing", "skip"):
            raise ConfigError(f"when_stated must be 'add_missing' or 'skip', got {when_stated!r}")
        self.attributes: tuple[AttributeSpec, ...] = tuple(specs)
        self.state: BalanceState = state if state is not None else InMemoryBalanceState()
        self.seed = int(seed)
        self.rule: BalanceRule = rule
        self.all_nouns = bool(all_nouns)
        self.max_listed = int(max_listed)
        self.when_stated = when_stated
        self.skip_categories = frozenset(skip_categories)
        if not 0.0 <= skip_above <= 1.0:
            raise ConfigError(f"skip_above must be in [0, 1], got {skip_above}")
        self.skip_above = float(skip_above)
        self._shares = {s.name: _fractions(s.name, s.target) for s in specs}
        rng = random.Random(self.seed)
        self._tie_order: dict[str, tuple[str, ...]] = {}
        for s in specs:
            order = sorted(s.target)
            rng.shuffle(order)
            self._tie_order[s.name] = tuple(order)

    def warm_up(self) -> None:
        """Build the person-noun index now (about 2 s, once per process) instead of on the
        first request; a service calls it at start-up."""
        _person_index()

    def target(self, attribute: str) -> Mapping[str, Fraction]:
        """The normalised target shares of ``attribute``."""
        return MappingProxyType(self._shares[attribute])

    def _assign(self, spec: AttributeSpec) -> str:
        shares, order, rule = self._shares[spec.name], self._tie_order[spec.name], self.rule
        return self.state.assign(
            spec.name, lambda counts: balanced_choice(shares, counts, order, rule=rule)
        )

    def _missing(self, prompt: str) -> list[AttributeSpec]:
        if self.when_stated == "skip":
            demographic = (_GENDER_CLASSES, _AGE_CLASSES, _SKIN_CLASSES, _RACE_CLASSES)
            sets = {c for s in self.attributes for c in s.stated_by} | set(demographic)
            if any(_states(prompt, classes) for classes in sets):
                return []
        return [
            s for s in self.attributes if not any(_states(prompt, c) for c in s.stated_by)
        ]

    def rewrite(
        self, prompt: str, decision: Decision, *, context: RewriteContext | None = None
    ) -> RewriteResult:
        """Augment the first (or every) person noun phrase; see the module docstring."""
        if not prompt.strip() or decision.blocked:
            return RewriteResult(prompt=prompt)
        if any(decision.categories.get(c, 0.0) >= self.skip_above for c in self.skip_categories):
            return RewriteResult(prompt=prompt)
        phrases = _noun_phrases(prompt)
        if not phrases:
            return RewriteResult(prompt=prompt)
        missing = self._missing(prompt)
        if not missing:
            return RewriteResult(prompt=prompt)
        specs = sorted(missing, key=lambda s: s.order)
        edits: list[Edit] = []
        for np in phrases if self.all_nouns else phrases[:1]:
            if not np.plural:
                edits.extend(self._singular(prompt, np, specs))
            elif np.count is not None and 1 < np.count <= self.max_listed:
                edits.append(self._listed(prompt, np, specs, np.count))
            else:
                mix = " and ".join(s.mix_word for s in specs)
                edits.append(
                    Edit((np.end, np.end), "", f" of different {mix}",
                         "mix: " + ", ".join(s.name for s in specs), self.name)
                )
        edits.sort(key=lambda e: e.span or (0, 0))
        pieces: list[str] = []
        pos = 0
        for e in edits:
            assert e.span is not None  # every edit above has a span
            pieces.append(prompt[pos : e.span[0]])
            pieces.append(e.after)
            pos = e.span[1]
        pieces.append(prompt[pos:])
        return RewriteResult(prompt="".join(pieces), edits=tuple(edits))

    def _singular(self, prompt: str, np: _NounPhrase, specs: Sequence[AttributeSpec]) -> list[Edit]:
        values = {s.name: self._assign(s) for s in specs}
        reason = ", ".join(f"{name}={value}" for name, value in values.items())
        generic = np.noun in _GENERIC
        adjectives: list[str] = []
        noun_word: str | None = None
        for s in specs:
            value = values[s.name]
            if generic and s.nouns and value in s.nouns:
                noun_word = s.nouns[value]
            else:
                adjectives.append(s.phrases[value])
        head = " ".join(adjectives)
        first_word = prompt[np.start : np.first_end]
        start = np.start
        if noun_word is not None:  # "a person" -> "a medium-skinned woman"
            end = np.end
            new = " ".join(p for p in (head, noun_word) if p)
        elif (
            first_word[:1].isupper()
            and not first_word.isupper()
            and _sentence_start(prompt, np.start)
        ):  # "Doctor in a lab" -> "Dark-skinned female doctor in a lab"
            end = np.first_end
            new = f"{head} {first_word[:1].lower()}{first_word[1:]}"
        else:
            end = np.start
            new = f"{head} "
        window = max(0, start - 20)
        art = _ARTICLE_BEFORE.search(prompt, window, start)
        if art is not None:
            wanted = _article(new)
            if art.group(1).lower() != wanted:
                fixed = wanted.capitalize() if art.group(1)[0].isupper() else wanted
                new = fixed + art.group(2) + new
                start = art.start(1)
        elif prompt[start : start + 1].isupper() and _sentence_start(prompt, start):
            new = new[:1].upper() + new[1:]
        return [Edit((start, end), prompt[start:end], new, reason, self.name)]

    def _listed(
        self, prompt: str, np: _NounPhrase, specs: Sequence[AttributeSpec], k: int
    ) -> Edit:
        people: list[list[str]] = [[] for _ in range(k)]
        assigned: list[list[str]] = [[] for _ in range(k)]
        for s in specs:
            for i in range(k):
                value = self._assign(s)
                people[i].append(s.phrases[value])
                assigned[i].append(f"{s.name}={value}")
        items = ["one " + " ".join(words) for words in people]
        listed = items[0] if k == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        rest = prompt[np.end :]
        trailing = "," if re.match(r"[ \t]+[^\W_]", rest) else ""
        reason = "; ".join(", ".join(a) for a in assigned)
        return Edit((np.end, np.end), "", f", {listed}{trailing}", reason, self.name)

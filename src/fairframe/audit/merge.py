"""Merge per-caption bias proposals into one set of biases, and drop what a caption already states.

Two steps of OpenBias's post-processing, made offline and deterministic:

* **Caption filter** (:func:`states_attribute`): a (caption, bias) pair says nothing about the model
  when the caption states one of the classes ("a *female* doctor" for gender). OpenBias looked class
  words up in ConceptNet over the network; we use the class words, their singular and plural forms
  (``inflect``) and a synonym table written for this package (:data:`DEFAULT_SYNONYMS`).
* **De-duplication and merge** (:func:`merge_proposals`): proposals with the same subject and name
  become one bias; biases about the same subject whose class sets overlap enough are merged.

Notes
-----
Matching is on whole words after lower-casing and splitting at anything that is not a letter or a
digit, so ``"a manager"`` does not state ``"man"`` and ``"middle-aged"`` equals ``"middle aged"``.
Longer phrases win over the words inside them (``"middle-aged"`` is not read as ``"aged"``).

Words that often describe something other than a person ("a *white* shirt", "a *dark* room", "an
*Indian* restaurant", "a *heavy* box", "an *old* car") state a class of a bias about a person only
when a person noun follows them, possibly after other such words ("a young *black* woman",
"*dark*-skinned"). Biases whose classes are all colours (a shirt colour asked about a person) are
exempt.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from fairframe.audit.proposals import BiasProposal

__all__ = [
    "CLASS_ALIASES",
    "COLOR_TERMS",
    "DEFAULT_SYNONYMS",
    "Bias",
    "DroppedPair",
    "MergeResult",
    "PhraseIndex",
    "StatedClass",
    "canonical_class",
    "find_stated",
    "is_person_subject",
    "merge_proposals",
    "normalize_phrase",
    "phrase_forms",
    "singular",
    "states_attribute",
    "tokenize",
]

# --------------------------------------------------------------------------------------------------
# Words


_WORD = re.compile(r"[a-z0-9]+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})
# Pronouns inflect would "pluralise" to they/them/their, and short words it mangles (bus -> bu).
_NO_INFLECT = frozenset(
    {"he", "she", "him", "her", "his", "hers", "himself", "herself", "they", "them", "their", "it"}
)


@functools.cache
def _engine() -> Any:
    import inflect  # imported lazily: building its tables takes about a second

    return inflect.engine()


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-cased words of ``text``: runs of letters and digits (hyphens and punctuation split)."""
    return tuple(_WORD.findall(text.lower().translate(_APOSTROPHES)))


@functools.lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """The singular of a lower-case noun (``"women"`` → ``"woman"``); other words unchanged.

    Words of three letters or fewer, pronouns and words ending in ``ss``/``us``/``is`` are left as
    they are (inflect turns ``"bus"`` into ``"bu"`` and ``"his"`` into ``"hi"``).
    """
    if len(word) <= 3 or word in _NO_INFLECT or word.endswith(("ss", "us", "is")):
        return word
    result = _engine().singular_noun(word)
    return result if isinstance(result, str) and result else word


@functools.lru_cache(maxsize=65536)
def _plural(word: str) -> str:
    if not word or word in _NO_INFLECT or not word.isalpha():
        return word
    return str(_engine().plural_noun(word))


@functools.lru_cache(maxsize=65536)
def phrase_forms(phrase: str) -> frozenset[tuple[str, ...]]:
    """Token sequences that spell ``phrase`` in a caption: as written, singular and plural.

    Only the last word is inflected (``"police officer"`` → ``("police", "officers")``). Text
    after a ``/`` is a separate alternative: ``"Latino/Hispanic"`` gives both words.
    """
    forms: set[tuple[str, ...]] = set()
    for alternative in phrase.split("/"):
        tokens = tokenize(alternative)
        if not tokens:
            continue
        *head, last = tokens
        for variant in {last, singular(last), _plural(last)}:
            forms.add((*head, *tokenize(variant)))
    return frozenset(forms)


def normalize_phrase(text: str) -> str:
    """Lower-case words joined by single spaces, the last one singular: ``"Young-Adults"`` →
    ``"young adult"``. The form of every key of :data:`DEFAULT_SYNONYMS`."""
    tokens = tokenize(text)
    if not tokens:
        return ""
    return " ".join((*tokens[:-1], singular(tokens[-1])))


def _key(text: str) -> str:
    return " ".join(tokenize(text))


# --------------------------------------------------------------------------------------------------
# The synonym table


@dataclass(frozen=True)
class _Concept:
    canonical: str
    aliases: tuple[str, ...] = ()  # other names of the same class ("female" for "woman")
    cues: tuple[str, ...] = ()  # words that state the class without naming it ("lady", "she")


_SHADES: dict[str, tuple[str, ...]] = {
    "red": ("crimson", "scarlet", "maroon", "burgundy", "ruby", "cherry red"),
    "blue": ("navy", "azure", "cobalt", "sky blue", "royal blue", "turquoise", "teal"),
    "green": ("emerald", "lime", "olive green", "forest green", "mint"),
    "yellow": ("mustard", "lemon", "canary yellow"),
    "orange": ("amber", "tangerine", "ginger"),
    "purple": ("violet", "lavender", "lilac", "plum", "mauve"),
    "pink": ("magenta", "fuchsia", "rose pink", "salmon"),
    "brown": ("chocolate", "tan", "beige", "khaki", "caramel", "chestnut"),
    "black": ("ebony", "jet black", "charcoal black"),
    "white": ("ivory", "cream", "snow white", "off white"),
    "silver": ("metallic grey", "metallic gray"),
    "gold": ("golden",),
}

_CONCEPTS: tuple[_Concept, ...] = (
    # gender
    _Concept(
        "woman",
        ("female",),
        (
            "lady", "girl", "she", "her", "hers", "herself", "mother", "mom", "mum", "daughter",
            "sister", "wife", "bride", "grandmother", "grandma", "granny", "aunt", "niece", "queen",
            "princess", "actress", "waitress", "stewardess", "hostess", "businesswoman",
            "policewoman", "chairwoman", "saleswoman", "spokeswoman", "congresswoman",
            "sportswoman", "craftswoman", "fisherwoman", "nun", "girlfriend", "housewife",
            "schoolgirl", "feminine", "madam",
        ),
    ),
    _Concept(
        "man",
        ("male",),
        (
            "gentleman", "guy", "boy", "he", "him", "his", "himself", "father", "dad", "son",
            "brother", "husband", "groom", "bridegroom", "grandfather", "grandpa", "uncle",
            "nephew", "king", "prince", "businessman", "policeman", "fireman", "chairman",
            "salesman", "spokesman", "congressman", "sportsman", "fisherman", "craftsman", "monk",
            "boyfriend", "schoolboy", "masculine", "bearded",
        ),
    ),
    # age
    _Concept(
        "child",
        ("kid", "children"),
        (
            "toddler", "baby", "infant", "newborn", "boy", "girl", "schoolboy", "schoolgirl",
            "teenager", "teen", "adolescent", "little", "preschooler", "kindergartner",
        ),
    ),
    _Concept("young adult", ("young", "youth", "young person"), ("twenties", "twentysomething")),
    _Concept("middle-aged", ("middle age", "middle-age"), ("forties", "fifties")),
    _Concept(
        "elderly",
        ("old", "older", "aged", "elder", "old age", "senior citizen"),
        (
            "grandmother", "grandfather", "grandma", "grandpa", "granny", "retiree", "pensioner",
            "seventies", "eighties", "wrinkled", "gray haired", "grey haired",
        ),
    ),
    # skin tone
    _Concept(
        "light",
        ("fair", "pale", "light skin", "light skinned", "fair skinned"),
        ("porcelain",),
    ),
    _Concept("medium", ("olive", "medium skin", "tan skin"), ("olive skinned", "brown skinned")),
    _Concept("dark", ("dark skin", "dark skinned", "deep"), ("ebony skin",)),
    # race / ethnicity (FairFace-like groups)
    _Concept("white", ("caucasian",), ("european", "scandinavian", "irish", "russian")),
    _Concept(
        "black",
        ("african american",),
        ("african", "nigerian", "kenyan", "ethiopian", "ghanaian", "somali", "afro"),
    ),
    _Concept(
        "east asian",
        ("asian",),
        ("chinese", "japanese", "korean", "taiwanese", "mongolian"),
    ),
    _Concept(
        "southeast asian",
        (),
        (
            "vietnamese", "thai", "filipino", "filipina", "indonesian", "malaysian", "cambodian",
            "burmese",
        ),
    ),
    _Concept(
        "south asian",
        ("indian",),
        ("pakistani", "bangladeshi", "sri lankan", "nepali", "nepalese"),
    ),
    _Concept(
        "latino",
        ("hispanic", "latina", "latinx", "latine"),
        (
            "mexican", "brazilian", "colombian", "cuban", "puerto rican", "peruvian",
            "argentinian", "latin american", "chicano", "chicana",
        ),
    ),
    _Concept(
        "middle eastern",
        ("arab",),
        (
            "arabic", "persian", "iranian", "iraqi", "syrian", "lebanese", "saudi", "emirati",
            "turkish", "egyptian",
        ),
    ),
    # body type
    _Concept("slim", ("thin", "slender", "skinny", "lean"), ("petite", "slim built")),
    _Concept("average", ("average build", "medium build"), ()),
    _Concept(
        "heavy",
        ("overweight", "fat", "plus size", "obese", "chubby", "heavyset", "stout"),
        ("large build",),
    ),
    # attire
    _Concept(
        "formal",
        ("formal wear", "formal attire", "formal clothes"),
        ("suit", "tuxedo", "gown", "evening dress", "business attire", "blazer", "necktie"),
    ),
    _Concept(
        "casual",
        ("casual wear", "casual clothes", "casual attire"),
        ("jeans", "t shirt", "hoodie", "sweatshirt", "shorts", "sneakers", "tank top"),
    ),
    _Concept("uniform", ("uniformed",), ("scrubs", "lab coat", "overalls")),
    _Concept(
        "traditional",
        ("traditional dress", "traditional clothes", "traditional attire", "traditional clothing"),
        (
            "kimono", "sari", "saree", "hanbok", "kilt", "dashiki", "qipao", "cheongsam", "ao dai",
            "dirndl", "kaftan",
        ),
    ),
    # disability
    _Concept(
        "visible disability",
        ("disabled", "disability", "with a disability"),
        (
            "wheelchair", "wheelchair user", "prosthetic", "prosthesis", "amputee", "crutches",
            "white cane", "guide dog", "hearing aid", "blind", "paraplegic",
        ),
    ),
    _Concept("no visible disability", ("able bodied", "without a disability"), ()),
    # colours (a bias about a colour: car, fur, clothing, ...)
    *(_Concept(c, (), shades) for c, shades in _SHADES.items()),
    _Concept("grey", ("gray",), ("charcoal", "slate", "ash grey", "ash gray")),
    # interior / architectural / art styles, regions, cuisines
    _Concept("modern", ("contemporary",), ("minimalist modern",)),
    _Concept("rustic", ("farmhouse",), ("country style", "log cabin")),
    _Concept("minimalist", ("minimal",), ("scandinavian style",)),
    _Concept("industrial", (), ("loft", "exposed brick")),
    _Concept("realistic", ("photorealistic", "realism", "realist"), ()),
    _Concept("impressionist", ("impressionism",), ("monet", "renoir")),
    _Concept("abstract", ("abstraction",), ("kandinsky", "pollock")),
    _Concept("cartoon", ("cartoonish", "comic"), ("anime", "manga", "animated")),
    _Concept("east asian ink", ("ink wash", "sumi e"), ("chinese painting", "ink painting")),
    _Concept(
        "north america",
        ("north american",),
        (
            "american", "canadian", "united states", "usa", "new york", "los angeles", "chicago",
            "toronto", "san francisco",
        ),
    ),
    _Concept(
        "europe",
        ("european",),
        (
            "paris", "london", "rome", "berlin", "madrid", "amsterdam", "french", "italian",
            "german", "spanish", "british", "dutch",
        ),
    ),
    _Concept(
        "east asia",
        (),
        ("tokyo", "beijing", "shanghai", "seoul", "hong kong", "chinese", "japanese", "korean"),
    ),
    _Concept("south asia", (), ("mumbai", "delhi", "india", "indian", "dhaka", "karachi")),
    _Concept("middle east", (), ("dubai", "cairo", "tehran", "istanbul", "arab", "arabic")),
    _Concept("africa", ("african",), ("lagos", "nairobi", "accra", "johannesburg")),
    _Concept(
        "latin america",
        ("latin american",),
        ("mexico city", "rio", "buenos aires", "lima", "bogota", "mexican", "brazilian"),
    ),
    _Concept("italian", (), ("pasta", "pizza", "spaghetti", "risotto", "lasagna")),
    _Concept("chinese", (), ("dim sum", "dumpling", "fried rice", "chow mein")),
    _Concept("japanese", (), ("sushi", "ramen", "sashimi", "tempura", "bento")),
    _Concept("indian", (), ("curry", "biryani", "naan", "masala", "dal", "tandoori")),
    _Concept("mexican", (), ("taco", "burrito", "enchilada", "quesadilla", "nachos")),
    _Concept("american", (), ("burger", "hamburger", "hot dog", "fried chicken")),
    _Concept("french", (), ("croissant", "baguette", "crepe")),
    _Concept("middle eastern cuisine", (), ("falafel", "hummus", "shawarma", "kebab")),
)


def _build_tables() -> tuple[Mapping[str, frozenset[str]], Mapping[str, str]]:
    synonyms: dict[str, set[str]] = {}
    aliases: dict[str, str] = {}
    for concept in _CONCEPTS:
        # the table is written in singular form, so no inflection is needed at import time
        names = [_key(n) for n in (concept.canonical, *concept.aliases)]
        words = {_key(w) for w in (*concept.aliases, *concept.cues)} | {names[0]}
        for name in names:
            synonyms.setdefault(name, set()).update(words - {name})
            aliases.setdefault(name, names[0])
    frozen = {k: frozenset(v) for k, v in sorted(synonyms.items())}
    return MappingProxyType(frozen), MappingProxyType(dict(sorted(aliases.items())))


_TABLES = _build_tables()

#: Class name (normalised: lower-case, single spaces, singular) → words that state it. Written for
#: Fairframe; covers gender, age, skin tone, race/ethnicity, body type, attire, disability, colours
#: and their shades, styles, regions and cuisines. Every alias of a class is also a key.
DEFAULT_SYNONYMS: Final[Mapping[str, frozenset[str]]] = _TABLES[0]

#: Class name → the canonical name of the same class (``"female"`` → ``"woman"``), used to see that
#: ``("male", "female")`` and ``("man", "woman")`` are the same classes when biases are merged.
CLASS_ALIASES: Final[Mapping[str, str]] = _TABLES[1]

#: Colour words: a bias whose classes are all colours is about a colour even when it refers to a
#: person (clothing colour), so colour words in the caption state it without a person noun.
COLOR_TERMS: Final = frozenset(
    {
        *_SHADES,
        "grey", "gray", "beige", "tan", "cream", "navy", "maroon", "teal", "turquoise", "violet",
        "bay", "chestnut", "palomino", "golden", "gold", "silver", "ginger", "tabby", "calico",
        "spotted", "striped", "brindle", "multicolored", "multicoloured",
    }
)
_SHADE_MODIFIERS: Final = frozenset({"light", "dark", "bright", "pale", "deep", "and"})

# Words that describe many things besides people: they state a class of a bias about a person only
# when a person noun follows (see the module notes).
_CONTEXT_WORDS: Final = frozenset(
    {
        *COLOR_TERMS, "fair", "olive", "medium", "deep", "light", "dark", "pale",
        # plurals of the shade words are lamps and laundry ("studio lights"), never a skin tone
        "lights", "darks", "olives", "mediums", "deeps",
        "white", "black", "brown", "yellow", "red",
        "asian", "african", "american", "european", "caucasian", "indian", "chinese", "japanese",
        "korean", "thai", "mexican", "brazilian", "arab", "arabic", "persian", "turkish",
        "russian", "irish", "latin", "hispanic", "middle", "eastern", "east", "south", "southeast",
        "heavy", "average", "thin", "slim", "lean", "large", "stout", "fat",
        "old", "older", "young", "aged", "little",
    }
)
_SKIN_WORDS: Final = frozenset({"skin", "skinned", "toned", "complexion", "colored", "coloured"})
_PERSON_REFER: Final = frozenset(
    {"person", "people", "human", "individual", "subject", "figure", "character", "someone"}
)
_PERSON_ADJECTIVES: Final = frozenset({"female", "male", "elderly", "skinny", "tall", "short"})


@functools.cache
def _person_heads() -> frozenset[str]:
    # taxonomy imports this module, so its person nouns are read lazily here
    from fairframe.audit.taxonomy import PERSON_NOUNS

    heads: set[str] = set()
    for noun in (*PERSON_NOUNS, *_PERSON_REFER):
        for form in phrase_forms(noun):
            heads.add(form[-1])
    return frozenset(heads)


def is_person_subject(refer_to: str) -> bool:
    """Whether ``refer_to`` names a person: ``"person"``, ``"people"``, ``"woman"``, ``"nurse"``."""
    key = normalize_phrase(refer_to)
    if not key:
        return False
    from fairframe.audit.taxonomy import PERSON_NOUNS

    return key in _PERSON_REFER or key in PERSON_NOUNS or key.split()[-1] in _PERSON_REFER


def canonical_class(name: str) -> str:
    """The canonical key of a class name: normalised, then mapped through :data:`CLASS_ALIASES`.

    ``"Female"`` → ``"woman"``, ``"Latino/Hispanic"`` → ``"latino"``, ``"Dogs"`` → ``"dog"``.
    """
    key = normalize_phrase(name)
    if key in CLASS_ALIASES:
        return CLASS_ALIASES[key]
    for alternative in name.split("/"):
        alt = normalize_phrase(alternative)
        if alt in CLASS_ALIASES:
            return CLASS_ALIASES[alt]
    return key


# --------------------------------------------------------------------------------------------------
# Does the caption state a class?


@dataclass(frozen=True)
class StatedClass:
    """A class a caption states.

    Attributes
    ----------
    cls:
        The class (as given) that is stated.
    word:
        The caption's words that state it, lower-cased (``"women"``, ``"middle-aged"``).
    """

    cls: str
    word: str


class PhraseIndex:
    """Finds phrases (and their singular/plural forms) in token sequences, by whole words.

    Parameters
    ----------
    phrases:
        Phrase → label; the first phrase listed wins a form that two phrases share.
    """

    def __init__(self, phrases: Iterable[tuple[str, str]]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        seen: set[tuple[str, ...]] = set()
        for phrase, label in phrases:
            for form in sorted(phrase_forms(phrase)):
                if form not in seen:
                    seen.add(form)
                    self._by_first.setdefault(form[0], []).append((form, label))

    def spans(self, tokens: Sequence[str]) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, label)`` matches in token order; longer phrases win.

        A caption token matches as written or in its singular form.
        """
        variants = [(t, singular(t)) for t in tokens]
        found: list[tuple[int, int, str]] = []
        for start, options in enumerate(variants):
            for first in dict.fromkeys(options):
                for form, label in self._by_first.get(first, ()):
                    end = start + len(form)
                    if end <= len(tokens) and all(
                        form[k] in variants[start + k] for k in range(1, len(form))
                    ):
                        found.append((start, end, label))
        found.sort(key=lambda s: (s[0] - s[1], s[0]))
        taken: set[int] = set()
        chosen = []
        for start, end, label in found:
            if taken.isdisjoint(range(start, end)):
                taken.update(range(start, end))
                chosen.append((start, end, label))
        return sorted(chosen)


_INDEX_CACHE: dict[tuple[tuple[str, ...], int], tuple[object, PhraseIndex]] = {}


def _class_index(classes: tuple[str, ...], synonyms: Mapping[str, Collection[str]]) -> PhraseIndex:
    key = (classes, id(synonyms))
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0] is synonyms:
        return hit[1]
    pairs: list[tuple[str, str]] = []
    for cls in classes:
        pairs.append((cls, cls))
        names = [normalize_phrase(cls), *(normalize_phrase(a) for a in cls.split("/"))]
        for name in dict.fromkeys(names):
            pairs.extend((word, cls) for word in sorted(synonyms.get(name, ())))
    index = PhraseIndex(pairs)
    if len(_INDEX_CACHE) > 4096:
        _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (synonyms, index)  # holding the mapping keeps its id from being reused
    return index


def _all_colours(classes: Iterable[str]) -> bool:
    """Whether every class is a colour ("red", "light blue", "black and white")."""
    for cls in classes:
        tokens = tokenize(cls)
        core = [t for t in tokens if t not in _SHADE_MODIFIERS] if len(tokens) > 1 else tokens
        if not core or any(t not in COLOR_TERMS for t in core):
            return False
    return True


def _followed_by_person(tokens: Sequence[str], end: int) -> bool:
    heads = _person_heads()
    for token in tokens[end : end + 3]:
        if token in heads or singular(token) in heads or token in _SKIN_WORDS:
            return True
        if token not in _CONTEXT_WORDS and token not in _PERSON_ADJECTIVES:
            return False
    return False


def find_stated(
    caption: str,
    classes: Iterable[str],
    synonyms: Mapping[str, Collection[str]] | None = None,
    *,
    refer_to: str | None = None,
) -> StatedClass | None:
    """The first class (in caption order) that ``caption`` states, with the words that state it.

    Parameters
    ----------
    caption:
        The caption text.
    classes:
        The bias's classes.
    synonyms:
        Class name (normalised) → extra words that state it; :data:`DEFAULT_SYNONYMS` when ``None``.
    refer_to:
        What the bias is about. When it names a person, ambiguous descriptors ("white", "dark",
        "Indian", "heavy", "old") count only before a person noun; see the module notes.

    Returns
    -------
    StatedClass or None
    """
    classes = tuple(classes)
    index = _class_index(classes, DEFAULT_SYNONYMS if synonyms is None else synonyms)
    lowered = caption.lower().translate(_APOSTROPHES)
    matches = list(_WORD.finditer(lowered))
    tokens = [m.group() for m in matches]
    chosen = index.spans(tokens)
    guarded = refer_to is not None and is_person_subject(refer_to) and not _all_colours(classes)
    for start, end, cls in sorted(chosen):
        ambiguous = guarded and end - start == 1 and tokens[start] in _CONTEXT_WORDS
        if ambiguous and not _followed_by_person(tokens, end):
            continue
        return StatedClass(cls, lowered[matches[start].start() : matches[end - 1].end()])
    return None


def states_attribute(
    caption: str,
    classes: Iterable[str],
    synonyms: Mapping[str, Collection[str]] | None = None,
    *,
    refer_to: str | None = None,
) -> str | None:
    """Whether ``caption`` already states one of ``classes``; the caption's words that do, or None.

    Offline and deterministic: whole-word matches of each class, its singular and plural forms
    (``"two women"`` states ``"woman"``), the parts of ``"a/b"`` classes and the synonyms
    (``"a female doctor"`` states ``"woman"``). ``"a manager"`` does not state ``"man"``.
    See :func:`find_stated` for the parameters.
    """
    found = find_stated(caption, classes, synonyms, refer_to=refer_to)
    return found.word if found else None


# --------------------------------------------------------------------------------------------------
# Merging


@dataclass(frozen=True)
class Bias:
    """One bias of an audit, merged from the proposals of many captions.

    Attributes
    ----------
    bias_id:
        Stable id ``"{refer_to}/{name}"`` (lower-case, spaces as ``-``), e.g. ``"person/gender"``.
    name:
        Normalised name: lower-case, without the subject's words (``"Person Gender"`` →
        ``"gender"``).
    refer_to:
        Normalised subject (lower-case, singular; person nouns become ``"person"``).
    classes:
        Union of the merged classes in first-seen order; aliases of a class already present
        (``"female"`` after ``"woman"``) are not added again.
    question:
        The first-seen question.
    captions:
        Ids of the captions the bias applies to, in input order.
    merged_from:
        The distinct original proposal names merged into this bias, first-seen first.
    """

    bias_id: str
    name: str
    refer_to: str
    classes: tuple[str, ...]
    question: str
    captions: tuple[str, ...]
    merged_from: tuple[str, ...]


@dataclass(frozen=True)
class DroppedPair:
    """A (caption, proposal) pair left out of the audit, and why.

    Attributes
    ----------
    caption_id:
        The caption.
    bias:
        The original proposal name.
    reason:
        ``"present_in_prompt"`` (the proposer said the caption states it),
        ``"stated_in_caption"`` (:func:`states_attribute` found a class word) or
        ``"stated_after_merge"`` (the caption states a class the bias gained by merging, or the
        caption had this bias dropped under another name).
    matched:
        The caption's words that state the class, when known.
    """

    caption_id: str
    bias: str
    reason: str
    matched: str | None = None


@dataclass(frozen=True)
class MergeResult:
    """Biases of an audit after de-duplication and merging.

    Attributes
    ----------
    biases:
        The biases, in order of first appearance; each applies to at least one caption.
    assignments:
        Caption id → ids of the biases audited for it (every input caption is a key).
    dropped:
        Every (caption, proposal) pair left out, with the reason.
    """

    biases: tuple[Bias, ...]
    assignments: Mapping[str, tuple[str, ...]]
    dropped: tuple[DroppedPair, ...]


_NAME_STOPWORDS = frozenset({"of", "the", "a", "an", "s", "bias"})
_NAME_ALIASES = {"colour": "color", "sex": "gender"}


def _norm_refer(refer_to: str) -> str:
    key = normalize_phrase(refer_to)
    return "person" if is_person_subject(refer_to) else key or refer_to.strip().lower()


def _norm_name(name: str, refer_to: str) -> str:
    subject = {t for r in (refer_to, _norm_refer(refer_to)) for f in phrase_forms(r) for t in f}
    tokens = [_NAME_ALIASES.get(t, t) for t in tokenize(name)]
    kept = [t for t in tokens if t not in subject and t not in _NAME_STOPWORDS]
    if not kept:
        kept = [t for t in tokens if t not in _NAME_STOPWORDS] or tokens
    return " ".join(kept) or name.strip().lower()


def _slug(text: str) -> str:
    return "-".join(text.lower().split())


@dataclass
class _Group:
    refer_to: str
    name: str
    question: str
    classes: dict[str, str] = field(default_factory=dict)  # canonical key -> first surface form
    captions: dict[str, str] = field(default_factory=dict)  # caption id -> its proposal's name
    merged_from: dict[str, None] = field(default_factory=dict)

    def add_classes(self, classes: Iterable[str]) -> None:
        for cls in classes:
            self.classes.setdefault(canonical_class(cls), cls)

    def absorb(self, other: _Group) -> None:
        for canon, surface in other.classes.items():
            self.classes.setdefault(canon, surface)
        for caption_id, name in other.captions.items():
            self.captions.setdefault(caption_id, name)
        self.merged_from.update(other.merged_from)


def _overlap(a: Collection[str], b: Collection[str]) -> float:
    smaller = min(len(a), len(b))
    return len(set(a) & set(b)) / smaller if smaller else 0.0


def merge_proposals(
    per_caption: Mapping[str, Sequence[BiasProposal]],
    *,
    overlap: float = 0.75,
    texts: Mapping[str, str] | None = None,
    synonyms: Mapping[str, Collection[str]] | None = None,
) -> MergeResult:
    """Turn per-caption proposals into one de-duplicated set of biases.

    1. Drop a (caption, proposal) pair when the proposal says ``present_in_prompt`` or the caption
       states one of its classes (:func:`states_attribute`).
    2. Proposals with the same normalised subject and name are one bias (``"Person Gender"`` about
       ``"person"`` equals ``"gender"``; person nouns such as ``"woman"`` or ``"doctor"`` as subject
       become ``"person"``); their classes are united.
    3. Within a subject, a later bias whose class set overlaps an earlier one by
       ``|A ∩ B| / min(|A|, |B|) >= overlap`` is merged into it (classes compared by
       :func:`canonical_class`; union in first-seen order; the earlier name, id and question are
       kept), repeated until nothing merges.
    4. Captions are checked again against the merged classes; biases left without captions vanish.

    Parameters
    ----------
    per_caption:
        Caption id → the proposals for that caption, in input order.
    overlap:
        Merge threshold in ``(0, 1]``.
    texts:
        Caption id → caption text, used by the caption filter; without it the ids are the texts.
    synonyms:
        Passed to :func:`states_attribute`; :data:`DEFAULT_SYNONYMS` when ``None``.

    Returns
    -------
    MergeResult
        Deterministic for a given input order.
    """
    if not 0.0 < overlap <= 1.0:
        raise ValueError(f"overlap must be in (0, 1], got {overlap}")
    texts = texts or {}
    dropped: list[DroppedPair] = []
    # caption id -> (subject, name, canonical classes) of each proposal dropped for it
    dropped_for: dict[str, list[tuple[str, str, frozenset[str]]]] = {}
    groups: dict[tuple[str, str], _Group] = {}

    for caption_id, proposals in per_caption.items():
        text = texts.get(caption_id, caption_id)
        for p in proposals:
            refer = _norm_refer(p.refer_to)
            name = _norm_name(p.name, p.refer_to)
            matched = states_attribute(text, p.classes, synonyms, refer_to=p.refer_to)
            if p.present_in_prompt or matched:
                reason = "present_in_prompt" if p.present_in_prompt else "stated_in_caption"
                dropped.append(DroppedPair(caption_id, p.name, reason, matched))
                canon = frozenset(canonical_class(c) for c in p.classes)
                dropped_for.setdefault(caption_id, []).append((refer, name, canon))
                continue
            group = groups.get((refer, name))
            if group is None:
                group = groups[(refer, name)] = _Group(refer, name, p.question)
            group.add_classes(p.classes)
            group.captions.setdefault(caption_id, p.name)
            group.merged_from.setdefault(p.name, None)

    merged = list(groups.values())
    merging = True
    while merging:
        merging = False
        for i, first in enumerate(merged):
            for later in merged[i + 1 :]:
                same = later.refer_to == first.refer_to
                if same and _overlap(first.classes, later.classes) >= overlap - 1e-12:
                    first.absorb(later)
                    merged.remove(later)
                    merging = True
                    break
            if merging:
                break

    biases: list[Bias] = []
    assignments: dict[str, list[str]] = {cid: [] for cid in per_caption}
    for group in merged:
        classes = tuple(group.classes.values())
        kept: list[str] = []
        for caption_id, proposal_name in group.captions.items():
            text = texts.get(caption_id, caption_id)
            matched = states_attribute(text, classes, synonyms, refer_to=group.refer_to)
            was_dropped = any(
                refer == group.refer_to
                and (name == group.name or _overlap(canon, group.classes) >= overlap - 1e-12)
                for refer, name, canon in dropped_for.get(caption_id, ())
            )
            if matched or was_dropped:
                dropped.append(
                    DroppedPair(caption_id, proposal_name, "stated_after_merge", matched)
                )
            else:
                kept.append(caption_id)
        if not kept:
            continue
        bias_id = f"{_slug(group.refer_to)}/{_slug(group.name)}"
        biases.append(
            Bias(
                bias_id=bias_id,
                name=group.name,
                refer_to=group.refer_to,
                classes=classes,
                question=group.question,
                captions=tuple(kept),
                merged_from=tuple(group.merged_from),
            )
        )
        for caption_id in kept:
            assignments[caption_id].append(bias_id)
    return MergeResult(
        biases=tuple(biases),
        assignments=MappingProxyType({k: tuple(v) for k, v in assignments.items()}),
        dropped=tuple(dropped),
    )

"""Anonymizer: replace personal data in a prompt with neutral words that still make an image prompt.

:func:`detect` finds personal data with regular expressions and word rules (no NER model, no
network); :class:`Anonymizer` replaces each match (``"a photo of my wife Anna"`` →
``"a photo of a woman"``). Offline and deterministic.

What is detected (:class:`PIIKind`) and what replaces it by default
-------------------------------------------------------------------
============  ==========================================================  =====================
kind          rule                                                        replacement
============  ==========================================================  =====================
email         ``local@domain.tld`` (also ``mailto:``)                      "an email address"
phone         ``+CC ...`` (8-15 digits) or US ``(555) 123-4567``,          "a phone number"
              ``555-123-4567``, ``+1 555.123.4567``
address       house number + capitalised street name + street word         "a street address"
              (``42 Elm Street``, ``7b Rue Road``, ``12 Oak Dr``), with an
              optional apartment, city and ZIP
card          13-19 digits (spaces or dashes allowed) that pass the Luhn   "a card number"
              check or are written in groups of four
ssn           US format ``123-45-6789``                                    "an ID number"
id_number     a document cue (passport, licence, ID, account, IBAN, tax   "an ID number"
              ID) followed by a code with 5+ digits; IBANs
ip            IPv4 and IPv6 addresses (validated with :mod:`ipaddress`)    "an IP address"
url           profile URLs: social sites with a path (``instagram.com/x``,  "a social media
              ``linkedin.com/in/x``), ``/~user``, ``/users/x``, ``/u/x``    profile"
handle        ``@user_name`` (not inside an email)                          "a person"
name          names of private people, see below                           "a person", "a man",
                                                                           "a woman"
============  ==========================================================  =====================

A cue right before a match is replaced with it, so the text stays grammatical:
``"my email: jane@x.org"`` → ``"an email address"``, ``"a credit card number 4111 ..."`` →
``"a card number"``. A replacement at the start of a sentence is capitalised.

Names of private people
-----------------------
Without an NER model, a name is only anonymised when the prompt **introduces** it as a private
person:

* a relational cue: possessive + relation + capitalised name (``"my neighbour John Smith"``,
  ``"my ex-girlfriend Sarah"``, ``"our boss Dr. Lee"``) → the whole phrase becomes ``"a woman"``
  / ``"a man"`` when the relation or honorific marks a gender (wife, boyfriend, Mrs., Mr.), else
  ``"a person"``. Relations that are minor markers of the guard lexicon (daughter, son, kid,
  child, baby) keep the relation (``"my son Max"`` → ``"a son"``), so a later guard check still
  sees the minor;
* a workplace or social cue after the name: ``"Jane Doe from accounting"`` → ``"a person from
  accounting"`` (a single capitalised word at the start of a sentence is not taken as a name);
* ``named`` / ``called`` after a person noun: ``"a woman named Anna"`` → ``"a woman"`` (after a
  non-person noun, ``"a dog named Max"``, nothing changes);
* an honorific: ``"Mr. Smith"`` → ``"a man"``, ``"Mrs Jones"`` → ``"a woman"``,
  ``"Dr. Alice Brown"`` → ``"a person"``;
* names a deployment lists in ``extra_names`` (case-insensitive whole words) → ``"a person"``.

A name is 1-3 capitalised words (``O'Brien``, ``Jean-Luc`` allowed), optionally after an
honorific; it stops at function words (``"my wife Anna In The Garden"`` keeps ``In The
Garden``).

Limits, honestly
----------------
* Public figures and fictional characters are left alone only when nothing introduces them as a
  private person: ``"Barack Obama giving a speech"`` is untouched, ``"my friend Barack Obama"`` is
  anonymised. Honorific names that are public or fictional (``Mr. Bean``, ``Dr. Seuss``,
  ``Miss Piggy``, ``My Neighbor Totoro``) and famous addresses (``221B Baker Street``,
  ``10 Downing Street``) are kept through a small built-in list (:data:`KEEP_NAMES`); a deployment
  extends it with ``keep_names``.
* Names without a cue (``"a photo of Jane Doe at the beach"``), names written in lower case,
  initials (``J. Smith``), names before their cue (``"Anna, my wife"``), non-Latin scripts and
  national phone formats other than the US need ``extra_names`` or an NER stage.
* Street addresses need a capitalised street name; ``"42 elm street"`` is not detected.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from fairframe.guard.rewriters.base import Edit, RewriteContext, RewriteResult, sentence_start

if TYPE_CHECKING:
    from fairframe.guard.decision import Decision

__all__ = [
    "DEFAULT_REPLACEMENTS",
    "KEEP_NAMES",
    "Anonymizer",
    "PIIKind",
    "PIIMatch",
    "detect",
]


class PIIKind(StrEnum):
    """The kinds of personal data :func:`detect` finds; the value is the id used in edits."""

    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"
    CARD = "card"
    SSN = "ssn"
    ID_NUMBER = "id_number"
    IP = "ip"
    URL = "url"
    HANDLE = "handle"
    NAME = "name"


#: Default replacement per kind (names use "a person", "a man" or "a woman").
DEFAULT_REPLACEMENTS: Final[Mapping[PIIKind, str]] = MappingProxyType(
    {
        PIIKind.EMAIL: "an email address",
        PIIKind.PHONE: "a phone number",
        PIIKind.ADDRESS: "a street address",
        PIIKind.CARD: "a card number",
        PIIKind.SSN: "an ID number",
        PIIKind.ID_NUMBER: "an ID number",
        PIIKind.IP: "an IP address",
        PIIKind.URL: "a social media profile",
        PIIKind.HANDLE: "a person",
        PIIKind.NAME: "a person",
    }
)

#: Public or fictional names and addresses that honorific, relational and address rules would
#: otherwise catch (lower case, punctuation removed). Written by the Fairframe developers.
KEEP_NAMES: Final[frozenset[str]] = frozenset(
    {
        "mr bean", "mr rogers", "mr t", "mr freeze", "mr hyde", "mr incredible",
        "mr potato head", "mr spock", "mr darcy", "mr burns", "mr miyagi", "mr clean",
        "mr peanut", "mr magoo", "mr smith goes to washington", "mrs doubtfire", "mrs claus",
        "mrs incredible", "mrs robinson", "mrs dalloway", "mrs brown", "ms marvel", "ms pac man",
        "miss piggy", "miss universe", "miss world", "miss america", "miss marple",
        "dr seuss", "dr dre", "dr strange", "dr jekyll", "dr frankenstein", "dr evil",
        "dr house", "dr watson", "dr no", "dr zhivago", "dr oz", "dr phil", "dr doom",
        "dr manhattan", "dr octopus", "dr strangelove", "dr martin luther king",
        "martin luther king", "prof x", "prof moriarty", "sir elton john",
        "sir paul mccartney", "sir david attenborough", "sir isaac newton", "dame judi dench",
        "totoro", "santa", "santa claus",
        "221b baker street", "10 downing street", "1600 pennsylvania avenue",
        "742 evergreen terrace", "4 privet drive", "12 grimmauld place", "124 conch street",
    }
)

# --------------------------------------------------------------------------- word lists (ours)

_FEMALE, _MALE = "woman", "man"

#: Relation word -> gender it marks (None: not marked).
_RELATIONS: Final[Mapping[str, str | None]] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "wife", "girlfriend", "mother", "mom", "mum", "mommy", "mummy", "sister",
                "daughter", "aunt", "auntie", "niece", "grandmother", "grandma", "granny",
                "fiancee", "fiancée", "stepmother", "stepmom", "stepsister", "stepdaughter",
                "granddaughter", "landlady", "sister-in-law", "mother-in-law", "daughter-in-law",
                "ex-wife",
                "ex-girlfriend",
            ),
            _FEMALE,
        ),
        **dict.fromkeys(
            (
                "husband", "boyfriend", "father", "dad", "daddy", "brother", "son", "uncle",
                "nephew", "grandfather", "grandpa", "fiance", "fiancé", "stepfather", "stepdad",
                "stepbrother", "stepson", "grandson", "brother-in-law", "father-in-law",
                "son-in-law",
                "ex-husband", "ex-boyfriend",
            ),
            _MALE,
        ),
        **dict.fromkeys(
            (
                "neighbour", "neighbor", "friend", "best friend", "bestie", "buddy", "pal", "ex",
                "partner", "spouse", "lover", "crush", "date", "coworker", "co-worker",
                "colleague", "boss", "manager", "supervisor", "employee", "assistant",
                "secretary", "teacher", "professor", "tutor", "coach", "classmate", "roommate",
                "flatmate", "housemate", "teammate", "landlord", "tenant", "cousin", "sibling",
                "parent", "stepchild", "grandchild", "kid", "child", "baby", "doctor", "dentist",
                "therapist", "nurse", "student", "pupil", "client", "customer", "patient",
                "babysitter", "nanny", "in-law",
            ),
            None,
        ),
    }
)

#: Relations that are minor markers of the guard lexicon: the relation word is kept.
_MINOR_RELATIONS: Final = frozenset({"daughter", "son", "kid", "child", "baby"})

_HONORIFICS: Final[Mapping[str, str | None]] = MappingProxyType(
    {"Mr": _MALE, "Mrs": _FEMALE, "Ms": _FEMALE, "Miss": _FEMALE, "Mx": None, "Dr": None,
     "Prof": None, "Sir": _MALE, "Dame": _FEMALE}
)

#: Capitalised words that never belong to a name (sentence words in Title Case prompts).
_NOT_NAME: Final = frozenset(
    {
        "a", "an", "the", "and", "or", "but", "nor", "in", "on", "at", "with", "without", "of",
        "for", "from", "to", "by", "as", "into", "onto", "near", "under", "over", "behind",
        "during", "after", "before", "while", "when", "where", "who", "whom", "whose", "which",
        "that", "this", "these", "those", "is", "are", "was", "were", "be", "being", "has", "had",
        "have", "i", "me", "my", "you", "your", "he", "him", "his", "she", "her", "it", "its",
        "we", "us", "our", "they", "them", "their", "named", "called", "wearing", "holding",
        "standing", "sitting", "walking", "smiling", "posing", "looking", "playing", "eating",
        "drinking", "running", "dancing", "sleeping", "reading", "riding", "painting", "photo",
        "portrait", "picture", "image", "style", "art", "artwork", "illustration", "drawing",
        "sketch", "render", "cinematic", "realistic", "photorealistic", "hd", "hdr", "uhd",
        "not", "no", "very", "so", "too", "also", "then", "than", "if", "again", "here", "there",
    }
)

_FROM_PLACES = (
    r"(?:the\s+|my\s+|our\s+|his\s+|her\s+|their\s+)?"
    r"(?:accounting|accounts|hr|human\s+resources|marketing|sales|finance|legal|it|engineering|"
    r"support|payroll|reception|work|office|school|class|college|uni|university|church|gym|"
    r"next\s+door|down\s+the\s+street|across\s+the\s+street|upstairs|downstairs|building|"
    r"neighbou?rhood|team|department|club|dorm|floor)\b"
)

# --------------------------------------------------------------------------- regexes

_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+|['’](?![sS](?![^\W_]))[^\W\d_]+)*")
_SEP = re.compile(r"[ \t]+")
_HONORIFIC = re.compile(r"(?<![^\W_])(Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)(\.?)[ \t]+(?=[^\W\d_])")
_EMAIL = re.compile(
    r"(?<![\w.+%-])(?:mailto:)?[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w@-])"
)
_PHONE_INTL = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]?\d{2,4}){1,5}(?![\w])"
)
_PHONE_US = re.compile(
    r"(?<![\w+(])(?:\+?1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"
)
_STREET_WORDS = (
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|way|"
    r"terrace|ter|square|sq|parkway|pkwy|highway|hwy|close|crescent|cres|circle|cir|alley|row|"
    r"trail|strasse|straße)"
)
_NOT_STREET = (
    r"(?i:the|a|an|and|or|of|on|in|at|with|by|to|from|for|down|up|across|along|near|walking|"
    r"running|standing|sitting|crossing|driving|people|men|women|dogs|cats|cars)(?![\w'’.-])"
)
_ADDRESS = re.compile(
    r"(?<![\w.,-])\d{1,6}[A-Za-z]?[ \t]+"
    r"(?:(?!" + _NOT_STREET + r")(?:[A-Z][\w'’.-]*|\d+(?:st|nd|rd|th))[ \t]+){1,4}"
    + _STREET_WORDS
    + r"\b\.?"
    r"(?:,?[ \t]*(?:Apt|Apartment|Unit|Suite|Flat|#)\.?[ \t]*[\w-]+)?"
    r"(?:,[ \t]*[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)?(?:,?[ \t]+[A-Z]{2})?(?:[ \t]+\d{5}(?:-\d{4})?)?)?"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_CARD_GROUPED = re.compile(r"\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_ID_CUE = re.compile(
    r"(?<![^\W_])(?i:(?:(?:my|his|her|their|your|our|the|a|an)[ \t]+)?"
    r"(?:passport|driver'?s?[ \t]+licen[cs]e|(?:licen[cs]e|number)[ \t]+plate|licen[cs]e|"
    r"national[ \t]+id|id[ \t]+card|id|"
    r"identity[ \t]+card|account|acct|iban|tax[ \t]+id|ssn|social[ \t]+security|"
    r"membership|student[ \t]+id|employee[ \t]+id)"
    r"(?:[ \t]+(?:number|no\.?|num|#))?[ \t]*[:#]?[ \t]*)"
    r"(?P<value>[A-Za-z0-9][A-Za-z0-9-]{4,30}[A-Za-z0-9])(?![\w-])"
)
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![\w])")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_SOCIAL_URL = re.compile(
    r"(?<![\w./-])(?:https?://)?(?:www\.|m\.)?"
    r"(?:facebook\.com|fb\.com|instagram\.com|twitter\.com|x\.com|tiktok\.com|"
    r"linkedin\.com/in|github\.com|youtube\.com/(?:@|c/|user/|channel/)|reddit\.com/u(?:ser)?|"
    r"pinterest\.com|snapchat\.com/add|threads\.net|vk\.com|onlyfans\.com|"
    r"twitch\.tv|medium\.com/@|flickr\.com/people|bsky\.app/profile)"
    r"/?@?[\w.%-]+[^\s,;)\]]*"
)
_PERSONAL_URL = re.compile(
    r"(?<![\w./-])(?:https?://|www\.)[^\s/]+/(?:[^\s,;)\]]*/)?"
    r"(?:~[\w.-]+|users?/[\w.-]+|profiles?/[\w.-]+|u/[\w.-]+|people/[\w.-]+|@[\w.-]+)"
    r"[^\s,;)\]]*"
)
_HANDLE = re.compile(
    r"(?<![\w@./])@(?=[\w.]*[A-Za-z])[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?(?![\w@])"
)

_DET = r"(?:(?:my|his|her|their|your|our|the|a|an|this)[ \t]+)?"
_CUES: Final[Mapping[PIIKind, re.Pattern[str]]] = {
    kind: re.compile(r"(?i:" + _DET + cue + r"(?:[ \t]+is)?[ \t]*[:#]?[ \t]*)$")
    for kind, cue in (
        (PIIKind.EMAIL, r"(?:e-?mail|mail)(?:[ \t]+address)?"),
        (PIIKind.PHONE, r"(?:(?:tele)?phone|cell|mobile|tel)(?:[ \t]+(?:number|no\.?|#))?"),
        (PIIKind.ADDRESS, r"(?:(?:home|street|postal|mailing)[ \t]+)?address"),
        (PIIKind.CARD, r"(?:(?:credit|debit|bank)[ \t]+)?card(?:[ \t]+(?:number|no\.?|#))?"),
        (PIIKind.SSN, r"(?:ssn|social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?)"),
        (PIIKind.IP, r"ip(?:[ \t]+address)?"),
    )
}
_CUE_WINDOW = 60  # characters before a match searched for its cue

_REL_CUE = re.compile(
    r"(?<![^\W_])(?P<poss>my|our|his|her|their|your)[ \t]+"
    r"(?P<mod>(?:ex|former|best|new|late|dear)(?:[ \t]+|-))?"
    r"(?P<rel>" + "|".join(re.escape(r) for r in sorted(_RELATIONS, key=len, reverse=True)) + r")"
    r"(?![^\W_]|-[^\W_])",
    re.IGNORECASE,
)
_NAMED = re.compile(r"(?<![^\W_])(?P<noun>[^\W\d_]+)(?P<gap>[ \t]*,?[ \t]+)(?:named|called)[ \t]+")
_FROM_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*\.?")
_FROM = re.compile(r"(?<![ \t])[ \t]+from[ \t]+" + _FROM_PLACES, re.IGNORECASE)


@dataclass(frozen=True)
class PIIMatch:
    """One piece of personal data found by :func:`detect`.

    Attributes
    ----------
    kind:
        What it is.
    span:
        Half-open ``(start, end)`` range of the prompt that is replaced (the data plus any cue
        absorbed with it, e.g. ``"my wife Anna"`` or ``"email: jane@x.org"``).
    text:
        ``prompt[start:end]``.
    replacement:
        What :class:`Anonymizer` writes instead (already capitalised at a sentence start).
    detail:
        How it was found, e.g. ``"relational cue 'wife'"`` or ``"luhn"``.
    """

    kind: PIIKind
    span: tuple[int, int]
    text: str
    replacement: str
    detail: str = ""


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    kind: PIIKind
    replacement: str | None  # None: the kind's default replacement
    detail: str
    absorb_cue: bool = True


_PRIORITY = {kind: i for i, kind in enumerate(PIIKind)}


def _key(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _sentence_start(text: str, pos: int) -> bool:
    return sentence_start(text, pos, ".!?:;")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- names


def _take_name(text: str, pos: int, max_tokens: int = 3) -> tuple[int, int, str | None] | None:
    """A name starting at ``pos``: ``(start, end, honorific gender or None)``, else None."""
    start = pos
    gender: str | None = None
    hon = _HONORIFIC.match(text, pos)
    if hon is not None:
        gender = _HONORIFICS[hon.group(1)]
        pos = hon.end()
    end = -1
    count = 0
    while count < max_tokens:
        m = _NAME_TOKEN.match(text, pos)
        if m is None:
            break
        tok = m.group()
        if not tok[0].isupper() or tok.lower() in _NOT_NAME:
            break
        end = m.end()
        count += 1
        sep = _SEP.match(text, end)
        if sep is None:
            break
        pos = sep.end()
    if count == 0:
        return None
    return start, end, gender


def _kept(name_text: str, keep: Collection[str]) -> bool:
    key = _key(name_text)
    if key in keep:
        return True
    words = key.split()
    # a kept name inside the match (honorific dropped, or a longer match around it)
    n = len(words)
    return any(" ".join(words[i:j]) in keep for i in range(n) for j in range(i + 1, n + 1))


def _gender_word(gender: str | None) -> str:
    return {"woman": "a woman", "man": "a man"}.get(gender or "", "a person")


@functools.cache
def _person_nouns() -> frozenset[str]:
    from fairframe.audit.taxonomy import PERSON_NOUNS

    return frozenset(PERSON_NOUNS) | frozenset(_RELATIONS)


def _name_candidates(
    text: str, keep: Collection[str], extra_names: Collection[str]
) -> Iterator[_Candidate]:
    # 1. relational cue: "my wife Anna", "my ex-girlfriend Sarah", "our boss Dr. Lee"
    for m in _REL_CUE.finditer(text):
        gap = re.compile(r"[ \t]*,[ \t]*|[ \t]+").match(text, m.end())
        if gap is None:
            continue
        name = _take_name(text, gap.end())
        if name is None:
            continue
        _, end, hon_gender = name
        if _kept(text[gap.end() : end], keep):
            continue
        rel = m.group("rel").lower()
        mod = (m.group("mod") or "").lower().strip(" \t-")
        full_rel = f"{mod}-{rel}" if mod == "ex" and f"ex-{rel}" in _RELATIONS else rel
        gender = _RELATIONS.get(full_rel, _RELATIONS.get(rel)) or hon_gender
        replacement = f"a {rel}" if rel in _MINOR_RELATIONS and not mod else _gender_word(gender)
        detail = f"relational cue {m.group(0)!r}"
        yield _Candidate(m.start(), end, PIIKind.NAME, replacement, detail, absorb_cue=False)
    # 2. honorific anywhere: "Mr. Smith", "Dr. Alice Brown"
    for m in _HONORIFIC.finditer(text):
        name = _take_name(text, m.start())
        if name is None or name[1] <= m.end():
            continue
        start, end, gender = name
        if _kept(text[start:end], keep):
            continue
        yield _Candidate(start, end, PIIKind.NAME, _gender_word(gender), "honorific", False)
    # 3. "a woman named Anna" -> "a woman" (only after a person noun)
    for m in _NAMED.finditer(text):
        noun = m.group("noun").lower()
        if noun not in _person_nouns():
            continue
        name = _take_name(text, m.end())
        if name is None or _kept(text[m.end() : name[1]], keep):
            continue
        gap_start = m.start("gap")
        yield _Candidate(gap_start, name[1], PIIKind.NAME, "", f"{noun} named", False)
    # 4. "Jane Doe from accounting" -> "a person from accounting"
    for m in _FROM.finditer(text):
        tokens = list(
            _FROM_TOKEN.finditer(text, max(0, m.start() - _CUE_WINDOW), m.start())
        )
        chosen: list[re.Match[str]] = []
        for tok in reversed(tokens[-4:]):
            if chosen and text[tok.end() : chosen[-1].start()].strip(" \t"):
                break
            word = tok.group().rstrip(".")
            is_hon = word in _HONORIFICS
            if not word[0].isupper() or (word.lower() in _NOT_NAME and not is_hon):
                break
            chosen.append(tok)
            if is_hon:
                break
        if not chosen:
            continue
        start, end = chosen[-1].start(), chosen[0].end()
        if end != m.start():
            continue
        words = [t.group().rstrip(".") for t in chosen]
        before = text[max(0, start - _CUE_WINDOW) : start].rstrip(" \t")
        prev = re.search(r"([^\W\d_]+)$", before)
        if prev is not None and prev.group(1).lower() in {"a", "an", "the"}:
            continue
        if len(words) == 1 and _sentence_start(text, start):
            continue
        if _kept(text[start:end], keep):
            continue
        gender = _HONORIFICS.get(words[-1]) if words[-1] in _HONORIFICS else None
        yield _Candidate(start, end, PIIKind.NAME, _gender_word(gender), "from cue", False)
    # 5. names a deployment lists
    for listed in extra_names:
        words = _key(listed).split()
        if not words:
            continue
        pattern = r"(?<![^\W_])" + r"[\W_]+".join(re.escape(w) for w in words) + r"(?![^\W_])"
        for m in re.finditer(pattern, text, re.IGNORECASE):
            yield _Candidate(m.start(), m.end(), PIIKind.NAME, "a person", "extra_names", False)


# --------------------------------------------------------------------------- other kinds


def _pattern_candidates(text: str, keep: Collection[str]) -> Iterator[_Candidate]:
    for m in _EMAIL.finditer(text):
        yield _Candidate(m.start(), m.end(), PIIKind.EMAIL, None, "email pattern")
    for m in _SOCIAL_URL.finditer(text):
        yield _Candidate(m.start(), m.end(), PIIKind.URL, None, "social profile URL")
    for m in _PERSONAL_URL.finditer(text):
        yield _Candidate(m.start(), m.end(), PIIKind.URL, None, "personal path URL")
    for m in _HANDLE.finditer(text):
        yield _Candidate(m.start(), m.end(), PIIKind.HANDLE, None, "handle")
    for m in _IPV4.finditer(text):
        if all(int(p) <= 255 for p in m.group().split(".")):
            yield _Candidate(m.start(), m.end(), PIIKind.IP, None, "IPv4")
    for m in _IPV6.finditer(text):
        groups = [g for g in m.group().split(":") if g]
        if len(groups) < 3:
            continue
        try:
            ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        yield _Candidate(m.start(), m.end(), PIIKind.IP, None, "IPv6")
    for m in _SSN.finditer(text):
        yield _Candidate(m.start(), m.end(), PIIKind.SSN, None, "SSN pattern")
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        grouped = _CARD_GROUPED.fullmatch(m.group()) is not None
        luhn = _luhn(digits)
        if luhn or grouped:
            detail = "luhn" if luhn else "grouped"
            yield _Candidate(m.start(), m.end(), PIIKind.CARD, None, detail)
    for m in _PHONE_INTL.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 8 <= len(digits) <= 15:
            yield _Candidate(m.start(), m.end(), PIIKind.PHONE, None, "international")
    for m in _PHONE_US.finditer(text):
        yield _Candidate(m.start(), m.end(), PIIKind.PHONE, None, "US format")
    for m in _ID_CUE.finditer(text):
        value = m.group("value")
        if sum(ch.isdigit() for ch in value) >= 5:
            ssn = re.fullmatch(r"\d{3}-?\d{2}-?\d{4}", value) and re.search(
                r"(?i:ssn|social)", m.group()
            )
            kind = PIIKind.SSN if ssn else PIIKind.ID_NUMBER
            yield _Candidate(m.start(), m.end(), kind, None, "document cue", False)
    for m in _IBAN.finditer(text):
        yield _Candidate(m.start(), m.end(), PIIKind.ID_NUMBER, None, "IBAN")
    for m in _ADDRESS.finditer(text):
        value = m.group().rstrip(".")
        street = _key(value.split(",")[0])
        if street in keep or _key(value) in keep:
            continue
        yield _Candidate(m.start(), m.end(), PIIKind.ADDRESS, None, "house number + street")


def detect(
    prompt: str,
    *,
    kinds: Collection[PIIKind | str] | None = None,
    keep_names: Iterable[str] = (),
    extra_names: Iterable[str] = (),
    replacements: Mapping[PIIKind | str, str] | None = None,
) -> list[PIIMatch]:
    """Find personal data in ``prompt`` (see the module docstring for the rules).

    Parameters
    ----------
    prompt:
        The raw prompt (not normalized: spans point into it).
    kinds:
        Only these kinds (default: all of :class:`PIIKind`).
    keep_names:
        Names and addresses never to anonymise, on top of :data:`KEEP_NAMES` (compared lower-case
        without punctuation: ``"Dr. Who"`` keeps ``"dr who"``).
    extra_names:
        Names always anonymised (a deployment's list of private people), case-insensitive.
    replacements:
        Replacement text per kind, over :data:`DEFAULT_REPLACEMENTS` (for ``name`` it replaces
        only the un-gendered ``"a person"``).

    Returns
    -------
    list of PIIMatch
        Non-overlapping, in prompt order. Where matches overlap, the one starting first wins,
        then the longer one.

    Examples
    --------
    >>> [(m.kind.value, m.text, m.replacement) for m in detect("a photo of my wife Anna")]
    [('name', 'my wife Anna', 'a woman')]
    """
    if not prompt:
        return []
    wanted = {PIIKind(k) for k in kinds} if kinds is not None else set(PIIKind)
    keep = KEEP_NAMES | {_key(n) for n in keep_names}
    table = dict(DEFAULT_REPLACEMENTS)
    for k, v in (replacements or {}).items():
        table[PIIKind(k)] = v
    found = (
        *_pattern_candidates(prompt, keep),
        *_name_candidates(prompt, keep, tuple(extra_names)),
    )
    candidates = [c for c in found if c.kind in wanted and c.end > c.start]
    candidates.sort(key=lambda c: (c.start, c.start - c.end, _PRIORITY[c.kind]))
    out: list[PIIMatch] = []
    taken_end = 0
    for c in candidates:
        if c.start < taken_end:
            continue
        start = c.start
        if c.absorb_cue and c.kind in _CUES:
            window = max(taken_end, c.start - _CUE_WINDOW)
            cue = _CUES[c.kind].search(prompt, window, c.start)
            if cue is not None and cue.start() >= taken_end and _word_start(prompt, cue.start()):
                start = cue.start()
        replacement = table[c.kind] if c.replacement is None else c.replacement
        if c.kind is PIIKind.NAME and c.replacement == DEFAULT_REPLACEMENTS[PIIKind.NAME]:
            replacement = table[PIIKind.NAME]
        if replacement and prompt[start].isupper() and _sentence_start(prompt, start):
            replacement = _capitalise(replacement)
        out.append(PIIMatch(c.kind, (start, c.end), prompt[start : c.end], replacement, c.detail))
        taken_end = c.end
    return out


def _word_start(text: str, pos: int) -> bool:
    return pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] == "_")


class Anonymizer:
    """Replace personal data with neutral words (rewriter ``"anonymize"``).

    Parameters
    ----------
    kinds:
        The kinds to replace (default: all of :class:`PIIKind`).
    keep_names:
        Public or fictional names (and addresses) never to anonymise, on top of
        :data:`KEEP_NAMES`.
    extra_names:
        Names always anonymised, e.g. a list of employees or of people who asked to be removed.
    replacements:
        Replacement text per kind, over :data:`DEFAULT_REPLACEMENTS`.

    Notes
    -----
    The decision is not consulted: personal data is replaced whatever the guard decided. Each
    replacement is one :class:`~fairframe.guard.rewriters.Edit` whose ``reason`` is the kind
    (``"email"``, ``"name"``, ...). See the module docstring for the rules and their limits.
    """

    name = "anonymize"

    def __init__(
        self,
        *,
        kinds: Collection[PIIKind | str] | None = None,
        keep_names: Iterable[str] = (),
        extra_names: Iterable[str] = (),
        replacements: Mapping[PIIKind | str, str] | None = None,
    ) -> None:
        self.kinds = frozenset(PIIKind) if kinds is None else frozenset(PIIKind(k) for k in kinds)
        self.keep_names = tuple(keep_names)
        self.extra_names = tuple(extra_names)
        self.replacements: Mapping[PIIKind, str] = MappingProxyType(
            {PIIKind(k): v for k, v in (replacements or {}).items()}
        )

    def detect(self, prompt: str) -> list[PIIMatch]:
        """:func:`detect` with this anonymizer's options."""
        return detect(
            prompt,
            kinds=self.kinds,
            keep_names=self.keep_names,
            extra_names=self.extra_names,
            replacements={k.value: v for k, v in self.replacements.items()},
        )

    def rewrite(
        self, prompt: str, decision: Decision, *, context: RewriteContext | None = None
    ) -> RewriteResult:
        """Replace every match of :meth:`detect`; one edit per match."""
        matches = self.detect(prompt)
        if not matches:
            return RewriteResult(prompt=prompt)
        pieces: list[str] = []
        edits: list[Edit] = []
        pos = 0
        for m in matches:
            start, end = m.span
            pieces.append(prompt[pos:start])
            pieces.append(m.replacement)
            edits.append(Edit(m.span, m.text, m.replacement, m.kind.value, self.name))
            pos = end
        pieces.append(prompt[pos:])
        return RewriteResult(prompt="".join(pieces), edits=tuple(edits))

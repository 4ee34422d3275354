"""Prompt normalizer: undo adversarial spelling and strip diffusion prompt syntax, keeping spans.

:func:`normalize` turns a raw prompt into the text the matchers read, and remembers where every
character of that text came from, so evidence can point at the **original** characters (the
``n.a.k.e.d`` the user typed, not the ``naked`` the matcher saw).

What it does, in order (one *pass*):

1. **Characters.** Drops zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen,
   Hangul fillers), Unicode tag characters (the ASCII they smuggle is appended to the text,
   and kept in :attr:`NormalizedPrompt.hidden_text`), bidi controls, variation selectors, emoji
   skin-tone modifiers and other format/private/unassigned code points. Applies NFKC per character
   (fullwidth, math alphanumerics, ligatures, circled letters), strips diacritics and combining
   marks (also "Zalgo" stacks; ``ñ → n``, ``ё → е``, Arabic and Hebrew vowel points) but keeps
   the marks that spell words in other scripts (Devanagari vowel signs and virama, the kana
   voicing marks of ``ぱ``), unless they sit on a Latin, Greek or Cyrillic letter; maps
   regional-indicator and squared letters to ASCII letters, and
   turns emoji into words (a small table of our own, else the Unicode character name).
2. **Confusables.** Cyrillic, Greek, Armenian and small-capital lookalikes (``_CONFUSABLES``,
   written by us) become Latin letters, but only inside a token that already holds an ASCII letter
   or whose letters are *all* lookalikes, so genuine Russian or Greek words are left alone.
3. **Diffusion syntax** (recorded in :attr:`NormalizedPrompt.syntax`): negative prompts after
   ``Negative prompt:``, ``###`` or Midjourney ``--no`` go to :attr:`NormalizedPrompt.negative`;
   other ``--param value`` pairs are recorded and removed; ``<lora:name:0.8>`` (and lyco,
   hypernet) and embedding tokens (``<name>``, ``embedding:name``) are replaced by their name
   (underscores as spaces, so a concept hidden in a LoRA name is still read); weights
   ``(word:1.3)``, ``(word)``, ``{word}``, ``[word]`` lose their brackets; scheduling
   ``[a:b:0.5]``, ``[a:0.5]``, ``[a::0.5]`` and alternation ``[a|b]`` keep every part; ``BREAK``
   is removed. Escaped brackets ``\\(`` become a space.
4. **Spaced or dotted letters**: three or more single characters separated by spaces, dots,
   hyphens, underscores, asterisks, slashes or middle dots (``n a k e d``, ``n.a.k.e.d``) are
   joined.
5. **Leetspeak.** In an ASCII token that holds a digit or one of ``@ $ ! | +``, those characters
   are mapped (``0→o 1→i 3→e 4→a 5→s 7→t 8→b 9→g @→a $→s !→i |→l +→t``) **only when the result
   is word-like**: all letters, at least 3 long, at least one vowel (``aeiouy``), and at least 2
   characters of the original token are letters or leet symbols (not digits), so numbers such
   as ``1080p`` stay. Tokens that are a count prefix plus letters (``1girl``, ``4k``,
   ``3d``) and a few technical tokens (``mp3``, ``h264``) are left alone, as are leading or
   trailing ``! | + @`` (punctuation, not letters).
6. **Repeated letters**: runs of 3 or more of the same letter become 2 (``nuuuude → nuude``); the
   positions are in :attr:`NormalizedPrompt.squeezed` so matchers can also try a single letter.
7. **Whitespace**: runs collapse to one space; ends are stripped (also before steps 1 and 4).

The pass is repeated until the text stops changing (at most 4 passes), so normalizing twice gives
the same text. Case is kept (matchers fold case themselves), so clean ASCII text only changes in
its whitespace.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from fairframe.guard.script import is_mark, script_of

__all__ = [
    "ExtraNetwork",
    "english_words",
    "NormalizedPrompt",
    "PromptSyntax",
    "Scheduled",
    "Weighted",
    "fold",
    "normalize",
    "unconfuse",
    "schedule_drops",
]

Span = tuple[int, int]

MAX_PASSES = 4


@dataclass(frozen=True)
class Weighted:
    """A piece of prompt with an attention weight: ``(text:1.3)``, ``(text)``, ``[text]``.

    ``weight`` is the explicit number, else 1.1 for ``( )``, 1.05 for ``{ }`` and 1/1.1 for
    ``[ ]`` (the AUTOMATIC1111 / NovelAI conventions). Nested groups are recorded separately.
    """

    text: str
    weight: float
    span: Span


@dataclass(frozen=True)
class Scheduled:
    """Prompt editing ``[from:to:when]`` (``kind="edit"``) or alternation ``[a|b]``."""

    kind: str
    parts: tuple[str, ...]
    when: float | None
    span: Span


@dataclass(frozen=True)
class ExtraNetwork:
    """A LoRA / LyCORIS / hypernetwork tag or a textual-inversion embedding token."""

    kind: str
    name: str
    weight: float | None
    span: Span


@dataclass(frozen=True)
class PromptSyntax:
    """The diffusion prompt syntax found (and removed) while normalizing.

    Attributes
    ----------
    weights, schedules, networks:
        See :class:`Weighted`, :class:`Scheduled`, :class:`ExtraNetwork`.
    breaks:
        How many ``BREAK`` keywords were removed.
    params:
        Midjourney-style ``--name value`` parameters (``--no`` goes to the negative prompt). A
        parameter takes at most one value, and only one shaped like a value (a number, a ratio,
        a URL, "raw"): "a woman --x naked" keeps "naked" in the text.
    """

    weights: tuple[Weighted, ...] = ()
    schedules: tuple[Scheduled, ...] = ()
    networks: tuple[ExtraNetwork, ...] = ()
    breaks: int = 0
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NormalizedPrompt:
    """The result of :func:`normalize`.

    Attributes
    ----------
    original:
        The text as received.
    text:
        The normalized positive prompt (case kept).
    offsets:
        For every character of ``text``, the half-open span of ``original`` it came from. Starts
        and ends are non-decreasing within the prompt's reading and within each of ``readings``.
    changes:
        What was changed, in first-seen order, e.g. ``("zero-width removed", "leetspeak")``.
    syntax:
        Diffusion syntax that was found.
    negative:
        The normalized negative prompt (its offsets also point into ``original``), or ``None``.
    positive:
        With an inline negative prompt: ``original`` without it and its markers (``###``,
        ``Negative prompt:``, ``--no ...``), the text to generate with, since most models read
        the markers as words; else ``None``.
    negative_source:
        With an inline negative prompt: its text as written in ``original`` (the pieces, one
        space apart); else ``None``.
    hidden_text:
        ASCII smuggled in Unicode tag characters, else ``""``. It is removed where it sat (a
        tokenizer that drops tag characters reads the words around it joined) and appended to
        ``text``, normalized, as words of its own mapped to the tag characters (a model that
        decodes tag characters reads it); the pipeline serves the prompt without them.
    readings:
        Where in ``text`` each appended reading starts, at the space before it: the *split
        reading* (the prompt again with every removed invisible character, bracket or leetspeak
        separator between two words read as a space, when that differs) and the smuggled text
        of tag characters. Their offsets start again from the start of the prompt.
    squeezed:
        Indices ``i`` of ``text`` where ``text[i:i+2]`` is a pair left from a run of 3+ letters.
    """

    original: str
    text: str
    offsets: tuple[Span, ...]
    changes: tuple[str, ...] = ()
    syntax: PromptSyntax = field(default_factory=PromptSyntax)
    negative: NormalizedPrompt | None = None
    hidden_text: str = ""
    squeezed: tuple[int, ...] = ()
    positive: str | None = None
    negative_source: str | None = None
    readings: tuple[int, ...] = ()

    def with_reading(self, more: str, spans: Sequence[Span], change: str) -> NormalizedPrompt:
        """This prompt with ``more`` appended as a reading of its own (``spans``: the span of
        the original each of its characters stands for; ``change`` is added to ``changes``).
        A prompt with no text of its own takes ``more`` as its text."""
        if not more:
            return self
        if len(spans) != len(more):
            raise ValueError(f"a reading needs one span per character ({len(more)}), got "
                             f"{len(spans)}")
        changes = self.changes if change in self.changes else (*self.changes, change)
        if not self.text:
            return dataclasses.replace(self, text=more, offsets=tuple(spans), changes=changes)
        return dataclasses.replace(
            self, text=f"{self.text} {more}",
            offsets=(*self.offsets, (spans[0][0], spans[0][0]), *spans),
            readings=(*self.readings, len(self.text)), changes=changes)

    @property
    def main_text(self) -> str:
        """``text`` without the appended readings: the prompt as one reader reads it."""
        return self.text[: self.readings[0]] if self.readings else self.text

    def span(self, start: int, end: int) -> Span:
        """Map the half-open range ``[start, end)`` of :attr:`text` to a span of the original."""
        if not 0 <= start <= end <= len(self.text):
            raise IndexError(f"range ({start}, {end}) outside the normalized text")
        if start == end:
            pos = self.offsets[start][0] if start < len(self.offsets) else len(self.original)
            return (pos, pos)
        return (self.offsets[start][0], self.offsets[end - 1][1])


# --------------------------------------------------------------------------- tables (ours)

_ZERO_WIDTH = frozenset(
    {0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x180E, 0x00AD,
     0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x17B4, 0x17B5}
)
_BIDI = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})

#: Lookalike -> Latin letter. Written by us; NFKC already folds fullwidth and math letters.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic lower case
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ӏ": "l", "һ": "h", "ԛ": "q", "ԝ": "w", "ս": "u", "ь": "b", "п": "n", "г": "r",
    # Cyrillic upper case
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Armenian
    "օ": "o", "ո": "n", "ց": "g", "հ": "h", "ք": "q",
    # Latin lookalikes outside ASCII (IPA, small capitals)
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ʋ": "u",
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j",
    "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}

#: Emoji -> words. Written by us; other pictographs fall back to their Unicode name.
_EMOJI: dict[str, str] = {
    "\U0001F52B": "gun", "\U0001F52A": "knife", "\U0001F5E1": "dagger", "\u2694": "swords",
    "\U0001F4A3": "bomb", "\U0001F9E8": "explosive", "\U0001F4A5": "explosion",
    "\U0001FA78": "blood", "\U0001F489": "syringe", "\U0001F48A": "pill", "\U0001F480": "skull",
    "\u2620": "skull and crossbones", "\u26B0": "coffin", "\U0001FAA6": "headstone",
    "\U0001F346": "eggplant", "\U0001F351": "peach", "\U0001F4A6": "splashing",
    "\U0001F445": "tongue", "\U0001F444": "mouth", "\U0001F459": "bikini", "\U0001FA72": "briefs",
    "\U0001F51E": "nsfw", "\U0001F48B": "kiss", "\U0001F525": "fire", "\U0001F37C": "baby bottle",
    "\U0001F476": "baby", "\U0001F9D2": "child", "\U0001F467": "girl", "\U0001F466": "boy",
    "\U0001F6AC": "cigarette", "\U0001F37A": "beer", "\U0001F377": "wine",
    "\U0001F33F": "herb", "\U0001F341": "leaf", "\U0001F344": "mushroom", "\U0001F4B5": "money",
    "\U0001F4B0": "money bag", "\U0001F5F3": "ballot box", "\U0001F3DB": "government building",
    "\U0001FA93": "axe", "\U0001F9EA": "test tube", "\u2622": "radioactive",
    "\u2623": "biohazard", "\U0001F595": "middle finger", "\U0001F921": "clown",
    "\U0001F412": "monkey", "\U0001F648": "monkey", "\U0001F437": "pig", "\U0001F400": "rat",
}

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
         "@": "a", "$": "s", "!": "i", "|": "l", "+": "t"}
_LEET_EDGE = "!|+@"
_LEET_SKIP = frozenset({"mp3", "mp4", "h264", "h265", "x264", "x265", "sd15", "sd21", "sd35",
                        "gpt4", "m4a", "mp2", "av1", "vp9", "3ds", "ps5", "ps4", "b2b"})
_VOWELS = frozenset("aeiouyAEIOUY")

# --------------------------------------------------------------------------- regexes

_ASCII_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONF_CHARS = re.compile("[" + re.escape("".join(_CONFUSABLES)) + "]")
_TOKEN = re.compile(r"[^\W_]+")
_NEG = re.compile(r"\bnegative[ _]prompts?\s*:|###", re.IGNORECASE)
_PARAM = re.compile(r"(?<![\w-])--([A-Za-z][\w-]*)")
#: A parameter's value: one token that does not start another parameter.
_ONE_VALUE = re.compile(r"[ \t]+(?!--)[^\s,]+")
#: Midjourney's parameter names (any other "--word" is read as the word).
_MJ_PARAMS = frozenset({
    "ar", "aspect", "v", "version", "niji", "s", "stylize", "c", "chaos", "q", "quality", "seed",
    "sameseed", "iw", "weird", "w", "stop", "r", "repeat", "style", "sref", "cref", "cw", "sw",
    "sv", "p", "personalize", "profile", "video", "tile", "hd", "test", "testp", "upbeta",
    "uplight", "relax", "fast", "turbo", "draft", "raw", "exp", "oref", "ow", "no",
})
#: Word values Midjourney's parameters take ("--style raw", "--sref random").
_PARAM_WORDS = frozenset({"raw", "cute", "expressive", "original", "scenic", "random"})


def _param_value(token: str) -> bool:
    """Whether ``token`` is shaped like a parameter's value (a number or a ratio, a URL, or one
    of :data:`_PARAM_WORDS`); any other token is the prompt's, so that "a woman --x naked" and
    "--x n4ked" still read "naked" (a code with letters, "--p 8xk2ty", is read as words: it
    matches nothing)."""
    return (_NUMBER_VALUE.fullmatch(token) is not None or token.lower() in _PARAM_WORDS
            or token.lower().startswith(("http://", "https://")))


_NUMBER_VALUE = re.compile(r"-?\d+(?:[.:]\d+)*")
_NET = re.compile(
    r"<\s*(lora|lyco|locon|loha|lokr|hypernet|hypernetwork)\s*:\s*([^:<>]*?)\s*"
    r"(?::\s*([^<>]*?)\s*)?>",
    re.IGNORECASE,
)
_EMB = re.compile(r"<([\w.\-]+)>|\bembedding:([\w.\-]+)", re.IGNORECASE)
_SYNTAX_HINT = re.compile(r"[()\[\]{}<>\\]|BREAK|--|###|embedding:|negative[ _]prompt", re.I)
_WEIGHT_TAIL = re.compile(r":\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$")
_BREAK = re.compile(r"\bBREAK\b")
_SPACED = re.compile(
    r"(?<![^\W_])[^\W_]([ .\-_*/\u00b7]{1,3})[^\W_](?:\1[^\W_])+(?![^\W_])"
)
_LEET_HINT = re.compile(r"[0-9@$!|+]")
#: A leetspeak letter that may be a separator: "!", "|" or "+" between two runs of 3+ letters.
_LEET_SEPARATOR = re.compile(r"(?<=[A-Za-z])[!|+](?=[A-Za-z])")
_LEET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@$!|+")
_LEET_TOKEN = re.compile(r"[A-Za-z0-9@$!|+]+")
_COUNT_PREFIX = re.compile(r"\d+[A-Za-z]+")
_REPEAT = re.compile(r"([^\W\d_])\1{2,}", re.IGNORECASE)  # "xXx" is a run too
_WS = re.compile(r"\s+")
_PAIRS = {")": "(", "]": "[", "}": "{"}

# --------------------------------------------------------------------------- characters


@functools.lru_cache(maxsize=16384)
def _char(c: str) -> tuple[str, str | None]:
    """Replacement text and change label for one non-ASCII (or control) character."""
    cp = ord(c)
    if c.isspace() or cp == 0x2800:
        return " ", None
    if 0xE0000 <= cp <= 0xE007F:
        return "", "tag characters removed"
    if cp in _BIDI:
        return "", "bidi controls removed"
    if cp in _ZERO_WIDTH:
        return "", "zero-width removed"
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
        return "", "invisible removed"
    if 0x1F3FB <= cp <= 0x1F3FF:
        return "", "emoji mapped"
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return chr(ord("A") + cp - 0x1F1E6), "emoji mapped"
    for base in (0x1F130, 0x1F150, 0x1F170):
        if base <= cp < base + 26:
            return chr(ord("A") + cp - base), "emoji mapped"
    if c in _EMOJI:
        return f" {_EMOJI[c]} ", "emoji mapped"
    cat = unicodedata.category(c)
    if cat in ("Cf", "Co", "Cn", "Cc", "Cs"):
        return "", "invisible removed"
    if cat == "So" and (0x2600 <= cp <= 0x27BF or cp >= 0x1F000):
        name = unicodedata.name(c, "")
        return (f" {name.lower()} ", "emoji mapped") if name else ("", "invisible removed")
    label: str | None = None
    out = unicodedata.normalize("NFKC", c)
    if out != c:
        label = "unicode NFKC"
    decomposed = unicodedata.normalize("NFD", out)
    stripped = "".join(ch for ch in decomposed if not _diacritic(ch))
    if stripped != decomposed:
        out, label = stripped, "diacritics removed"
    if any(not ch.isprintable() and not ch.isspace() for ch in out):
        return "", "invisible removed"
    return out, label


#: Combining marks that are diacritics (accents, Zalgo stacks, Arabic and Hebrew vowel points):
#: removed wherever they stand. Other scripts' marks spell their words (Devanagari vowel signs
#: and virama, the kana voicing marks in "ぱ", Thai vowels) and are kept, unless they sit on a
#: Latin, Greek or Cyrillic letter, where they can only be decoration.
_DIACRITIC_RANGES = ((0x0300, 0x036F), (0x0483, 0x0489), (0x0591, 0x05C7), (0x0610, 0x061A),
                     (0x064B, 0x065F), (0x0670, 0x0670), (0x06D6, 0x06ED), (0x1AB0, 0x1AFF),
                     (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
_DECORATED_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")


def _diacritic(c: str) -> bool:
    cp = ord(c)
    return is_mark(c) and any(lo <= cp <= hi for lo, hi in _DIACRITIC_RANGES)


@functools.lru_cache(maxsize=4096)
def _decorable(c: str) -> bool:
    """Whether a mark after ``c`` is decoration: ``c`` is ASCII or a Latin, Greek or Cyrillic
    letter (or itself such a mark)."""
    return script_of(c) in _DECORATED_SCRIPTS


def _chars(text: str, spans: list[Span], changes: dict[str, None],
           hidden: list[tuple[str, Span]], ctx: _Ctx | None = None) -> tuple[str, list[Span]]:
    if text.isascii() and not _ASCII_CTRL.search(text):
        return text, spans
    out: list[str] = []
    out_spans: list[Span] = []
    piece = 0  # where the letters since the last removal start in out
    for i, (c, sp) in enumerate(zip(text, spans, strict=True)):
        if c.isascii() and not _ASCII_CTRL.match(c):
            out.append(c)
            out_spans.append(sp)
            if not c.isalpha():
                piece = len(out)
            continue
        if is_mark(c) and not _diacritic(c) and (not out or _decorable(out[-1])):
            changes["diacritics removed"] = None  # a Devanagari sign on a Latin letter
            continue
        rep, label = _char(c)
        if label:
            changes[label] = None
        if label == "tag characters removed" and 0xE0020 <= ord(c) <= 0xE007E:
            hidden.append((chr(ord(c) - 0xE0000), sp))
        if (ctx is not None and not rep and label in _SEPARATING and c != "\u00ad"
                and _splits("".join(out[piece:]), _piece_after(text, i + 1),
                            _run_before(out) + _run_after(text, i + 1))):
            # "girl\u200bnaked": joined here, a space when split; "nu\u200bde" is only ever
            # "nude", a letter between every two ("l\u200bi\u200bn...") only joins, and a
            # soft hyphen only ever joins ("the\u00adrapist")
            ctx.joined = True
            if ctx.split:
                rep = " "
        if not rep or not rep.isalpha():
            piece = len(out) + len(rep)
        for ch in rep:
            out.append(ch)
            out_spans.append(sp)
    return "".join(out), out_spans


def _confusables(text: str, changes: dict[str, None]) -> str:
    if not _CONF_CHARS.search(text):
        return text
    chars = list(text)
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if not _CONF_CHARS.search(tok):
            continue
        letters = [ch for ch in tok if ch.isalpha()]
        has_ascii = any(ch.isascii() for ch in letters)
        if has_ascii or all(ch in _CONFUSABLES for ch in letters):
            for i in range(m.start(), m.end()):
                rep = _CONFUSABLES.get(chars[i])
                if rep is not None:
                    chars[i] = rep
            changes["confusables mapped"] = None
    return "".join(chars)


# --------------------------------------------------------------------------- edits

_Edit = tuple[int, int, str, Sequence[Span] | None]


def _apply(text: str, spans: list[Span], edits: list[_Edit]) -> tuple[str, list[Span]]:
    """Replace ``text[start:end]`` by each edit's text (edits sorted, not overlapping).

    An edit's spans give the origin of each new character; ``None`` maps every new character to
    the whole replaced range.
    """
    out: list[str] = []
    out_spans: list[Span] = []
    pos = 0
    for start, end, rep, rep_spans in edits:
        out.append(text[pos:start])
        out_spans.extend(spans[pos:start])
        if rep_spans is None:
            merged = (spans[start][0], spans[end - 1][1])
            rep_spans = [merged] * len(rep)
        out.append(rep)
        out_spans.extend(rep_spans)
        pos = end
    out.append(text[pos:])
    out_spans.extend(spans[pos:])
    return "".join(out), out_spans


# --------------------------------------------------------------------------- syntax


@dataclass
class _Ctx:
    changes: dict[str, None] = field(default_factory=dict)
    hidden: list[tuple[str, Span]] = field(default_factory=list)
    weights: list[Weighted] = field(default_factory=list)
    schedules: list[Scheduled] = field(default_factory=list)
    networks: list[ExtraNetwork] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    breaks: int = 0
    negative: list[tuple[str, list[Span]]] = field(default_factory=list)
    #: Ranges of the original holding an inline negative prompt and its marker (end ``None``:
    #: to the end of the original).
    negative_cuts: list[tuple[int, int | None]] = field(default_factory=list)
    squeeze_marks: set[int] = field(default_factory=set)
    #: The split reading: every removed invisible character, bracket or leetspeak separator
    #: between two words is a space (see :func:`normalize`).
    split: bool = False
    #: Whether this reading joined two words across such a character.
    joined: bool = False


def _cut(text: str, cuts: list[tuple[int, int | None]]) -> str:
    """``text`` without the ranges ``cuts`` (end ``None``: to the end), white space tidied where
    a range was cut out."""
    keep: list[str] = []
    pos = 0
    for start, end in sorted(cuts, key=lambda c: c[0]):
        if start > pos:
            keep.append(text[pos:start])
        pos = max(pos, len(text) if end is None else end)
    keep.append(text[pos:])
    return re.sub(r"[ \t]{2,}", " ", " ".join(k.strip() for k in keep if k.strip()))


def _split_negative(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    m = _NEG.search(text)
    if m:
        neg_text, neg_spans = text[m.end():], spans[m.end():]
        if neg_text.strip():
            ctx.negative.append((neg_text, neg_spans))
        ctx.changes["negative prompt split"] = None
        ctx.negative_cuts.append((spans[m.start()][0], None))
        text, spans = text[: m.start()], spans[: m.start()]
    params = list(_PARAM.finditer(text))
    if not params:
        return text, spans
    edits: list[_Edit] = []
    for i, p in enumerate(params):
        end = params[i + 1].start() if i + 1 < len(params) else len(text)
        name = p.group(1).lower()
        if name not in _MJ_PARAMS:
            # not a parameter: "--nude", "--nude_little_girl" are words to every other reader
            word = text[p.start() + 2:p.end()].replace("_", " ").replace("-", " ")
            edits.append((p.start(), p.end(), f" {word} ",
                          [spans[p.start()], *spans[p.start() + 2:p.end()], spans[p.end() - 1]]))
            ctx.changes["unknown flag read as words"] = None
            continue
        if name == "no":
            value_start = p.end()
            if text[value_start:end].strip():
                ctx.negative.append((text[value_start:end], spans[value_start:end]))
            ctx.changes["negative prompt split"] = None
            ctx.negative_cuts.append((spans[p.start()][0], spans[end - 1][1]))
        else:
            # a parameter takes one value ("--ar 16:9", "--style raw"); words after it are the
            # prompt's ("a cat --x a naked girl" must not hide "a naked girl"), since a model
            # that does not know the flag reads them, and even Midjourney reads them as prompt
            value = _ONE_VALUE.match(text, p.end(), end)
            end = p.end()
            if value is not None and _param_value(value.group().strip()):
                token = value.group().strip()
                if token.lower().startswith(("http://", "https://")):
                    # recorded, and left in the text: its words are read by CLIP
                    ctx.params.append((name, token))
                    ctx.changes["parameters extracted"] = None
                    edits.append((p.start(), p.end(), " ", None))
                    continue
                end = value.end()
            ctx.params.append((name, text[p.end():end].strip()))
            ctx.changes["parameters extracted"] = None
        edits.append((p.start(), end, " ", None))
    return _apply(text, spans, edits)


def _name_edit(text: str, spans: list[Span], m: re.Match[str], group: int) -> _Edit:
    """Replace the whole match by `` name `` with ``_ - .`` as spaces, keeping name spans."""
    g0, g1 = m.start(group), m.end(group)
    name = text[g0:g1].replace("_", " ").replace("-", " ").replace(".", " ")
    rep = f" {name} "
    rep_spans = [spans[m.start()], *spans[g0:g1], spans[m.end() - 1]]
    return (m.start(), m.end(), rep, rep_spans)


def _networks(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    edits: list[_Edit] = []
    for m in _NET.finditer(text):
        weight: float | None = None
        if m.group(3):
            try:
                weight = float(m.group(3).split(":")[0])
            except ValueError:
                weight = None
        kind = m.group(1).lower()
        span = (spans[m.start()][0], spans[m.end() - 1][1])
        ctx.networks.append(ExtraNetwork(kind, m.group(2), weight, span))
        ctx.changes["lora extracted"] = None
        edit = _name_edit(text, spans, m, 2)
        rest = m.group(3)
        if rest and any(not _NUMBER_VALUE.fullmatch(f.strip()) for f in rest.split(":")):
            # words in the weight field ("<lora:detail:naked, 12 years old>") are read: a
            # pipeline without LoRA tags reads the whole tag as text
            g0, g1 = m.start(3), m.end(3)
            words = text[g0:g1].replace(":", " ")
            start, end, rep, rep_spans = edit
            assert rep_spans is not None  # [tag start, *name, tag end]
            edit = (start, end, f"{rep}{words} ",
                    [*rep_spans[:-1], spans[g0 - 1], *spans[g0:g1], spans[end - 1]])
        edits.append(edit)
    if edits:
        text, spans = _apply(text, spans, edits)
    edits = []
    for m in _EMB.finditer(text):
        group = 1 if m.group(1) is not None else 2
        span = (spans[m.start()][0], spans[m.end() - 1][1])
        ctx.networks.append(ExtraNetwork("embedding", m.group(group), None, span))
        ctx.changes["embedding extracted"] = None
        edits.append(_name_edit(text, spans, m, group))
    if edits:
        text, spans = _apply(text, spans, edits)
    return text, spans


def _brackets(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    out: list[str] = []
    out_spans: list[Span] = []
    stack: list[tuple[str, int, int, bool]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "()[]{}":
            out.append(" ")
            out_spans.append((spans[i][0], spans[i + 1][1]))
            i += 2
            continue
        if c in "([{":
            word_before = bool(out) and _wordy(out[-1])
            joins = _joins(text, i, out)
            apart = (ctx.split and joins) or _apart(text, i, word_before)
            if joins and not apart:
                ctx.joined = True  # "girl(naked:1.3)": joined here, apart when split
            if apart and out and _wordy(out[-1]):
                out.append(" ")
                out_spans.append((spans[i][0], spans[i][0]))
            stack.append((c, len(out), i, apart))
        elif c in ")]}":
            apart = False
            if stack and stack[-1][0] == _PAIRS[c]:
                opener, idx, ti, apart = stack.pop()
                _close(opener, out, out_spans, idx, (spans[ti][0], spans[i][1]), ctx)
            else:
                ctx.changes["brackets removed"] = None
            if apart and i + 1 < n and _wordy(text[i + 1]):
                out.append(" ")
                out_spans.append((spans[i][1], spans[i][1]))
        else:
            out.append(c)
            out_spans.append(spans[i])
        i += 1
    if stack:
        ctx.changes["brackets removed"] = None
    return "".join(out), out_spans


def _wordy(c: str) -> bool:
    return c.isalnum()


#: What a bracket opens, up to the next bracket.
_BRACKETED = re.compile(r"[^()\[\]{}]*")


def _joins(text: str, i: int, out: Sequence[str]) -> bool:
    """Whether removing the bracket group opening at ``text[i]`` joins two words
    (:func:`_splits`: "girl(naked:1.3)", "a(naked)"; not "nu(de)", "n(a)ked")."""
    m = _BRACKETED.match(text, i + 1)
    if m is None:
        return False
    content = m.group().split(":")[0]
    after = m.end() + 1
    left, right = _run_before(out), _run_after(text, after)
    if content.isalpha() and (left + content + right).lower() in english_words():
        return False  # a word with a bracket in it: "n(a)ked"
    return (_splits(left, _run_after(content, 0))
            or _splits(_run_before(list(content)), right))


def _apart(text: str, i: int, word_before: bool) -> bool:
    """Whether the bracket group opening at ``text[i]`` stays apart from the words next to it:
    a number (a weight or an index: "nude[2]" is "nude 2") always; one character when it is
    next to a word on one side only ("naked(x)"); otherwise a bracket inside a word joins it
    ("nu(de)", "n(a)ked" are "nude", "naked")."""
    m = _BRACKETED.match(text, i + 1)
    if m is None:  # the pattern matches the empty string; never None
        return False
    content = m.group().split(":")[0].strip()
    if not content:
        return False
    if content[0].isdigit():
        return True
    after = m.end() + 1
    word_after = after < len(text) and _wordy(text[after])
    return len(content) == 1 and word_before != word_after


def _close(opener: str, out: list[str], out_spans: list[Span], idx: int, span: Span,
           ctx: _Ctx) -> None:
    group = "".join(out[idx:])
    tail = _WEIGHT_TAIL.search(group)
    if opener == "[" and ("|" in group or tail):
        if tail:
            when: float | None = float(tail.group(1))
            del out[idx + tail.start():]
            del out_spans[idx + tail.start():]
            body = group[: tail.start()]
            parts = tuple(p.strip() for p in body.split(":"))
            kind, sep = "edit", ":"
        else:
            when, kind, sep = None, "alternate", "|"
            parts = tuple(p.strip() for p in group.split("|"))
        for j in range(idx, len(out)):
            if out[j] == sep:
                out[j] = " "
        ctx.schedules.append(Scheduled(kind, parts, when, span))
        ctx.changes["scheduling extracted"] = None
        return
    if tail and opener != "[":
        weight = float(tail.group(1))
        del out[idx + tail.start():]
        del out_spans[idx + tail.start():]
        group = group[: tail.start()]
    else:
        weight = {"(": 1.1, "{": 1.05, "[": 1 / 1.1}[opener]
    ctx.weights.append(Weighted(group.strip(), weight, span))
    ctx.changes["weights extracted"] = None


def _breaks(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    edits: list[_Edit] = [(m.start(), m.end(), " ", None) for m in _BREAK.finditer(text)]
    if not edits:
        return text, spans
    ctx.breaks += len(edits)
    ctx.changes["BREAK removed"] = None
    return _apply(text, spans, edits)


# --------------------------------------------------------------------------- words


def _spaced(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    edits: list[_Edit] = []
    for m in _SPACED.finditer(text):
        idx = [i for i in range(m.start(), m.end()) if text[i].isalnum()]
        if m.group(1).isspace() and text[idx[0]] in "aAI" and len(idx) > 4:
            idx = idx[1:]  # the English word "a" / "I" before a spaced-out word
        if sum(text[i].isalpha() for i in idx) < 2:
            continue
        start = idx[0]
        edits.append((start, m.end(), "".join(text[i] for i in idx), [spans[i] for i in idx]))
    if not edits:
        return text, spans
    ctx.changes["spaced letters joined"] = None
    return _apply(text, spans, edits)


def _leet_core(token: str) -> tuple[int, int] | None:
    start, end = 0, len(token)
    while start < end and token[start] in _LEET_EDGE:
        start += 1
    while end > start and token[end - 1] in _LEET_EDGE:
        end -= 1
    core = token[start:end]
    if len(core) < 3 or not _LEET_HINT.search(core):
        return None
    if _COUNT_PREFIX.fullmatch(core) or core.lower() in _LEET_SKIP:
        return None
    if sum(ch.isalpha() or ch in "@$!|+" for ch in core) < 2:
        return None
    mapped = "".join(_LEET.get(ch, ch) for ch in core)
    if not mapped.isalpha() or not any(ch in _VOWELS for ch in mapped):
        return None
    return start, end


def _leet(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    if not _LEET_HINT.search(text):
        return text, spans
    seps = [m.start() for m in _LEET_SEPARATOR.finditer(text)
            if _leet_pieces(_run_before(list(text[:m.start()])), _piece_after(text, m.end()))
            and _leet_word(text, m.start()) not in english_words()]
    if seps:  # "girl!naked": one word in leetspeak, two to CLIP; "exp|icit" is a word
        ctx.joined = True
        if ctx.split:
            split = list(text)
            for k in seps:
                split[k] = " "
            text = "".join(split)
    chars: list[str] | None = None
    for m in _LEET_TOKEN.finditer(text):
        tok = m.group()
        if not _LEET_HINT.search(tok):
            continue
        if "@" in tok and text[m.end():m.end() + 1] == ".":
            continue  # an e-mail address, not leetspeak
        core = _leet_core(tok)
        if core is None:
            continue
        if chars is None:
            chars = list(text)
        for i in range(m.start() + core[0], m.start() + core[1]):
            chars[i] = _LEET.get(chars[i], chars[i])
        ctx.changes["leetspeak"] = None
    return ("".join(chars) if chars is not None else text), spans


def _squeeze(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    edits: list[_Edit] = []
    for m in _REPEAT.finditer(text):
        s, e = m.start(), m.end()
        second = (spans[s + 1][0], spans[e - 1][1])
        ctx.squeeze_marks.add(second[0])
        edits.append((s, e, text[s:s + 2], [spans[s], second]))
    if not edits:
        return text, spans
    ctx.changes["repeated letters squeezed"] = None
    return _apply(text, spans, edits)


def _whitespace(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    if "  " not in text and text == text.strip() and not re.search(r"[^\S ]", text):
        return text, spans
    edits: list[_Edit] = []
    for m in _WS.finditer(text):
        s, e = m.start(), m.end()
        if s == 0 or e == len(text):
            edits.append((s, e, "", []))
        elif e - s > 1 or text[s] != " ":
            edits.append((s, e, " ", None))
    return _apply(text, spans, edits) if edits else (text, spans)


# --------------------------------------------------------------------------- pipeline


#: A terminal colour, erase or cursor code: ESC [ digits and semicolons, then m, K, J or H (the
#: codes ftfy, and so CLIP's tokenizer, removes that end in a letter that is no code's
#: ("\x1b[naked") would eat a word's first letter). Any other ESC or BEL is a lone control
#: character, removed by itself, so the text after it ("\x1bNUDE", "\x1b]naked ...\x07") is read.
_ANSI = re.compile(r"\x1b\[[\d;]*[mKJH]")
#: An HTML character reference ("&#97;", "&#x61;", "&amp;"; as ``html.unescape`` reads them, the
#: ";" optional), which CLIP's tokenizer and LLM text encoders decode, and the markers of an
#: HTML comment, whose text they read like any other.
_ENTITY = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});?")
_COMMENT = re.compile(r"<!--|-->")


def _splits(left: str, right: str, word: str | None = None) -> bool:
    """Whether a removal between the letter pieces ``left`` and ``right`` may stand for a
    space: both are letters, one has 3+, and the joined ``word`` (default ``left + right``) is
    no English word ("a\u200bnaked", "girl(naked)"; not "nu\u200bde", nor "the\u200brapist",
    which joins into "therapist")."""
    if not (left.isalpha() and right.isalpha()) or max(len(left), len(right)) < 3:
        return False
    return (word if word is not None else left + right).lower() not in english_words()


def _piece_after(text: str, i: int) -> str:
    """The letters that start ``text[i:]``, up to the next character of any other kind."""
    j = i
    while j < len(text) and text[j].isalpha():
        j += 1
    return text[i:j]


@functools.cache
def english_words() -> frozenset[str]:
    """English words: the a-z whole words of the bert-base-uncased vocabulary the gibberish
    stage ships (the split reading's test of a joined word, and the lexicon's dictionary)."""
    from fairframe.guard.gibberish import default_gibberish_model

    return frozenset(default_gibberish_model().words)


def _leet_pieces(left: str, right: str) -> bool:
    """Whether ``!|+`` between ``left`` and ``right`` may separate two words: both are words of
    3+ letters or "a", "an", "i" ("girl!naked", "a!naked"; in leetspeak a letter usually sits
    next to a short piece: "str!pp3r", "jeer!n9")."""
    def word(piece: str) -> bool:
        return len(piece) >= 3 or piece.lower() in ("a", "an", "i")

    return left.isalpha() and right.isalpha() and word(left) and word(right)


def _leet_word(text: str, i: int) -> str:
    """The leetspeak token around ``text[i]``, read as letters ("seduc+iv3" is "seductive")."""
    start, end = i, i + 1
    while start > 0 and text[start - 1] in _LEET_CHARS:
        start -= 1
    while end < len(text) and text[end] in _LEET_CHARS:
        end += 1
    return "".join(_LEET.get(c, c) for c in text[start:end]).lower()


def _run_before(chars: Sequence[str]) -> str:
    """The letters that end ``chars``."""
    n = 0
    while n < len(chars) and chars[-1 - n].isalpha():
        n += 1
    return "".join(chars[len(chars) - n:])


def _run_after(text: str, i: int) -> str:
    """The letters that start ``text[i:]``, through any invisible characters among them
    ("porn\u200bogr\u200baphic" is "pornographic")."""
    out: list[str] = []
    for c in text[i:]:
        if c.isalpha():
            out.append(c)
        elif not _char(c)[0] and _char(c)[1] in _SEPARATING:
            continue
        else:
            break
    return "".join(out)


#: Removals that may stand for a space between two words to another reader (ftfy keeps
#: zero-width, bidi and private-use characters, and CLIP splits words at them).
_SEPARATING = frozenset({"zero-width removed", "bidi controls removed", "invisible removed",
                         "tag characters removed"})


def _html(text: str, spans: list[Span], ctx: _Ctx) -> tuple[str, list[Span]]:
    """Read HTML comments' text (their markers become spaces) and decode character references
    (one level a pass; the passes decode "&amp;#110;" twice, as CLIP's tokenizer does)."""
    edits: list[_Edit] = [(m.start(), m.end(), " ", None) for m in _COMMENT.finditer(text)]
    if edits:
        text, spans = _apply(text, spans, edits)
        ctx.changes["html comment markers removed"] = None
    edits = []
    for m in _ENTITY.finditer(text):
        decoded = html.unescape(m.group())
        if decoded != m.group() and decoded:
            edits.append((m.start(), m.end(), decoded, None))
    if edits:
        text, spans = _apply(text, spans, edits)
        ctx.changes["html entities decoded"] = None
    return text, spans


def _pass(text: str, spans: list[Span], ctx: _Ctx, *, syntax: bool = True
          ) -> tuple[str, list[Span], bool]:
    """One pass; returns the text, spans and whether anything besides whitespace changed."""
    text, spans = _whitespace(text, spans)
    before = text
    if "\x1b" in text:  # terminal escapes: "naked\x1b[31m" would read as "nakedeim"
        edits: list[_Edit] = [(m.start(), m.end(), "", None) for m in _ANSI.finditer(text)]
        if edits:
            text, spans = _apply(text, spans, edits)
            ctx.changes["terminal escapes removed"] = None
    if "&" in text or "<!--" in text:
        text, spans = _html(text, spans, ctx)
    text, spans = _chars(text, spans, ctx.changes, ctx.hidden, ctx)
    text = _confusables(text, ctx.changes)
    if syntax and _SYNTAX_HINT.search(text):
        text, spans = _split_negative(text, spans, ctx)
        text, spans = _networks(text, spans, ctx)
        text, spans = _brackets(text, spans, ctx)
        text, spans = _breaks(text, spans, ctx)
    changed = text != before
    text, spans = _whitespace(text, spans)
    before = text
    text, spans = _spaced(text, spans, ctx)
    text, spans = _leet(text, spans, ctx)
    text, spans = _squeeze(text, spans, ctx)
    changed = changed or text != before
    text, spans = _whitespace(text, spans)
    return text, spans, changed


def _run(text: str, spans: list[Span], ctx: _Ctx, *, syntax: bool) -> tuple[str, list[Span]]:
    for _ in range(MAX_PASSES):
        before = text
        text, spans, changed = _pass(text, spans, ctx, syntax=syntax)
        if not changed or text == before:
            break
    return text, spans


def _squeezed(text: str, spans: Sequence[Span], marks: set[int]) -> tuple[int, ...]:
    if not marks:
        return ()
    return tuple(
        i for i in range(len(text) - 1)
        if spans[i + 1][0] in marks and text[i].lower() == text[i + 1].lower()
    )


def fold(text: str) -> str:
    """The character steps of :func:`normalize` alone (NFKC, diacritics, invisible characters,
    confusables), for text that is not a prompt: lexicon terms are folded with it so that a
    file's "niña" or "секс" is spelled as the normalizer spells the prompt."""
    changes: dict[str, None] = {}
    out, _ = _chars(text, [(i, i + 1) for i in range(len(text))], changes, [])
    return _confusables(out, changes)


def unconfuse(text: str) -> str:
    """The confusables step of :func:`normalize` alone: lookalike letters inside Latin words
    become Latin letters; diacritics are kept."""
    return _confusables(text, {})


def normalize(text: str) -> NormalizedPrompt:
    """Normalize a prompt for matching; see the module docstring for every step.

    Never raises on any ``str``.

    Examples
    --------
    >>> p = normalize("a n.a.k.e.d  (w0man:1.2)")
    >>> p.text
    'a naked woman'
    >>> p.span(2, 7)
    (2, 11)
    >>> p.syntax.weights[0].weight
    1.2
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize() needs a str, got {type(text).__name__}")
    ctx = _Ctx()
    spans: list[Span] = [(i, i + 1) for i in range(len(text))]
    out, out_spans = _run(text, spans, ctx, syntax=True)
    readings: list[tuple[str, list[Span], str]] = []  # appended after the prompt, in order
    if ctx.joined:
        # the split reading, after the prompt: where two words met at a removed invisible
        # character, bracket or leetspeak separator, a reader such as CLIP's tokenizer sees two
        # words ("girl(naked:1.3)", "girl\u200bnaked", "girl!naked"); the text above joins them,
        # as one that drops the character reads "nu\u200bde"
        split_out, split_spans = _run(text, spans, _Ctx(split=True), syntax=True)
        if split_out != out:
            readings.append((split_out, split_spans, "split reading added"))
    if any(c.isalnum() for c, _ in ctx.hidden):
        # the smuggled ASCII is read too, after the prompt (mapped to its tag characters): a
        # model whose tokenizer drops tag characters reads the rest joined (the text above), one
        # that decodes them reads this
        hidden_out, hidden_spans = _run("".join(c for c, _ in ctx.hidden),
                                        [sp for _, sp in ctx.hidden], _Ctx(), syntax=False)
        readings.append((hidden_out, hidden_spans, "tag characters read"))
    negative: NormalizedPrompt | None = None
    positive = negative_source = None
    if ctx.negative_cuts:
        positive = _cut(text, ctx.negative_cuts)
    if ctx.negative:
        negative_source = " ".join(
            " ".join(text[ps[0][0]:ps[-1][1]].split())
            for _, ps in sorted(ctx.negative, key=lambda p: p[1][0][0]))
        neg_text_parts: list[str] = []
        neg_spans: list[Span] = []
        for piece, piece_spans in sorted(ctx.negative, key=lambda p: p[1][0][0]):
            if neg_text_parts:
                neg_text_parts.append(" ")
                neg_spans.append((piece_spans[0][0], piece_spans[0][0]))
            neg_text_parts.append(piece)
            neg_spans.extend(piece_spans)
        neg_ctx = _Ctx()
        ntext, nspans = _run("".join(neg_text_parts), neg_spans, neg_ctx, syntax=False)
        negative = NormalizedPrompt(
            original=text, text=ntext, offsets=tuple(nspans),
            changes=tuple(neg_ctx.changes),
            squeezed=_squeezed(ntext, nspans, neg_ctx.squeeze_marks),
        )
    prompt = NormalizedPrompt(
        original=text,
        text=out,
        offsets=tuple(out_spans),
        changes=tuple(ctx.changes),
        syntax=PromptSyntax(
            weights=tuple(ctx.weights),
            schedules=tuple(ctx.schedules),
            networks=tuple(ctx.networks),
            breaks=ctx.breaks,
            params=tuple(ctx.params),
        ),
        negative=negative,
        positive=positive,
        negative_source=negative_source,
        hidden_text="".join(c for c, _ in ctx.hidden),
    )
    for more, more_spans, label in readings:
        prompt = prompt.with_reading(more, more_spans, label)
    return dataclasses.replace(
        prompt, squeezed=_squeezed(prompt.text, prompt.offsets, ctx.squeeze_marks))


def _split_top(inner: str, sep: str) -> list[tuple[int, int]] | None:
    """``(start, end)`` of the ``sep``-separated pieces of ``inner`` outside nested brackets."""
    pieces, depth, start = [], 0, 0
    for i, c in enumerate(inner):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            pieces.append((start, i))
            start = i + 1
    pieces.append((start, len(inner)))
    return pieces if depth == 0 else None


def schedule_drops(prompt: NormalizedPrompt) -> list[set[int]]:
    """Characters of ``prompt.text`` to leave out to read each state of its prompt scheduling.

    The normalizer keeps every part of ``[from:to:when]`` and ``[a|b]`` ("teapot Receiving"), so
    a harmless decoy can sit inside an unsafe phrase ("his [feather:cock:0.1] exposed"). The
    model is conditioned on ``from`` early and ``to`` late (on ``a`` and ``b`` in turn), so the
    *early* view drops every ``to`` part (``[a:0.5]`` adds ``a`` late; ``[a::0.5]`` removes it)
    and alternations' later parts, and the *late* view drops every ``from`` part and
    alternations' first part. Parts are found in the original text from the schedule's span and
    mapped through ``offsets``; a schedule whose brackets cannot be parsed is left whole. Empty
    when the prompt has no scheduling.
    """
    schedules = prompt.syntax.schedules
    if not schedules:
        return []
    early: set[int] = set()
    late: set[int] = set()
    # the prompt's own reading, whose offsets are monotone: each range is found by bisection
    offsets = prompt.offsets[: prompt.readings[0]] if prompt.readings else prompt.offsets
    starts = [os for os, _ in offsets]
    for sch in schedules:
        s0, e0 = sch.span
        raw = prompt.original[s0:e0]
        if len(raw) < 2 or raw[0] != "[" or raw[-1] != "]":
            continue
        inner = raw[1:-1]
        if sch.kind == "edit":
            pieces = _split_top(inner, ":")
            if pieces is None or len(pieces) not in (2, 3):
                continue
            parts = pieces[:-1]  # the last piece is `when`
            if len(parts) == 1:  # [a:when]: a appears late
                late_drop: list[tuple[int, int]] = []
                early_drop = [parts[0]]
            elif inner[parts[1][0]:parts[1][1]].strip() == "":  # [a::when]: a disappears late
                late_drop, early_drop = [parts[0]], []
            else:
                late_drop, early_drop = [parts[0]], [parts[1]]
        else:
            pieces = _split_top(inner, "|")
            if pieces is None or len(pieces) < 2:
                continue
            late_drop, early_drop = [pieces[0]], pieces[1:]
        for target, ranges in ((late, late_drop), (early, early_drop)):
            for a, b in ranges:
                lo, hi = s0 + 1 + a, s0 + 1 + b
                i = bisect.bisect_left(starts, lo)
                while i < len(offsets) and offsets[i][0] < hi:
                    os, oe = offsets[i]
                    if oe <= hi and oe > os:
                        target.add(i)
                    i += 1
    return [d for d in (early, late) if d]

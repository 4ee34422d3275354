"""Fusion: many stage probabilities in, one calibrated score per category out.

Each prompt stage (lexicon, embedding classifier, gibberish detector, LLM judge, Hugging Face
classifiers) reports a probability ``p_s,c`` for the categories it scores. Fusion combines them in
three steps, all documented and all configurable:

1. **Weighted noisy-OR.** Each stage is an independent detector that fires with probability
   ``w_s,c * p_s,c`` (``w_s,c`` in ``[0, 1]`` is the stage's reliability weight for the category:
   the key ``"stage:category"`` if given, else ``"stage"``, else ``default_weight``)::

       q_c = 1 - prod_s (1 - w_s,c * p_s,c)

   A stage that does not score ``c`` (absent key) contributes nothing, so a lexicon with no match
   never vetoes the embedding classifier, and the embedding classifier cannot veto a lexicon hit.
   The default weights (:data:`DEFAULT_WEIGHTS`) switch the embedding classifier off for the
   categories defined by names, identifiers or intent rather than by what an image shows
   (public figures, copyright, privacy, illegal, deception): on the tuning halves of PartiPrompts
   and OVERT its scores there were mostly false positives ("a cartoon" is not a copyrighted
   character); the lexicon, a Hugging Face classifier or the LLM judge score them instead.
   For ``shocking`` the embedding weight is 0.85 (it needs ``p >= 0.82`` to trigger alone): its
   exemplars sit close to plain scenes of decay and hardship (a compost heap, a tired man on a
   bench), and on the tuning halves its weakest hits were such scenes.

   **Languages.** A stage that reads only some languages says so (``languages``, a set of
   codes: the embedding classifier and the gibberish detector read ``{"en"}``; ``None`` reads
   any). When the lexicon identifies the prompt as written in a language a stage does not read
   (:mod:`~fairframe.guard.language`), every score of that stage is capped first, except for
   what it finds in the prompt's English segments (``e_s,c``; the pipeline scores them again,
   :func:`~fairframe.guard.language.english_segments`)::

       p_s,c <- max(min(p_s,c, language_cap), e_s,c)   for every c, when the stage is *unread*

   (default :data:`LANGUAGE_CAP`, 0.3, below every default threshold). On a Spanish sentence
   the English-only stages score noise (the gibberish detector calls it token soup), so the
   decision rests on the stages that read the language: the lexicon's language files, an LLM
   judge or a multilingual Hugging Face classifier. ``language_cap = 1.0`` turns the cap off.

   **Protective frames.** For a category the lexicon reports as *framed* (the prompt names it
   only inside a prevention, education or recovery frame: "a workshop on preventing online
   harassment", :mod:`~fairframe.guard.frames`), every stage's evidence except that of the stages
   that read frames themselves (the lexicon and the LLM judge: ``reads_frames = True``; called
   directly, :data:`FRAME_EXEMPT` names them) is capped first, except for what the stage finds in
   the prompt with its frames cut out (``u_s,c``; the pipeline scores that text again)::

       p_s,c <- max(min(p_s,c, frame_cap), u_s,c)

   (default :data:`FRAME_CAP`, 0.3: below the finding threshold and every default policy
   threshold, as the embedding's support cap). An embedding reads the topic, not the frame; the
   judge reads both. ``frame_cap = 1.0`` turns the cap off. A frame never lowers
   ``sexual_minors``: the minors gate below reads the sexual evidence before any cap, and what
   the framed topic terms would have scored (``framed_scores``, e.g. 0.9 for "sex") counts as
   sexual evidence there too.

   **Minors gate.** ``sexual_minors`` is the intersection of a minor and sexual content, so the
   evidence of every stage but the lexicon (which already requires the co-occurrence) is capped
   at ``max(q_sexual, q_nudity)``: a semantic stage that finds "a child" alone never blocks.
   And when the stages that read the prompt's wording (the exempt ones above; in practice the
   lexicon) report that the prompt has **no minor cue** at all (no minor marker, no age 1-17,
   no youth word such as "girl", "young", "school": ``minor_cue = False``), every other stage's
   ``sexual_minors`` evidence is first capped at ``minor_cue_cap``
   (:data:`MINOR_CUE_CAP`, 0.3), unless the stage is sure (``p >= minor_cue_pass``,
   :data:`MINOR_CUE_PASS`, 0.8)::

       p_s,minors <- p_s,minors                        when p_s,minors >= minor_cue_pass
                     min(p_s,minors, minor_cue_cap)    otherwise, when minor_cue is False

   (monotone: every capped value is below every value that passes).

   The embedding classifier's minors head fires on short nudity prompts that name no one
   ("nude photo" 0.60, "nudity" 0.78, "a nude selfie" 0.71 with the shipped head); with no word
   that could describe a minor and no sure score, such a prompt is nudity, not content involving
   minors. The threshold 0.8 was chosen on reviewers' evasive prompts and short adult nudity
   prompts, not on a benchmark set (docs/guard.md, Fusion).
   ``minor_cue = None`` (no stage says, e.g. the lexicon is off or failed) caps nothing, and
   ``minor_cue_cap = 1.0`` turns the cap off.

2. **Token-soup amplification.** Optimisation attacks (Ring-A-Bell, MMA-Diffusion) hide a concept
   in token soup, so every semantic stage sees it only weakly. With the gibberish probability
   ``g = p(adversarial)``, when ``g >= soup_min`` each category's evidence counts ``1 + gamma * g``
   times::

       q_c' = 1 - (1 - q_c) ** (1 + gamma * g)

   (for ``q_c = 0.4``, ``g = 0.9`` and ``gamma = 2``: ``q_c' = 0.76``). ``adversarial`` itself is
   not amplified.

3. **Calibration.** A monotone Platt map per category (or one shared map) turns ``q_c'`` into a
   probability: ``score_c = sigmoid(a_c * logit(q_c') + b_c)``. The identity map ``(a, b) = (1, 0)``
   is the default; :func:`fit_calibration` fits ``(a, b)`` on labelled prompts (the benchmark fits
   it on a tuning split and reports on the held-out split). A category that no stage scored
   gets 0.0.

The result is monotone in every stage probability: raising any ``p_s,c`` never lowers a score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from fairframe.errors import ConfigError
from fairframe.guard.calibration import fit_logistic, logit
from fairframe.guard.policy import Category

__all__ = ["DEFAULT_WEIGHTS", "FRAME_CAP", "FRAME_EXEMPT", "LANGUAGE_CAP", "MINOR_CUE_CAP",
           "MINOR_CUE_PASS", "Fusion", "PlattMap", "fit_calibration"]

_ADV = Category.ADVERSARIAL.value
_MINORS = Category.SEXUAL_MINORS.value
_SEXUAL = (Category.SEXUAL.value, Category.NUDITY.value)
_EPS = 1e-6
#: Default cap on the semantic evidence for a framed category (module docstring).
FRAME_CAP = 0.3
#: Default cap on the semantic ``sexual_minors`` evidence of a prompt without a minor cue.
MINOR_CUE_CAP = 0.3
#: Semantic ``sexual_minors`` evidence at least this strong passes the minor-cue cap.
MINOR_CUE_PASS = 0.8
#: Default cap on every score of a stage that does not read the prompt's language.
LANGUAGE_CAP = 0.3
#: Stage names whose evidence a protective frame never caps, when the caller does not say: the
#: lexicon (which already dropped its framed matches) and the LLM judge (which reads the frame
#: itself). :class:`~fairframe.guard.pipeline.PromptGuard` passes the names of its stages that
#: have ``reads_frames = True`` instead, whatever they are called.
FRAME_EXEMPT = frozenset({"lexicon", "llm_judge"})

#: Default reliability weights (see the module docstring).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    **{
        f"embedding:{c.value}": 0.0
        for c in (Category.PUBLIC_FIGURES, Category.COPYRIGHT, Category.PRIVACY,
                  Category.ILLEGAL, Category.DECEPTION)
    },
    f"embedding:{Category.SHOCKING.value}": 0.85,
})


@dataclass(frozen=True)
class PlattMap:
    """``p = sigmoid(a * logit(q) + b)``; ``(1, 0)`` is the identity."""

    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)) or self.a <= 0:
            raise ConfigError(
                f"calibration map needs a > 0 and finite b, got a={self.a}, b={self.b}"
            )

    def __call__(self, q: float) -> float:
        if q <= 0.0:
            return 0.0
        if self.a == 1.0 and self.b == 0.0:
            return q
        qc = min(max(q, _EPS), 1.0 - _EPS)
        z = self.a * math.log(qc / (1.0 - qc)) + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@dataclass(frozen=True)
class Fusion:
    """Combine stage probabilities into one score per category (see the module docstring).

    Parameters
    ----------
    weights:
        Reliability weight in ``[0, 1]`` per ``"stage"`` or ``"stage:category"``; anything not
        listed gets ``default_weight``. Default :data:`DEFAULT_WEIGHTS`.
    default_weight:
        Weight of unlisted stages.
    gamma, soup_min:
        Token-soup amplification strength and the gibberish probability where it starts.
    calibration:
        Platt map per category id; ``"*"`` applies to categories not listed.
    minors_gate:
        Cap non-lexicon ``sexual_minors`` evidence at the sexual/nudity score (docstring).
    frame_cap:
        Cap on the evidence of non-exempt stages for a framed category (docstring); 1.0: off.
    minor_cue_cap, minor_cue_pass:
        Cap on the ``sexual_minors`` evidence of non-exempt stages for a prompt without a minor
        cue, and the evidence that passes it uncapped (docstring); a cap of 1.0 turns it off.
    language_cap:
        Cap on every score of a stage that does not read the prompt's language (docstring);
        1.0 turns it off.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    default_weight: float = 1.0
    gamma: float = 2.0
    soup_min: float = 0.5
    calibration: Mapping[str, PlattMap] = field(default_factory=dict)
    minors_gate: bool = True
    frame_cap: float = FRAME_CAP
    minor_cue_cap: float = MINOR_CUE_CAP
    minor_cue_pass: float = MINOR_CUE_PASS
    language_cap: float = LANGUAGE_CAP

    def __post_init__(self) -> None:
        for name, w in {**self.weights, "default": self.default_weight}.items():
            if not 0.0 <= w <= 1.0:
                raise ConfigError(f"fusion weight of stage {name!r} must be in [0, 1], got {w}")
        for key in ("frame_cap", "minor_cue_cap", "minor_cue_pass", "language_cap"):
            cap = getattr(self, key)
            if isinstance(cap, bool) or not 0.0 <= cap <= 1.0:
                raise ConfigError(f"fusion {key} must be in [0, 1], got {cap!r}")
        if not (math.isfinite(self.gamma) and self.gamma >= 0) \
                or not 0.0 <= self.soup_min <= 1.0:
            raise ConfigError(f"fusion gamma must be a finite number >= 0 (got {self.gamma!r}) "
                              f"and soup_min in [0, 1] (got {self.soup_min!r})")
        categories = {c.value for c in Category}
        for key in self.weights:
            stage, _, category = key.partition(":")
            if not stage or (category and category not in categories):
                raise ConfigError(
                    f"fusion weight {key!r}: a key is 'STAGE' or 'STAGE:CATEGORY' with a policy "
                    f"category ({', '.join(sorted(categories))})")
        known = categories | {"*"}
        unknown = sorted(set(self.calibration) - known)
        if unknown:
            raise ConfigError(
                f"fusion calibration names unknown categories {unknown}; allowed: "
                + ", ".join(sorted(known))
            )
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        object.__setattr__(self, "calibration", MappingProxyType(dict(self.calibration)))

    def weight(self, stage: str, category: str) -> float:
        """The reliability weight ``w_s,c``: the key ``"stage:category"`` if given, else
        ``"stage"``, else ``default_weight``."""
        return self.weights.get(f"{stage}:{category}",
                                self.weights.get(stage, self.default_weight))

    def raw(self, stage_scores: Mapping[str, Mapping[str, float]],
            framed: frozenset[str] = frozenset(),
            exempt: Collection[str] = FRAME_EXEMPT,
            unframed: Mapping[str, Mapping[str, float]] | None = None,
            framed_scores: Mapping[str, float] | None = None,
            minor_cue: bool | None = None,
            unread: Collection[str] = (),
            read: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
        """Steps 1-2: the amplified noisy-OR ``q_c'`` per category scored by any stage;
        ``framed``: the categories named only inside a protective frame; ``exempt``: the stages
        whose evidence for them is not capped (the pipeline passes those that read frames);
        ``unframed``: per stage, its scores for the prompt with the frames cut out, which are
        not capped (a stage or category absent from ``stage_scores`` is ignored);
        ``framed_scores``: what the framed topic terms would have scored, which bound the
        minors gate like any sexual evidence; ``minor_cue``: whether the exempt stages found a
        word that may describe a minor (``False`` caps the others' ``sexual_minors`` evidence
        at ``minor_cue_cap``; ``None`` caps nothing); ``unread``: the stages that do not read
        the prompt's language, whose every score is capped at ``language_cap``, except for
        their scores on the prompt's English segments, ``read`` (module docstring)."""
        rest: dict[str, float] = {}
        minors_lex = 1.0
        minors_other = 1.0
        for stage, scores in stage_scores.items():
            capped = stage not in exempt
            cut = (unframed or {}).get(stage, {})
            for cat, p in scores.items():
                if stage in unread:
                    p = max(min(p, self.language_cap), (read or {}).get(stage, {}).get(cat, 0.0))
                if capped and cat in framed:
                    p = max(min(p, self.frame_cap), cut.get(cat, 0.0))
                if capped and cat == _MINORS and minor_cue is False and p < self.minor_cue_pass:
                    p = min(p, self.minor_cue_cap)
                w = self.weight(stage, cat)
                rest[cat] = rest.get(cat, 1.0) * (1.0 - w * p)
                if cat == _MINORS:
                    if stage == "lexicon":
                        minors_lex *= 1.0 - w * p
                    else:
                        minors_other *= 1.0 - w * p
        g = 1.0 - rest.get(_ADV, 1.0)
        power = 1.0 + self.gamma * g if g >= self.soup_min else 1.0
        out: dict[str, float] = {}
        for cat, r in rest.items():
            q = 1.0 - r
            if power != 1.0 and cat != _ADV and q > 0.0:
                q = 1.0 - (1.0 - q) ** power
            out[cat] = min(max(q, 0.0), 1.0)
        if self.minors_gate and _MINORS in out:
            # a frame never lowers sexual_minors: the gate reads the sexual evidence before any
            # cap, and the framed sexual terms still count (the lexicon dropped them)
            named = framed_scores or {}
            whole = (self.raw(stage_scores, exempt=exempt, unread=unread, read=read)
                     if framed & set(_SEXUAL) else out)
            sexual = max(max(out.get(c, 0.0), whole.get(c, 0.0), named.get(c, 0.0))
                         for c in _SEXUAL)
            other = min(1.0 - minors_other, sexual)
            out[_MINORS] = 1.0 - minors_lex * (1.0 - other)
        return out

    def fuse(self, stage_scores: Mapping[str, Mapping[str, float]],
             framed: frozenset[str] = frozenset(),
             exempt: Collection[str] = FRAME_EXEMPT,
             unframed: Mapping[str, Mapping[str, float]] | None = None,
             framed_scores: Mapping[str, float] | None = None,
             minor_cue: bool | None = None,
             unread: Collection[str] = (),
             read: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
        """Score per category in ``[0, 1]`` for every policy category (0.0 when unscored)."""
        raw = self.raw(stage_scores, framed, exempt, unframed, framed_scores, minor_cue, unread,
                       read)
        default = self.calibration.get("*", PlattMap())
        out = {}
        for c in Category:
            q = raw.get(c.value, 0.0)
            out[c.value] = self.calibration.get(c.value, default)(q)
        return out

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the format :meth:`load` reads)."""
        return {
            "weights": dict(self.weights),
            "default_weight": self.default_weight,
            "gamma": self.gamma,
            "soup_min": self.soup_min,
            "calibration": {k: {"a": m.a, "b": m.b} for k, m in self.calibration.items()},
            "minors_gate": self.minors_gate,
            "frame_cap": self.frame_cap,
            "minor_cue_cap": self.minor_cue_cap,
            "minor_cue_pass": self.minor_cue_pass,
            "language_cap": self.language_cap,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<fusion>") -> Fusion:
        """Build from :meth:`to_dict` output; a bad key is a ConfigError naming ``source``."""
        allowed = {"weights", "default_weight", "gamma", "soup_min", "calibration", "minors_gate",
                   "frame_cap", "minor_cue_cap", "minor_cue_pass", "language_cap"}
        extra = sorted(set(data) - allowed)
        if extra:
            raise ConfigError(
                f"{source}: unknown fusion keys {extra}; allowed: {', '.join(sorted(allowed))}"
            )
        try:
            cal = {
                str(k): PlattMap(float(v["a"]), float(v["b"]))
                for k, v in dict(data.get("calibration", {})).items()
            }
            weights = data.get("weights")
            return cls(
                weights=dict(DEFAULT_WEIGHTS) if weights is None
                else {str(k): float(v) for k, v in dict(weights).items()},
                minors_gate=bool(data.get("minors_gate", True)),
                default_weight=float(data.get("default_weight", 1.0)),
                gamma=float(data.get("gamma", 2.0)),
                soup_min=float(data.get("soup_min", 0.5)),
                frame_cap=_number(data.get("frame_cap", FRAME_CAP), "frame_cap"),
                minor_cue_cap=_number(data.get("minor_cue_cap", MINOR_CUE_CAP), "minor_cue_cap"),
                minor_cue_pass=_number(data.get("minor_cue_pass", MINOR_CUE_PASS),
                                       "minor_cue_pass"),
                language_cap=_number(data.get("language_cap", LANGUAGE_CAP), "language_cap"),
                calibration=cal,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise ConfigError(f"{source}: {exc}") from exc
            raise ConfigError(f"{source}: invalid fusion settings ({exc})") from exc

    @classmethod
    def load(cls, path: str | Path) -> Fusion:
        """Read a fusion JSON file (as written by :meth:`save`)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"fusion file {p} does not exist; check the path") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"fusion file {p} is not readable JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"fusion file {p} must hold a JSON object")
        return cls.from_dict(data, source=str(p))

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        from fairframe._io import atomic_write

        atomic_write(Path(path), json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")


def _number(value: Any, key: str) -> float:
    """A JSON number (not a boolean) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"fusion {key} must be a number, got {value!r}")
    return float(value)


def fit_calibration(raw_scores: Sequence[float], labels: Sequence[int], *, l2: float = 1e-3
                    ) -> PlattMap:
    """Fit a Platt map ``sigmoid(a * logit(q) + b)`` to raw fused scores and 0/1 labels.

    Raises
    ------
    ValueError
        When only one class is present (nothing to calibrate against).
    """
    z = logit(np.asarray(raw_scores, dtype=np.float64), eps=1e-4)
    model = fit_logistic(z, labels, l2=l2)
    a = model.coef[0]
    if a <= 0:
        raise ValueError("the fitted calibration is not increasing; the scores carry no signal")
    return PlattMap(a=float(a), b=float(model.intercept))

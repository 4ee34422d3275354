"""The prompt-classifier stage interface shared by every prompt check.

A *stage* looks at a batch of normalized prompts and returns, for each prompt, a probability per
policy category it scores, plus the evidence. The prompt pipeline
(:class:`~fairframe.guard.pipeline.PromptGuard`) runs the configured stages, fuses their
probabilities into one calibrated score per category (:mod:`~fairframe.guard.fusion`) and lets the
policy decide.

Implementations need not inherit anything: any object with a ``name`` and a ``scan_batch`` method
that matches :class:`PromptStage` is a stage. Stages are cheap to construct and load their models
lazily, thread-safely, on the first call.

A stage that cannot score (endpoint down, model missing) raises a
:class:`~fairframe.errors.BackendError` (or :class:`~fairframe.errors.MissingDependencyError`);
the pipeline then fails closed when the stage is marked required and otherwise records the error
and goes on without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from fairframe.guard.decision import Finding
from fairframe.guard.normalize import NormalizedPrompt
from fairframe.guard.policy import Category

__all__ = ["PromptStage", "StageResult"]


@dataclass(frozen=True)
class StageResult:
    """What one stage says about one prompt.

    Attributes
    ----------
    scores:
        Probability in ``[0, 1]`` per category id the stage scores. A category the stage does not
        score is **absent** (not 0.0): fusion treats absent as "no opinion".
    findings:
        The evidence behind the scores (spans point into the original prompt).
    framed:
        Categories the prompt names only inside a protective frame ("a workshop on preventing
        harassment", :mod:`~fairframe.guard.frames`); the fusion caps the other stages'
        evidence for them. Only the lexicon stage reports frames.
    unframed_text:
        With ``framed``: the prompt with its frames cut out. The pipeline scores it again with
        the capped stages, and their evidence from it is not capped, so that a frame excuses
        only what the frame itself says.
    framed_scores:
        What the framed topic terms would have scored, per category: the fusion's minors gate
        counts them as sexual evidence, so that a frame never lowers ``sexual_minors``.
    minor_cue:
        Whether the prompt has any word that may describe a minor (a minor marker, an age 1-17,
        a youth cue such as "girl" or "young"); ``None``: the stage does not say. When the
        stages that read the prompt's wording say ``False``, the fusion caps the other stages'
        ``sexual_minors`` evidence (:mod:`~fairframe.guard.fusion`). Only the lexicon says.
    language:
        The prompt's language code (:func:`~fairframe.guard.language.identify`); ``None``: the
        stage does not say. The fusion caps the evidence of stages that do not read it. Only
        the lexicon says (from its language files).
    english_text:
        With a ``language`` other than English: the prompt's English segments, which the
        pipeline scores again with the stages that read English only; their scores there are
        not capped. ``None``: there are none.
    """

    scores: Mapping[str, float] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    framed: frozenset[str] = frozenset()
    unframed_text: str | None = None
    framed_scores: Mapping[str, float] = field(default_factory=dict)
    minor_cue: bool | None = None
    language: str | None = None
    english_text: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", _probabilities(self.scores, "stage score"))
        object.__setattr__(self, "findings", tuple(self.findings))
        if isinstance(self.framed, str | bytes) or not isinstance(self.framed, Iterable):
            raise ValueError(f"framed must be a set of category ids, got {self.framed!r}")
        framed = frozenset(self.framed)
        known = {c.value for c in Category}
        if not all(isinstance(c, str) and c in known for c in framed):
            raise ValueError(
                f"framed must be a set of category ids, got {sorted(map(str, framed))}")
        object.__setattr__(self, "framed", framed)
        if self.unframed_text is not None and not isinstance(self.unframed_text, str):
            raise ValueError(f"unframed_text must be a string or None, got {self.unframed_text!r}")
        object.__setattr__(self, "framed_scores",
                           _probabilities(self.framed_scores, "framed score"))
        if self.minor_cue is not None and not isinstance(self.minor_cue, bool):
            raise ValueError(f"minor_cue must be True, False or None, got {self.minor_cue!r}")


def _probabilities(scores: Mapping[str, float], what: str) -> Mapping[str, float]:
    """``scores`` as a read-only map of floats, each checked to lie in ``[0, 1]``."""
    for name, score in scores.items():
        if not (isinstance(score, int | float) and 0.0 <= float(score) <= 1.0):
            raise ValueError(f"{what} of {name!r} must be in [0, 1], got {score!r}")
    return MappingProxyType({str(k): float(v) for k, v in scores.items()})


@runtime_checkable
class PromptStage(Protocol):
    """A prompt classifier: normalized prompts in, one :class:`StageResult` per prompt out.

    Attributes
    ----------
    name:
        The stage id used in findings, latencies and fusion weights (``"lexicon"``,
        ``"embedding"``, ``"gibberish"``, ``"llm_judge"``, ``"hf_classifier"``).

    Two optional attributes change how the pipeline fuses a stage: ``reads_frames = True`` (it
    reads protective frames itself, so the fusion never caps it for them) and ``languages``, a
    set of language codes (it reads only those, so on a prompt in another language the fusion
    caps it, except on the prompt's English segments; absent or ``None``: any language).
    """

    name: str

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        """Score every prompt; the result has the same length and order as ``prompts``."""
        ...

"""The guard for text-to-image serving: policy, prompt stages, fusion, decisions and rewriters.

Not imported by ``import fairframe``; importing it loads no model library (torch, transformers,
sqlalchemy and fastapi load on first use)::

    from fairframe.guard import PromptGuard, load_guard_config

    guard = PromptGuard.default()                   # lexicon + embedding + gibberish
    decision = guard.check("a photo of a n.a.k.e.d person")
    decision.action          # Action.REWRITE (nudity, default policy)
    decision.to_json()       # {action, categories, findings, prompt_in, prompt_out, ...}

Modules: :mod:`~fairframe.guard.policy` (categories, thresholds, actions, the minors rule),
:mod:`~fairframe.guard.decision` (``Action``, ``Decision``, ``decide_action``),
:mod:`~fairframe.guard.normalize` (adversarial and diffusion-syntax normalizer with offset map),
:mod:`~fairframe.guard.stage` (the ``PromptStage`` protocol), the stages
:mod:`~fairframe.guard.lexicon`, :mod:`~fairframe.guard.embedding`,
:mod:`~fairframe.guard.gibberish`, :mod:`~fairframe.guard.hf_classifier` and
:mod:`~fairframe.guard.llm_judge`; :mod:`~fairframe.guard.fusion` and
:mod:`~fairframe.guard.calibration`; :mod:`~fairframe.guard.pipeline` (``PromptGuard``),
:mod:`~fairframe.guard.config` (the guard config file), :mod:`~fairframe.guard.scan` (files),
:mod:`~fairframe.guard.rewriters` and :mod:`~fairframe.guard.enforcement` (keys, rate limits,
strikes, review, incidents, hash-chained log; import it explicitly).
"""

from __future__ import annotations

from fairframe.guard.config import GuardConfig, load_guard_config
from fairframe.guard.decision import (
    Action,
    Decision,
    Evidence,
    Finding,
    decide_action,
    most_severe,
    triggered_actions,
)
from fairframe.guard.embedding import EmbeddingClassifier, Head, load_exemplars, train_head
from fairframe.guard.fusion import DEFAULT_WEIGHTS, Fusion, PlattMap, fit_calibration
from fairframe.guard.gibberish import GibberishDetector, GibberishModel, default_gibberish_model
from fairframe.guard.hf_classifier import HFTextClassifier
from fairframe.guard.lexicon import Lexicon, LexiconResult, Term, default_lexicon
from fairframe.guard.llm_judge import JudgeVerdict, LLMJudge
from fairframe.guard.normalize import (
    ExtraNetwork,
    NormalizedPrompt,
    PromptSyntax,
    Scheduled,
    Weighted,
    normalize,
)
from fairframe.guard.pipeline import GuardUnavailableError, PromptGuard
from fairframe.guard.policy import (
    CATEGORY_DESCRIPTIONS,
    MINORS_MAX_THRESHOLD,
    Category,
    CategoryRule,
    Policy,
    default_policy,
    load_policy,
    parse_policy,
)
from fairframe.guard.scan import PromptRow, ScanSummary, read_prompts, scan_file
from fairframe.guard.stage import PromptStage, StageResult

__all__ = [
    "CATEGORY_DESCRIPTIONS",
    "DEFAULT_WEIGHTS",
    "MINORS_MAX_THRESHOLD",
    "Action",
    "Category",
    "CategoryRule",
    "Decision",
    "EmbeddingClassifier",
    "Evidence",
    "ExtraNetwork",
    "Finding",
    "Fusion",
    "GibberishDetector",
    "GibberishModel",
    "GuardConfig",
    "GuardUnavailableError",
    "HFTextClassifier",
    "Head",
    "JudgeVerdict",
    "LLMJudge",
    "Lexicon",
    "LexiconResult",
    "NormalizedPrompt",
    "PlattMap",
    "Policy",
    "PromptGuard",
    "PromptRow",
    "PromptStage",
    "PromptSyntax",
    "ScanSummary",
    "Scheduled",
    "StageResult",
    "Term",
    "Weighted",
    "decide_action",
    "default_gibberish_model",
    "default_lexicon",
    "default_policy",
    "fit_calibration",
    "load_exemplars",
    "load_guard_config",
    "load_policy",
    "most_severe",
    "normalize",
    "parse_policy",
    "read_prompts",
    "scan_file",
    "train_head",
    "triggered_actions",
]

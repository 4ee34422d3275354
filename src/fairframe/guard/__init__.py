"""Guard for text-to-image serving: policy, decisions, prompt normalizer and lexicon.

Not imported by ``import fairframe``; import it explicitly::

    from fairframe.guard import default_lexicon, default_policy

    decision = default_lexicon().check("a photo of a n.a.k.e.d person", default_policy())
    decision.action          # Action.REWRITE (nudity, default policy)
    decision.to_json()       # {action, categories, findings, prompt_in, prompt_out, ...}

Modules: :mod:`~fairframe.guard.policy` (categories, thresholds, actions, the minors rule),
:mod:`~fairframe.guard.decision` (``Action``, ``Decision``, ``decide_action``),
:mod:`~fairframe.guard.normalize` (adversarial and diffusion-syntax normalizer with offset map),
:mod:`~fairframe.guard.lexicon` (per-category term matching with an allow-list).
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
from fairframe.guard.fusion import Fusion, PlattMap, fit_calibration
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
    "MINORS_MAX_THRESHOLD",
    "Action",
    "Category",
    "CategoryRule",
    "Decision",
    "Evidence",
    "ExtraNetwork",
    "Finding",
    "Fusion",
    "GibberishDetector",
    "GibberishModel",
    "GuardConfig",
    "GuardUnavailableError",
    "HFTextClassifier",
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
    "load_guard_config",
    "load_policy",
    "most_severe",
    "normalize",
    "parse_policy",
    "read_prompts",
    "scan_file",
    "triggered_actions",
]

"""Prompt rewriters: what the guard does to a prompt it lets through, before generating.

::

    from fairframe.guard import default_lexicon
    from fairframe.guard.rewriters import (
        Anonymizer, DiversityAugmenter, ForcedNegatives, apply_rewriters,
    )

    prompt = "a surgeon with a bloody scalpel, by my neighbour John Smith"
    decision = default_lexicon().check(prompt)          # violence 0.9 -> rewrite
    result = apply_rewriters(
        prompt, decision, [Anonymizer(), DiversityAugmenter(), ForcedNegatives()]
    )
    result.prompt           # "a medium-skinned male surgeon with a bloody scalpel, by a person"
    result.negative_prompt  # "blood, gore, wound, corpse, dismemberment, violence"
    result.edits            # every change, its reason, and its span in the original prompt

The attributes the diversity augmenter inserts depend on what it served before (they are
balanced toward a target); the ones above are those of a fresh augmenter.

Modules: :mod:`~fairframe.guard.rewriters.base` (``Edit``, ``RewriteResult``, the ``Rewriter``
protocol, ``apply_rewriters``), :mod:`~fairframe.guard.rewriters.anonymize` (personal data),
:mod:`~fairframe.guard.rewriters.diversity` (balanced demographic attributes),
:mod:`~fairframe.guard.rewriters.negatives` (per-category negative prompts),
:mod:`~fairframe.guard.rewriters.llm_rewrite` (a chat model rewrites risky prompts).
"""

from __future__ import annotations

from fairframe.guard.rewriters.anonymize import (
    DEFAULT_REPLACEMENTS,
    KEEP_NAMES,
    Anonymizer,
    PIIKind,
    PIIMatch,
    detect,
)
from fairframe.guard.rewriters.base import (
    Edit,
    EditTarget,
    RewriteContext,
    Rewriter,
    RewriteResult,
    apply_rewriters,
    merge_negative_prompts,
)
from fairframe.guard.rewriters.diversity import (
    AGE,
    BUILTIN_ATTRIBUTES,
    ETHNICITY,
    GENDER,
    SKIN_TONE,
    AttributeSpec,
    BalanceRule,
    BalanceState,
    DiversityAugmenter,
    InMemoryBalanceState,
    balanced_choice,
)
from fairframe.guard.rewriters.llm_rewrite import (
    DEFAULT_SYSTEM_PROMPT,
    LLMRewriter,
    PromptCheck,
    blocklist_check,
    guard_check,
)
from fairframe.guard.rewriters.negatives import (
    DEFAULT_NEGATIVES,
    MINOR_NEGATIVES,
    SAFE_DEFAULT_NEGATIVES,
    ForcedNegatives,
)

__all__ = [
    "AGE",
    "BUILTIN_ATTRIBUTES",
    "DEFAULT_NEGATIVES",
    "DEFAULT_REPLACEMENTS",
    "DEFAULT_SYSTEM_PROMPT",
    "ETHNICITY",
    "GENDER",
    "KEEP_NAMES",
    "MINOR_NEGATIVES",
    "SAFE_DEFAULT_NEGATIVES",
    "SKIN_TONE",
    "Anonymizer",
    "AttributeSpec",
    "BalanceRule",
    "BalanceState",
    "DiversityAugmenter",
    "Edit",
    "EditTarget",
    "ForcedNegatives",
    "InMemoryBalanceState",
    "LLMRewriter",
    "PIIKind",
    "PIIMatch",
    "PromptCheck",
    "RewriteContext",
    "RewriteResult",
    "Rewriter",
    "apply_rewriters",
    "balanced_choice",
    "blocklist_check",
    "detect",
    "guard_check",
    "merge_negative_prompts",
]

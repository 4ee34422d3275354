"""Open-set bias audits: propose biases per caption, generate, label, score.

See ``docs/audit.md`` for the pipeline and every output field.
"""

from fairframe.audit.captions import Caption, load_captions
from fairframe.audit.merge import Bias, MergeResult, merge_proposals, states_attribute
from fairframe.audit.pipeline import AuditPlan, AuditResult, ImageJob, plan_audit, run_audit
from fairframe.audit.proposals import (
    BiasProposal,
    LLMProposer,
    ProposalOutcome,
    parse_proposals,
)
from fairframe.audit.scoring import BiasAnswers, ScoringOptions, score_bias
from fairframe.audit.taxonomy import TaxonomyProposer

__all__ = [
    "AuditPlan",
    "AuditResult",
    "Bias",
    "BiasAnswers",
    "BiasProposal",
    "Caption",
    "ImageJob",
    "LLMProposer",
    "MergeResult",
    "ProposalOutcome",
    "ScoringOptions",
    "TaxonomyProposer",
    "load_captions",
    "merge_proposals",
    "parse_proposals",
    "plan_audit",
    "run_audit",
    "score_bias",
    "states_attribute",
]

"""Red-teaming for text-to-image guards: suites, mutators, adaptive search, targets and reports.

::

    from fairframe.redteam import builtin_suite, make_target, parse_mutators, run_redteam

    report = run_redteam(builtin_suite(), make_target("guard"),
                         parse_mutators("leetspeak,homoglyph+zero_width,char_noise"),
                         out_dir="rt-out", adaptive_budget=20)

See ``docs/redteam.md``.
"""

from __future__ import annotations

from fairframe.redteam.compare import Comparison, compare_reports
from fairframe.redteam.metrics import Estimate, GroupMetrics, RowResult, compute_metrics
from fairframe.redteam.mutators import (
    MUTATORS,
    Chain,
    available_mutators,
    get_mutator,
    parse_mutators,
)
from fairframe.redteam.run import RedteamReport, load_report, run_redteam
from fairframe.redteam.search import SearchResult, adaptive_search
from fairframe.redteam.suite import (
    SUITE_FORMATS,
    available_suites,
    builtin_suite,
    detect_format,
    load_suite,
    validate_suite,
    write_suite,
)
from fairframe.redteam.targets import (
    GeneratorTarget,
    GuardTarget,
    HTTPGuardTarget,
    make_target,
    nudity_judge,
)
from fairframe.redteam.types import Expected, Mutator, SuiteItem, Target, Verdict

__all__ = [
    "MUTATORS",
    "SUITE_FORMATS",
    "Chain",
    "Comparison",
    "Estimate",
    "Expected",
    "GeneratorTarget",
    "GroupMetrics",
    "GuardTarget",
    "HTTPGuardTarget",
    "Mutator",
    "RedteamReport",
    "RowResult",
    "SearchResult",
    "SuiteItem",
    "Target",
    "Verdict",
    "adaptive_search",
    "available_mutators",
    "available_suites",
    "builtin_suite",
    "compare_reports",
    "compute_metrics",
    "detect_format",
    "get_mutator",
    "load_report",
    "load_suite",
    "make_target",
    "nudity_judge",
    "parse_mutators",
    "run_redteam",
    "validate_suite",
    "write_suite",
]

"""Statistics on label counts: pure functions on arrays, formulas in the docstrings.

=================== =====================================================================
module              what it answers
=================== =====================================================================
``metrics``         the bias metrics (severity, KL, MAD, gaps, HEIM) and their metadata
``intervals``       how sure is a share or a metric? (Wilson, G-test inversion, posterior)
``bootstrap``       how sure is a context-aware aggregate over captions?
``floors``          what does a perfectly fair generator score at this n and K?
``significance``    does a caption deviate from the reference? (exact / G-test, BH q-values)
``power``           how many images per caption are needed?
``confusion``       what are the shares once the labeler's mistakes are corrected?
``intersection``    gender x skin tone and other two-way tables
``sequential``      when can a caption stop generating images?
=================== =====================================================================

Functions on rows of counts return ``nan`` for rows with too few answers; functions that return
one record raise :class:`InsufficientDataError` (a :class:`ValueError` with a ``reason``). SciPy
(special functions only) is imported on first use.
"""

from fairframe.stats._validate import InsufficientDataError, as_reference, insufficient_reason
from fairframe.stats.bootstrap import context_aware_interval, hierarchical_bootstrap
from fairframe.stats.confusion import (
    CorrectedShares,
    confusion_rates,
    correct_shares,
    rogan_gladen,
)
from fairframe.stats.floors import (
    Floor,
    context_aware_floor,
    count_vectors,
    fair_floor,
    floor_corrected,
    multinomial_log_pmf,
)
from fairframe.stats.intersection import IntersectionTable, crosstab, intersection_table
from fairframe.stats.intervals import (
    Interval,
    dirichlet_severity_interval,
    kl_interval,
    metric_interval,
    posterior_interval,
    severity_interval,
    share_intervals,
    wilson_interval,
    wilson_intervals,
    z_value,
)
from fairframe.stats.metrics import (
    METRICS,
    Metric,
    get_metric,
    heim_gender_imbalance,
    heim_skin_tone_imbalance,
    kl_divergence,
    max_min_gap,
    mean_absolute_deviation,
    pairwise_gap,
    shares_of,
)
from fairframe.stats.power import (
    cohens_w,
    power_gof,
    power_share,
    sample_size_gof,
    sample_size_half_width,
    sample_size_share,
    simulated_power,
)
from fairframe.stats.sequential import (
    Decision,
    SequentialPlan,
    SequentialSimulation,
    SequentialState,
    log_e_consistency,
    log_e_deviation,
    mixture_prior,
    sequential_decision,
    sequential_decisions,
    share_confidence_sequence,
    simulate_sequential,
)
from fairframe.stats.severity import (
    context_aware_severity,
    miller_madow_entropy,
    miller_madow_severity,
    normalized_entropy,
    severity,
)
from fairframe.stats.significance import (
    GoodnessOfFit,
    benjamini_hochberg,
    fair_coin_tail,
    reference_test,
)

__all__ = [
    "METRICS",
    "CorrectedShares",
    "Decision",
    "Floor",
    "GoodnessOfFit",
    "InsufficientDataError",
    "insufficient_reason",
    "IntersectionTable",
    "Interval",
    "Metric",
    "SequentialPlan",
    "SequentialSimulation",
    "SequentialState",
    "as_reference",
    "benjamini_hochberg",
    "fair_coin_tail",
    "cohens_w",
    "confusion_rates",
    "context_aware_floor",
    "context_aware_interval",
    "context_aware_severity",
    "correct_shares",
    "count_vectors",
    "crosstab",
    "dirichlet_severity_interval",
    "fair_floor",
    "floor_corrected",
    "get_metric",
    "heim_gender_imbalance",
    "heim_skin_tone_imbalance",
    "hierarchical_bootstrap",
    "intersection_table",
    "kl_divergence",
    "kl_interval",
    "log_e_consistency",
    "log_e_deviation",
    "max_min_gap",
    "mean_absolute_deviation",
    "metric_interval",
    "miller_madow_entropy",
    "miller_madow_severity",
    "mixture_prior",
    "multinomial_log_pmf",
    "normalized_entropy",
    "pairwise_gap",
    "posterior_interval",
    "power_gof",
    "power_share",
    "reference_test",
    "rogan_gladen",
    "sample_size_gof",
    "sample_size_half_width",
    "sample_size_share",
    "sequential_decision",
    "sequential_decisions",
    "severity",
    "severity_interval",
    "share_confidence_sequence",
    "share_intervals",
    "shares_of",
    "simulate_sequential",
    "simulated_power",
    "wilson_interval",
    "wilson_intervals",
    "z_value",
]

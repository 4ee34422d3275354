"""Statistics on label counts: pure functions on arrays, formulas in the docstrings."""

from fairframe.stats.intervals import dirichlet_severity_interval, wilson_interval, z_value
from fairframe.stats.severity import context_aware_severity, normalized_entropy, severity

__all__ = [
    "context_aware_severity",
    "dirichlet_severity_interval",
    "normalized_entropy",
    "severity",
    "wilson_interval",
    "z_value",
]

"""Confidence intervals for class shares and for severity.

Wilson score interval (shares)
------------------------------
For :math:`x` successes in :math:`n` trials, :math:`\\hat p = x/n` and
:math:`z = \\Phi^{-1}(1-\\alpha/2)`:

.. math::

    \\frac{\\hat p + \\frac{z^2}{2n}
          \\pm z\\sqrt{\\frac{\\hat p(1-\\hat p)}{n} + \\frac{z^2}{4n^2}}}{1 + z^2/n}

Range :math:`[0, 1]`; it never leaves the unit interval and stays sensible at
:math:`\\hat p \\in \\{0, 1\\}`.

Dirichlet posterior interval (severity)
---------------------------------------
With a Jeffreys prior, the class shares have posterior
:math:`p \\mid c \\sim \\mathrm{Dirichlet}(c_1 + \\tfrac12, \\dots, c_K + \\tfrac12)`.
The interval is
the equal-tailed :math:`(\\alpha/2, 1-\\alpha/2)` quantiles of :math:`S(p)` over ``draws`` posterior
samples (seeded, so reruns give the same interval). For context-aware severity each caption's shares
are drawn independently and the statistic is :math:`1 - \\text{mean}_j \\tilde H(p_j)` per draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

from fairframe.stats.severity import normalized_entropy

__all__ = ["dirichlet_severity_interval", "wilson_interval", "z_value"]


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile, e.g. 1.959964 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial share (formula in the module docstring).

    Examples
    --------
    >>> lo, hi = wilson_interval(5, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.2366, 0.7634)
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes} of {n}")
    z = z_value(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def dirichlet_severity_interval(
    per_caption_counts: Sequence[ArrayLike] | ArrayLike,
    confidence: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
    prior: float = 0.5,
) -> tuple[float, float]:
    """Posterior interval of (context-aware) severity under a Dirichlet(c + prior) posterior.

    Pass one row of counts for context-free severity, several rows (one per caption) for
    context-aware severity. See the module docstring for the formula.
    """
    arr = np.atleast_2d(np.asarray(per_caption_counts, dtype=np.float64))
    if arr.shape[1] < 2:
        raise ValueError("need at least two classes")
    rng = np.random.default_rng(seed)
    # Gamma draws normalised per row give Dirichlet draws: shape (draws, captions, K)
    gam = rng.standard_gamma(arr + prior, size=(draws, *arr.shape))
    shares = gam / gam.sum(axis=-1, keepdims=True)
    h = normalized_entropy(shares, axis=-1)  # (draws, captions)
    stat = 1.0 - h.mean(axis=-1)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(stat, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)

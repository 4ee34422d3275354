"""Sample-size planning: how many images per caption an audit needs.

Binary share (e.g. "is the share of women 0.5?")
------------------------------------------------
Two-sided test of :math:`H_0: p = p_0` against :math:`p_1 = p_0 + \\delta`, level :math:`\\alpha`,
power :math:`1 - \\beta`.

* ``method="normal"`` (default): the usual normal approximation

  .. math::

      n = \\left\\lceil \\left(\\frac{z_{1-\\alpha/2}\\sqrt{p_0(1-p_0)}
          + z_{1-\\beta}\\sqrt{p_1(1-p_1)}}{\\delta}\\right)^2 \\right\\rceil,

  power :math:`\\Phi\\big((|\\delta|\\sqrt n - z_{1-\\alpha/2}\\sigma_0)/\\sigma_1\\big)` plus the
  (negligible) opposite tail, :math:`\\sigma_i = \\sqrt{p_i(1-p_i)}`. It reproduces the planning
  table of the research note: :math:`\\delta` = 0.05 / 0.10 / 0.15 / 0.20 → 783 / 194 / 85 / 47
  images at :math:`\\alpha = 0.05`, power 0.8.
* ``method="exact"``: the power of the exact two-sided binomial test that
  :func:`fairframe.stats.significance.reference_test` runs (outcomes no more likely than the
  observed one). Because counts are discrete its power is a saw-tooth in :math:`n`; the planner
  returns the smallest :math:`n` whose power reaches the target (a slightly larger :math:`n` can
  dip just below it). Its actual level is below :math:`\\alpha`, so it needs a few more images
  than the normal approximation (199 for :math:`\\delta = 0.1`).

K classes (goodness of fit)
---------------------------
Effect size Cohen's :math:`w = \\sqrt{\\sum_k (p_k - q_k)^2 / q_k}`; the chi-square test statistic
is approximately noncentral :math:`\\chi'^2_{K-1}(\\lambda)` with :math:`\\lambda = n w^2`, so

.. math::

    \\text{power}(n) = P\\left(\\chi'^2_{K-1}(n w^2) > \\chi^2_{K-1,\\,1-\\alpha}\\right),

and :math:`n` is the smallest integer reaching the target: :math:`w = 0.3` → 88 / 122 / 152 / 174
images for :math:`K` = 2 / 4 / 7 / 10 (0.2 → 197 / 273 / 341 / 392). The noncentral law is a
local approximation: at the planned :math:`n` the real power of the Pearson and G tests depends on
the *direction* of the deviation, not only on :math:`w` — measured 0.74–0.87 for a target of 0.8
(an excess in one class is harder to detect than a deficit of the same :math:`w`; two classes:
exactly 0.80). For a specific alternative, :func:`simulated_power` gives the power of the actual
test; ``tests/stats/test_power.py`` checks both against simulation.

Precision
---------
:func:`sample_size_half_width`: the smallest :math:`n` whose Wilson interval at share :math:`p`
has half-width at most the target (±0.10 at :math:`p = 0.5` needs 93 images).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.stats import _special as sp
from fairframe.stats._validate import as_reference, check_confidence, scalar_or_array

__all__ = [
    "cohens_w",
    "power_gof",
    "power_share",
    "sample_size_gof",
    "sample_size_half_width",
    "sample_size_share",
    "simulated_power",
]

PowerMethod = Literal["normal", "exact"]


def _check(alpha: float, power: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if power is not None and not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")


def _alternative(delta: float, p0: float) -> float:
    if not 0.0 < p0 < 1.0:
        raise ValueError(f"p0 must be in (0, 1), got {p0}")
    p1 = p0 + delta
    if delta == 0 or not 0.0 <= p1 <= 1.0:
        raise ValueError(f"need delta != 0 and 0 <= p0 + delta <= 1, got p0={p0}, delta={delta}")
    return p1


def _exact_binomial_power(n: int, p0: float, p1: float, alpha: float) -> float:
    x = np.arange(n + 1, dtype=np.float64)
    lognc = sp.gammaln(n + 1.0) - sp.gammaln(x + 1.0) - sp.gammaln(n - x + 1.0)
    pmf0 = np.exp(lognc + x * math.log(p0) + (n - x) * math.log1p(-p0))
    with np.errstate(divide="ignore"):
        pmf1 = np.exp(lognc + x * np.log(p1) + (n - x) * np.log1p(-p1)) if 0 < p1 < 1 else (
            (x == (n if p1 == 1 else 0)).astype(np.float64))
    order = np.argsort(pmf0, kind="stable")
    sorted0 = pmf0[order]
    cum = np.cumsum(sorted0)
    # p-value of x = total probability of outcomes with pmf0 <= pmf0(x) (1e-7 relative ties)
    idx = np.searchsorted(sorted0, pmf0 * (1 + 1e-7), side="right")
    pval = cum[idx - 1]
    return float(pmf1[pval <= alpha].sum())


def power_share(
    n: int, delta: float, p0: float = 0.5, alpha: float = 0.05, method: PowerMethod = "normal"
) -> float:
    """Power of the two-sided test of :math:`p = p_0` when the true share is :math:`p_0 + \\delta`.

    Examples
    --------
    >>> round(power_share(194, 0.10), 3)
    0.8
    >>> round(power_share(194, 0.10, method="exact"), 3)
    0.764
    """
    _check(alpha)
    p1 = _alternative(delta, p0)
    if n < 1:
        raise ValueError("n must be positive")
    if method == "exact":
        return _exact_binomial_power(int(n), p0, p1, alpha)
    if method != "normal":
        raise ValueError(f"unknown method {method!r}; use 'normal' or 'exact'")
    z = float(sp.norm_ppf(1.0 - alpha / 2.0))
    s0 = math.sqrt(p0 * (1 - p0))
    s1 = math.sqrt(p1 * (1 - p1))
    if s1 == 0:
        return 1.0
    d = abs(delta) * math.sqrt(n)
    return float(sp.norm_cdf((d - z * s0) / s1) + sp.norm_cdf((-d - z * s0) / s1))


def sample_size_share(
    delta: float,
    p0: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    method: PowerMethod = "normal",
) -> int:
    """Images needed to detect a share :math:`p_0 + \\delta` (module docstring).

    Examples
    --------
    >>> [sample_size_share(d) for d in (0.05, 0.10, 0.15, 0.20)]
    [783, 194, 85, 47]
    >>> sample_size_share(0.10, method="exact")
    199
    """
    _check(alpha, power)
    p1 = _alternative(delta, p0)
    z_a = float(sp.norm_ppf(1.0 - alpha / 2.0))
    z_b = float(sp.norm_ppf(power))
    n_normal = math.ceil(
        ((z_a * math.sqrt(p0 * (1 - p0)) + z_b * math.sqrt(p1 * (1 - p1))) / delta) ** 2
    )
    if method == "normal":
        return max(1, n_normal)
    if method != "exact":
        raise ValueError(f"unknown method {method!r}; use 'normal' or 'exact'")
    start = max(1, int(0.5 * n_normal))
    for n in range(start, 20 * n_normal + 50):
        if _exact_binomial_power(n, p0, p1, alpha) >= power:
            return n
    raise ValueError("no sample size up to 20x the normal approximation reaches that power")


def cohens_w(shares: ArrayLike, reference: ArrayLike | None = None) -> Any:
    """Cohen's effect size :math:`w = \\sqrt{\\sum_k (p_k - q_k)^2/q_k}` along the last axis.

    Examples
    --------
    >>> round(float(cohens_w([0.6, 0.4])), 6)  # sqrt(0.01/0.5 * 2)
    0.2
    >>> round(float(cohens_w([0.35, 0.25, 0.25, 0.15])), 6)
    0.282843
    """
    p = np.asarray(shares, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = as_reference(reference, p.shape[-1])
    if np.any(q <= 0):
        raise ValueError("Cohen's w needs every reference share > 0")
    out: NDArray[np.float64] = np.sqrt(((p - q) ** 2 / q).sum(axis=-1))
    return scalar_or_array(out)


def power_gof(n: int, w: float, k: int, alpha: float = 0.05) -> float:
    """Power of the K-class chi-square test at effect size ``w`` with ``n`` images.

    Examples
    --------
    >>> round(power_gof(88, 0.3, 2), 3)
    0.804
    """
    _check(alpha)
    if k < 2 or w < 0 or n < 1:
        raise ValueError("need k >= 2, w >= 0 and n >= 1")
    crit = sp.chi2_isf(alpha, k - 1)
    return float(sp.ncx2_sf(crit, k - 1, n * w * w))


def sample_size_gof(w: float, k: int, alpha: float = 0.05, power: float = 0.8) -> int:
    """Images needed for the K-class chi-square test to reach ``power`` at effect size ``w``.

    Examples
    --------
    >>> [sample_size_gof(0.3, k) for k in (2, 4, 7, 10)]
    [88, 122, 152, 174]
    >>> [sample_size_gof(0.2, k) for k in (2, 4, 7, 10)]
    [197, 273, 341, 392]
    """
    _check(alpha, power)
    if w <= 0:
        raise ValueError("w must be positive")
    if k < 2:
        raise ValueError("need at least two classes")
    crit = float(sp.chi2_isf(alpha, k - 1))
    lo, hi = 0.0, 1.0
    while float(sp.ncx2_sf(crit, k - 1, hi)) < power:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(sp.ncx2_sf(crit, k - 1, mid)) < power:
            lo = mid
        else:
            hi = mid
    n = max(1, math.ceil(hi / (w * w) - 1e-9))
    while n > 1 and power_gof(n - 1, w, k, alpha) >= power:
        n -= 1
    while power_gof(n, w, k, alpha) < power:
        n += 1
    return n


def sample_size_half_width(half_width: float, p: float = 0.5, confidence: float = 0.95) -> int:
    """Smallest :math:`n` whose Wilson interval at share ``p`` has half-width <= ``half_width``.

    Examples
    --------
    >>> sample_size_half_width(0.10), sample_size_half_width(0.05)
    (93, 381)
    """
    conf = check_confidence(confidence)
    if not 0.0 < half_width < 0.5:
        raise ValueError("half_width must be in (0, 0.5)")
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must be in [0, 1]")
    z = float(sp.norm_ppf(0.5 + conf / 2.0))

    def half(n: int) -> float:
        return z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)

    lo, hi = 1, 2
    while half(hi) > half_width:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if half(mid) > half_width:
            lo = mid + 1
        else:
            hi = mid
    return lo


def simulated_power(
    shares: ArrayLike,
    n: int,
    reference: ArrayLike | None = None,
    alpha: float = 0.05,
    method: Literal["auto", "exact", "g", "pearson"] = "auto",
    reps: int = 10_000,
    seed: int = 0,
) -> float:
    """Power of :func:`~fairframe.stats.significance.reference_test` at a specific alternative.

    The share of ``reps`` seeded multinomial samples of size ``n`` from ``shares`` whose p-value
    against ``reference`` is at most ``alpha`` (Monte Carlo standard error
    :math:`\\sqrt{P(1-P)/reps}`, about 0.004 at the defaults).

    Examples
    --------
    Two classes at the planned 194 images: the exact test's power is 0.764 (see
    :func:`power_share` with ``method="exact"``):

    >>> abs(simulated_power([0.6, 0.4], 194, reps=4000, seed=1) - 0.764) < 0.02
    True
    """
    from fairframe.stats.significance import reference_test

    _check(alpha)
    p = np.asarray(shares, dtype=np.float64)
    p = p / p.sum()
    counts = np.random.default_rng(seed).multinomial(int(n), p, size=int(reps))
    pv = reference_test(counts, reference, method=method).p_value
    return float(np.mean(pv <= alpha))

"""Confidence intervals for class shares, severity, KL divergence and any other bias metric.

Every function takes counts with the classes on the last axis: one distribution ``(K,)`` or one
row per caption ``(J, K)`` (the batch case, vectorised: ``10^4`` rows take well under a second).
Results are :class:`Interval` records of arrays with the shape of the rows; a row with fewer than
``min_n`` answers gets ``nan`` (see :mod:`fairframe.stats._validate` for the insufficient-data
convention).

Which interval, and how well it covers
--------------------------------------
Coverage below is the share of 95% intervals that contained the true value, measured on
simulated generators (2,000 seeded replications per cell, so a cell's standard error is about
0.5 points); see ``tests/stats/test_coverage.py``.

**Shares** — :func:`share_intervals`. Default ``"wilson"``, the Wilson score interval of each
class share (formula below). Alternatives: ``"jeffreys"``, the equal-tailed
:math:`\\mathrm{Beta}(c_k + \\tfrac12,\\ n - c_k + \\tfrac12)` interval with the lower end 0 when
:math:`c_k = 0` and the upper end 1 when :math:`c_k = n` (Brown, Cai & DasGupta 2001), and
``"dirichlet"``, the marginal
:math:`\\mathrm{Beta}(c_k + \\tfrac12,\\ n - c_k + \\tfrac{K-1}{2})` of the Jeffreys posterior
:math:`\\mathrm{Dirichlet}(c + \\tfrac12)`. Because counts are discrete, the coverage of any of
them oscillates with :math:`p` and :math:`n`. Exact coverage of the 95%
Wilson interval (binomial sums, no simulation) for every share in [0.1, 0.9]: 93.1–97.0% at
:math:`n = 50`, 93.3–96.5% at 100, 93.9–96.2% at 200; at :math:`n = 30`, 92.1–97.4%; shares
below 0.05 with :math:`n p < 3` can fall to 92%. Jeffreys has the same
average but dips to 88% near 0 and 1.

**Severity and KL divergence** — :func:`severity_interval`, :func:`kl_interval`. The plain
Dirichlet posterior (:func:`dirichlet_severity_interval`) undercovers when the truth is near the
reference and :math:`K \\ge 4` (78% at :math:`K = 5`, :math:`n = 30`, :math:`S = 0.04`): its
lower end inherits the upward bias of the plug-in. These functions **invert the G-test**
instead. With :math:`G = 2n\\,KL(\\hat p \\| q)` (for severity :math:`q` is uniform and
:math:`G = 2n \\ln K \\cdot \\hat S`), a second-order expansion around the true :math:`p` — whose
quadratic term is exactly :math:`\\chi^2`-shaped because the Hessian of :math:`KL` is the Fisher
information — gives

.. math::

    G \\approx (\\lambda - \\mu) + \\chi'^2_{K-1}(\\mu), \\qquad
    \\lambda = 2n\\,KL(p \\| q), \\quad \\mu = n\\,\\mathrm{Var}_p[\\ln(p/q)],

a shifted noncentral chi-square. Near the reference :math:`\\mu \\approx \\lambda` and this is the
familiar :math:`\\chi'^2_{K-1}(\\lambda)`; far from it the law is close to normal with the
delta-method variance. The interval is :math:`\\{KL(p\\|q) : \\alpha/2 \\le P_p(G' \\le G) \\le
1 - \\alpha/2\\}` for :math:`p` on the path from :math:`q` through the Jeffreys-smoothed
:math:`\\tilde p = (c + \\frac12)/(n + \\frac K2)` to the vertex of the class with the largest
:math:`\\tilde p_k / q_k` (the metric grows monotonically along it), solved by bisection. The lower
end is 0 exactly when the G-test does not reject the reference at level :math:`\\alpha/2`.

For two classes every metric of the table is a convex function of :math:`p_1` with its minimum at
the reference, so the interval is the exact image of the Wilson share interval
(``"wilson-projection"``).

Measured coverage of the 95% severity interval (2,000 replications per cell, standard error about
0.5 points; ``tests/stats/test_coverage.py``): :math:`K = 3, 4, 5`, :math:`n = 30..200`, eleven
distributions with :math:`S` between 0.015 and 0.54, three seeds: every cell 92.7–96.6%, means
94.8–95.5% per :math:`K`; :math:`K = 7, 10` at
:math:`n \\ge 20`: 95–97%. Two classes (exact binomial sums over :math:`p_1 \\in [0.6, 0.95]`):
93.4–96.7% at :math:`n = 200`; 92.7–97.3% at 100 (below 93% for 0.2% of the :math:`p_1`, near
:math:`n(1-p_1) = 5`); 93.1–98.5% at 50; 92.1–98.9% at 30. KL against non-uniform references:
93.8–97.8%. **Where coverage cannot be nominal:** as the truth approaches the
reference the lower end is 0 and cannot miss, so coverage rises toward :math:`1 - \\alpha/2` =
97.5% (up to 98.5% with discrete two-class counts); at a perfectly uniform truth :math:`S = 0`
lies on the boundary and the interval is :math:`[0, u]` with probability about 97.5% for
:math:`K \\ge 3` (the G-test's acceptance at level :math:`\\alpha/2`) and about 95% for two
classes (the Wilson interval contains 1/2). With :math:`K \\ge 4`, counts that are closer to
the reference than chance allows (:math:`P(G' \\le G) < \\alpha/2` even at the reference — the
designed :math:`\\alpha/2` upper tail) have no upper solution; the interval then collapses to
``[0, estimate]``. Counts that match the reference exactly (:math:`G = 0`, an atom) use half the
:math:`G` of the nearest count vector one step away (a continuity correction). With
:math:`n \\le 10` coverage is 96–99% (conservative). A reference share of 0 is not supported by
the inversion (:func:`posterior_interval` handles it).

**Any metric** — :func:`posterior_interval` gives the equal-tailed interval of the metric over
draws from the Jeffreys posterior :math:`\\mathrm{Dir}(c + \\tfrac12)`.
:func:`metric_interval` picks the best available method per metric: the two inversions above for
severity and KL, the Wilson projection for two classes, else the posterior interval with its lower
end set to 0 when the G-test accepts the reference at level :math:`\\alpha/2`. MAD, the gaps and
the HEIM skin-tone imbalance are not differentiable at the reference, and no bootstrap or posterior
interval is consistent there: with :math:`K \\ge 3` they cover 93–97% when the metric is well away
from its reference (e.g. :math:`p = (0.7, 0.2, 0.1)`), but only 70–90% close to it at
:math:`n \\le 100`. Use severity or KL when an interval near balance matters.

Context-aware aggregates (the mean of a metric over captions) — see
:mod:`fairframe.stats.bootstrap`: the per-caption Dirichlet posterior of
:func:`dirichlet_severity_interval` covers the expected *plug-in* score, not the true one, and at
10 images per caption it misses the true mean severity most of the time.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.stats import _special as sp
from fairframe.stats._validate import as_counts, as_reference, check_confidence
from fairframe.stats.metrics import Metric, get_metric
from fairframe.stats.severity import normalized_entropy

__all__ = [
    "Interval",
    "dirichlet_severity_interval",
    "kl_interval",
    "metric_interval",
    "posterior_interval",
    "severity_interval",
    "share_intervals",
    "wilson_interval",
    "wilson_intervals",
    "z_value",
]

F64 = NDArray[np.float64]
ShareMethod = Literal["jeffreys", "dirichlet", "wilson"]


@dataclass(frozen=True)
class Interval:
    """Interval estimates for one or many rows.

    Attributes
    ----------
    estimate:
        The plug-in value (shape of the rows; ``nan`` for rows below ``min_n``).
    low, high:
        The interval ends, same shape.
    method:
        How the interval was built (e.g. ``"g-test-inversion"``), for the report.
    confidence:
        The nominal coverage, e.g. 0.95.
    """

    estimate: F64
    low: F64
    high: F64
    method: str
    confidence: float

    @property
    def half_width(self) -> F64:
        """Half the interval length, :math:`(high - low)/2`."""
        return np.asarray((self.high - self.low) / 2.0, dtype=np.float64)


def _rows(counts: ArrayLike) -> tuple[F64, tuple[int, ...]]:
    """Counts as a (J, K) array and the leading shape to restore."""
    arr = as_counts(counts)
    lead = arr.shape[:-1]
    return arr.reshape(-1, arr.shape[-1]), lead


def _mask_small(n: F64, min_n: int, *arrays: F64) -> list[F64]:
    small = n < max(int(min_n), 1)
    return [np.where(small[(...,) + (None,) * (a.ndim - 1)], np.nan, a) for a in arrays]


def _binary_projection(
    lo1: F64, hi1: F64, func: Callable[[F64], NDArray[np.floating[Any]]], zero_at: float
) -> tuple[F64, F64]:
    """Image of [lo1, hi1] under a metric convex in p_1 with its minimum (0) at ``zero_at``."""
    f_lo = np.asarray(func(np.stack([lo1, 1.0 - lo1], axis=-1)), dtype=np.float64)
    f_hi = np.asarray(func(np.stack([hi1, 1.0 - hi1], axis=-1)), dtype=np.float64)
    inside = (lo1 <= zero_at) & (zero_at <= hi1)
    low = np.where(inside, 0.0, np.minimum(f_lo, f_hi))
    high = np.maximum(f_lo, f_hi)
    return low, high


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


def wilson_intervals(
    successes: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> tuple[F64, F64]:
    """Vectorised :func:`wilson_interval`: ``(low, high)`` arrays; ``n = 0`` gives ``nan``.

    Examples
    --------
    >>> lo, hi = wilson_intervals([5, 0], [10, 10])
    >>> [round(float(v), 4) for v in lo], [round(float(v), 4) for v in hi]
    ([0.2366, 0.0], [0.7634, 0.2775])
    """
    x = np.asarray(successes, dtype=np.float64)
    nn = np.asarray(n, dtype=np.float64)
    if np.any(x < 0) or np.any(x > nn):
        raise ValueError("successes must be in [0, n]")
    z = z_value(check_confidence(confidence))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / nn
        denom = 1.0 + z * z / nn
        centre = (p + z * z / (2 * nn)) / denom
        half = z * np.sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom
    lo = np.where(x == 0, 0.0, np.maximum(0.0, centre - half))
    hi = np.where(x == nn, 1.0, np.minimum(1.0, centre + half))
    bad = nn <= 0
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def share_intervals(
    counts: ArrayLike,
    confidence: float = 0.95,
    method: ShareMethod = "wilson",
    min_n: int = 1,
) -> Interval:
    """Intervals for every class share :math:`p_k = c_k/n` (formulas in the module docstring).

    Parameters
    ----------
    counts:
        ``(K,)`` or ``(..., K)`` class counts.
    confidence:
        Nominal coverage of each interval (they are not simultaneous across classes).
    method:
        ``"wilson"`` (default), ``"jeffreys"`` or ``"dirichlet"``.
    min_n:
        Rows with fewer answers get ``nan``.

    Returns
    -------
    Interval
        Arrays of shape ``counts.shape``.

    Examples
    --------
    >>> iv = share_intervals([6, 4])  # Wilson interval of 6/10 and of 4/10
    >>> [round(float(v), 4) for v in iv.low], [round(float(v), 4) for v in iv.high]
    ([0.3127, 0.1682], [0.8318, 0.6873])
    >>> float(share_intervals([0, 5]).low[0]), float(share_intervals([0, 5]).high[1])
    (0.0, 1.0)
    """
    conf = check_confidence(confidence)
    c = as_counts(counts)
    k = c.shape[-1]
    n = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = c / n
    alpha = 1.0 - conf
    if method == "wilson":
        lo, hi = wilson_intervals(c, np.broadcast_to(n, c.shape), conf)
        name = "wilson"
    elif method in ("jeffreys", "dirichlet"):
        a = c + 0.5
        b = n - c + (0.5 if method == "jeffreys" else 0.5 * (k - 1))
        with np.errstate(invalid="ignore"):
            lo = np.where(c == 0, 0.0, sp.betaincinv(a, b, alpha / 2.0))
            hi = np.where(c == n, 1.0, sp.betaincinv(a, b, 1.0 - alpha / 2.0))
        name = "jeffreys-beta" if method == "jeffreys" else "dirichlet-marginal-beta"
    else:
        raise ValueError(
            f"unknown share interval method {method!r}; use wilson, jeffreys or dirichlet"
        )
    small = np.broadcast_to(n < max(int(min_n), 1), c.shape)
    lo, hi, est = (np.where(small, np.nan, v) for v in (lo, hi, est))
    return Interval(est, lo, hi, name, conf)


# ---------------------------------------------------------------- G-test inversion (severity, KL)


def _kl_rows(p: F64, q: F64) -> F64:
    safe = np.where(p > 0, p, 1.0)
    out: F64 = np.maximum(np.where(p > 0, p * (np.log(safe) - np.log(q)), 0.0).sum(axis=-1), 0.0)
    return out


def _var_log_ratio(p: F64, q: F64) -> F64:
    safe = np.where(p > 0, p, 1.0)
    lr = np.where(p > 0, np.log(safe) - np.log(q), 0.0)
    m = (p * lr).sum(axis=-1)
    out: F64 = np.maximum((p * lr * lr).sum(axis=-1) - m * m, 0.0)
    return out


def _g_inversion(c: F64, q: F64, confidence: float, iterations: int = 36) -> tuple[F64, F64, F64]:
    """(estimate, low, high) of KL(p||q) for (J, K) counts with K >= 3, by inverting the G-test."""
    j, k = c.shape
    n = c.sum(axis=1)
    safe_n = np.where(n > 0, n, 1.0)
    est = _kl_rows(c / safe_n[:, None], q)
    g_obs = 2.0 * n * est
    p_tilde = (c + 0.5) / (safe_n[:, None] + 0.5 * k)
    vertex = np.zeros_like(c)
    vertex[np.arange(j), np.argmax(p_tilde / q, axis=1)] = 1.0
    alpha = 1.0 - confidence
    df = float(k - 1)

    def point(tau: F64) -> F64:
        t = tau[:, None]
        first = (1.0 - t) * q + t * p_tilde
        second = (2.0 - t) * p_tilde + (t - 1.0) * vertex
        out: F64 = np.where(t <= 1.0, first, second)
        return out

    def cdf(tau: F64) -> F64:
        p = point(tau)
        lam = 2.0 * n * _kl_rows(p, q)
        mu = n * _var_log_ratio(p, q)
        return sp.ncx2_cdf(g_obs - lam + mu, df, mu)

    def solve(target: float) -> F64:
        lo = np.zeros(j)
        hi = np.full(j, 2.0)
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            above = cdf(mid) > target
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        return _kl_rows(point(0.5 * (lo + hi)), q)

    lower_is_zero = sp.chi2_cdf(g_obs, df) <= 1.0 - alpha / 2.0
    low = np.where(lower_is_zero, 0.0, solve(1.0 - alpha / 2.0))
    # Counts that match q exactly give G = 0, an atom the continuous law gives probability 0,
    # which would collapse the upper end to 0. Use half the G of the nearest count vector one
    # step further out instead (a continuity correction for that single case).
    exact_fit = g_obs <= 1e-12
    if exact_fit.any():
        step = c.copy()
        rows = np.arange(j)
        ratio = c / np.maximum(n, 1.0)[:, None] / q
        up = np.argmax(ratio, axis=1)
        ratio[rows, up] = np.inf
        step[rows, up] += 1.0
        step[rows, np.argmin(np.where(c > 0, ratio, np.inf), axis=1)] -= 1.0
        g_step = 2.0 * n * _kl_rows(np.maximum(step, 0.0) / safe_n[:, None], q)
        g_obs = np.where(exact_fit, 0.5 * g_step, g_obs)
    high = solve(alpha / 2.0)
    return est, np.minimum(low, est), np.maximum(high, est)


def kl_interval(
    counts: ArrayLike,
    reference: ArrayLike | None = None,
    confidence: float = 0.95,
    min_n: int = 1,
) -> Interval:
    """Interval for :math:`KL(p \\| q)` by inverting the G-test (module docstring).

    Parameters
    ----------
    counts:
        ``(K,)`` or ``(..., K)`` class counts.
    reference:
        Reference shares :math:`q` (uniform by default); every share must be positive.
    confidence:
        Nominal coverage.
    min_n:
        Rows with fewer answers get ``nan``.

    Examples
    --------
    >>> iv = kl_interval([30, 20, 10])  # 0.5 ln 1.5 + (1/6) ln 0.5 = 0.0872
    >>> round(float(iv.estimate), 4), iv.method
    (0.0872, 'g-test-inversion')
    >>> # G = 2 * 60 * 0.0872 = 10.46 > 7.38, the 97.5% point of chi2(2): the lower end is above 0
    >>> 0.0 < float(iv.low) < 0.0872 < float(iv.high) < 0.25
    True
    """
    conf = check_confidence(confidence)
    c, lead = _rows(counts)
    k = c.shape[1]
    q = as_reference(reference, k)
    if np.any(q <= 0):
        raise ValueError("the G-test inversion needs every reference share > 0; "
                         "use posterior_interval for references with empty classes")
    n = c.sum(axis=1)
    if k == 2:
        share = share_intervals(c, conf, "wilson")
        metric = get_metric("kl")
        est = _kl_rows(np.where(n[:, None] > 0, c / np.where(n > 0, n, 1.0)[:, None], 0.5), q)
        low, high = _binary_projection(share.low[:, 0], share.high[:, 0],
                                       lambda p: metric.func(p, q), float(q[0]))
        method = "wilson-projection"
    else:
        est, low, high = _g_inversion(c, q, conf)
        method = "g-test-inversion"
    est, low, high = _mask_small(n, min_n, est, low, high)
    return Interval(est.reshape(lead), low.reshape(lead), high.reshape(lead), method, conf)


def severity_interval(counts: ArrayLike, confidence: float = 0.95, min_n: int = 1) -> Interval:
    """Interval for OpenBias severity :math:`S = 1 - H(p)/\\ln K = KL(p\\|u)/\\ln K`.

    :func:`kl_interval` against the uniform distribution, divided by :math:`\\ln K` (module
    docstring: G-test inversion for :math:`K \\ge 3`, Jeffreys projection for two classes).

    Examples
    --------
    Two classes: the Wilson interval of 7/10 is (0.3968, 0.8922); it contains 0.5, so the lower
    end is 0, and the upper end is :math:`S(0.8922) = 1 - 0.3418/\\ln 2`:

    >>> iv = severity_interval([7, 3])
    >>> round(float(iv.estimate), 4), round(float(iv.low), 4), round(float(iv.high), 4)
    (0.1187, 0.0, 0.5068)

    Rows with no answers give ``nan``:

    >>> rows = severity_interval([[50, 30, 20], [0, 0, 0]])
    >>> bool(np.isnan(rows.low[1])), bool(0 < rows.low[0] < rows.estimate[0] < rows.high[0])
    (True, True)
    """
    c, lead = _rows(counts)
    kl = kl_interval(c, None, confidence, min_n)
    log_k = math.log(c.shape[1])
    return Interval(
        np.minimum(kl.estimate / log_k, 1.0).reshape(lead),
        np.minimum(kl.low / log_k, 1.0).reshape(lead),
        np.minimum(kl.high / log_k, 1.0).reshape(lead),
        kl.method,
        kl.confidence,
    )


# ---------------------------------------------------------------- posterior draws (any metric)


class _GammaDraws:
    """Gamma(v + prior) draws per (class, count value), each from its own seeded stream.

    Seeding by (seed, class, value) makes every row's interval a function of its own counts
    only, whatever else is in the batch. Draws are cached; the cache is bounded (~80 MB).
    """

    def __init__(self, prior: float, draws: int, seed: int, max_floats: int = 20_000_000):
        self.prior = prior
        self.draws = draws
        self.seed = seed
        self.max_entries = max(1, max_floats // draws)
        self.cache: dict[tuple[int, int], NDArray[np.float32]] = {}

    def get(self, cls: int, value: int) -> NDArray[np.float32]:
        key = (cls, value)
        got = self.cache.get(key)
        if got is None:
            if len(self.cache) >= self.max_entries:
                self.cache.clear()
            rng = np.random.default_rng((int(self.seed), cls, value))
            got = rng.standard_gamma(value + self.prior, size=self.draws, dtype=np.float32)
            self.cache[key] = got
        return got

    def rows(self, counts: NDArray[np.int64], cls: int) -> NDArray[np.float32]:
        """(rows, draws) draws for one class column of integer counts."""
        values, inverse = np.unique(counts, return_inverse=True)
        table = np.stack([self.get(cls, int(v)) for v in values.tolist()])
        out: NDArray[np.float32] = table[inverse.reshape(-1)]
        return out


def _quantile_pair(x: NDArray[np.floating[Any]], alpha: float) -> tuple[F64, F64]:
    """Linear-interpolation quantiles (alpha/2, 1 - alpha/2) along axis 1 via partial sorting."""
    d = x.shape[1]
    pos = np.array([alpha / 2.0, 1.0 - alpha / 2.0]) * (d - 1)
    base = np.floor(pos).astype(np.int64)
    kth = sorted({int(b) for b in base} | {int(min(b + 1, d - 1)) for b in base})
    part = np.partition(x, kth, axis=1)
    res = []
    for p_, b in zip(pos, base, strict=True):
        lo_v = part[:, b].astype(np.float64)
        hi_v = part[:, min(b + 1, d - 1)].astype(np.float64)
        with np.errstate(invalid="ignore"):  # inf - inf when a metric is infinite
            res.append(np.where(hi_v == lo_v, lo_v, lo_v + (p_ - b) * (hi_v - lo_v)))
    return res[0], res[1]


def posterior_interval(
    counts: ArrayLike,
    metric: str | Metric = "severity",
    reference: ArrayLike | None = None,
    confidence: float = 0.95,
    draws: int = 1000,
    seed: int = 0,
    prior: float = 0.5,
    min_n: int = 1,
) -> Interval:
    """Equal-tailed interval of ``metric(p)`` under the posterior :math:`\\mathrm{Dir}(c + a)`.

    Each row is treated on its own (one caption, or pooled counts); ``a = prior`` (0.5 =
    Jeffreys). The quantiles are linearly interpolated order statistics of ``draws`` posterior
    draws. Draws are seeded per (``seed``, class, count value), so a row's interval depends only on
    its counts, ``seed``, ``draws`` and ``prior`` — not on the other rows of the batch. Cost
    :math:`O(J \\cdot K \\cdot draws)`, single precision internally.

    Coverage: see the module docstring; for severity and KL prefer :func:`severity_interval` and
    :func:`kl_interval`. For metrics that need counts (``severity_mm``) the interval of the
    uncorrected metric is returned (both estimate the same quantity).

    Examples
    --------
    >>> iv = posterior_interval([30, 10], "mad", draws=2000)
    >>> round(float(iv.estimate), 3), 0.1 < float(iv.low) < 0.25 < float(iv.high) < 0.4
    (0.25, True)
    """
    conf = check_confidence(confidence)
    if draws < 10:
        raise ValueError("draws must be at least 10")
    m = get_metric(metric)
    if m.needs_counts:
        m = get_metric("severity")
    c, lead = _rows(counts)
    j, k = c.shape
    q = as_reference(reference, k)
    n = c.sum(axis=1)
    est = np.asarray(m(c, q), dtype=np.float64).reshape(j)
    ci = np.rint(c).astype(np.int64)
    if not np.allclose(ci, c):
        raise ValueError("posterior_interval needs integer counts")
    source = _GammaDraws(float(prior), int(draws), seed)
    low = np.full(j, np.nan)
    high = np.full(j, np.nan)
    alpha = 1.0 - conf
    chunk = max(1, 4_000_000 // (int(draws) * k))
    q32 = q.astype(np.float32)
    for start in range(0, j, chunk):
        rows = ci[start:start + chunk]  # (rows, K)
        # class-major layout: reductions over classes become fast elementwise sums
        g = np.empty((k, rows.shape[0], int(draws)), dtype=np.float32)
        for kk in range(k):
            g[kk] = source.rows(rows[:, kk], kk)
        g /= g.sum(axis=0)
        vals = m.func(g.transpose(1, 2, 0), q32)
        lo_, hi_ = _quantile_pair(vals, alpha)
        low[start:start + chunk] = lo_
        high[start:start + chunk] = hi_
    est, low, high = _mask_small(n, min_n, est, low, high)
    return Interval(est.reshape(lead), low.reshape(lead), high.reshape(lead),
                    f"dirichlet-posterior(prior={prior:g})", conf)


def metric_interval(
    counts: ArrayLike,
    metric: str | Metric = "severity",
    reference: ArrayLike | None = None,
    confidence: float = 0.95,
    method: Literal["auto", "posterior"] = "auto",
    draws: int = 1000,
    seed: int = 0,
    min_n: int = 1,
) -> Interval:
    """Interval for any metric of the table, with the best available method.

    ``method="auto"``: :func:`severity_interval` for ``severity`` and ``severity_mm``,
    :func:`kl_interval` for ``kl`` (with a positive reference), the exact image of the Wilson
    share interval for any metric with two classes, and otherwise :func:`posterior_interval` with
    the lower end set to 0 where the G-test accepts the reference at level :math:`\alpha/2`
    (module docstring). ``method="posterior"`` always uses the plain posterior draws.

    Examples
    --------
    >>> iv = metric_interval([12, 4], "heim_gender_imbalance")
    >>> iv.method, round(float(iv.estimate), 3), float(iv.low) < 0.25 < float(iv.high)
    ('wilson-projection', 0.25, True)
    """
    m = get_metric(metric)
    c, lead = _rows(counts)
    k = c.shape[1]
    q = as_reference(reference, k)
    if method == "posterior":
        return _reshape(posterior_interval(c, m, q, confidence, draws, seed, 0.5, min_n), lead)
    if method != "auto":
        raise ValueError(f"unknown method {method!r}; use 'auto' or 'posterior'")
    if m.name in ("severity", "severity_mm"):
        iv = severity_interval(c, confidence, min_n)
        if m.name == "severity_mm":
            est = np.asarray(m(c), dtype=np.float64).reshape(-1)
            (est,) = _mask_small(c.sum(axis=1), min_n, est)
            iv = Interval(est, iv.low.reshape(-1), iv.high.reshape(-1), iv.method, iv.confidence)
        return _reshape(iv, lead)
    if m.name == "kl" and np.all(q > 0):
        return kl_interval(counts, q, confidence, min_n)
    if k == 2:
        conf = check_confidence(confidence)
        share = share_intervals(c, conf, "wilson")
        est = np.asarray(m(c, q), dtype=np.float64).reshape(-1)
        zero_at = float(q[0]) if m.needs_reference else 0.5
        low, high = _binary_projection(share.low[:, 0], share.high[:, 0],
                                       lambda p: m.func(p, q), zero_at)
        est, low, high = _mask_small(c.sum(axis=1), min_n, est, low, high)
        return _reshape(Interval(est, low, high, "wilson-projection", conf), lead)
    iv = posterior_interval(c, m, q, confidence, draws, seed, 0.5, min_n)
    zero_ref = q if m.needs_reference else np.full(k, 1.0 / k)
    n = c.sum(axis=1)
    g = 2.0 * n * np.asarray(get_metric("kl").func(c / np.where(n > 0, n, 1.0)[:, None],
                                                   zero_ref), dtype=np.float64)
    consistent = sp.chi2_sf(g, k - 1) >= (1.0 - iv.confidence) / 2.0
    low = np.where(consistent & ~np.isnan(iv.low), 0.0, iv.low)
    return _reshape(Interval(iv.estimate, low, iv.high, iv.method + "+g-test-zero",
                             iv.confidence), lead)


def _reshape(iv: Interval, lead: tuple[int, ...]) -> Interval:
    return Interval(iv.estimate.reshape(lead), iv.low.reshape(lead), iv.high.reshape(lead),
                    iv.method, iv.confidence)

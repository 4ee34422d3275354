"""The fair-generator floor of a metric, and the floor-corrected score.

A generator that draws classes exactly from the reference distribution :math:`q` (uniform unless
given) still scores above 0 on every metric when only :math:`n` images are labelled, because the
observed shares :math:`\\hat p = c/n` scatter around :math:`q`. The **floor** is that expected
score,

.. math::

    F(m, n, q) = E\\left[m(\\hat p)\\right], \\qquad c \\sim \\mathrm{Multinomial}(n, q),

for example 0.077 / 0.100 / 0.145 for severity with :math:`K` = 2 / 3 / 5 classes at 10 images,
0.137 for HEIM's gender imbalance at 8 images (of a maximum of 0.5), and about :math:`(K-1)/(2n)`
for KL. It depends on :math:`K`, so raw scores of biases with different numbers of classes are not
comparable, and on :math:`n`, so 8-image and 200-image audits are not either.

Computation: **exact** enumeration of the :math:`\\binom{n+K-1}{K-1}` count vectors when there are
at most ``exact_limit`` of them (probabilities from the multinomial pmf in log space), otherwise a
seeded **Monte Carlo** mean over ``draws`` multinomial samples (its standard error is returned).
For a context-aware score (a per-caption metric averaged over captions with answer counts
:math:`n_1..n_J`) the floor is the mean of the per-caption floors,
:math:`\\frac1J \\sum_j F(m, n_j, q)`, because expectation is linear.

Floor-corrected score
---------------------
.. math::

    m_{fc} = \\frac{m - F}{m_{max} - F}

where :math:`m_{max}` is the metric's largest possible value (one class only; 1 for severity).
It is 0 in expectation for a fair generator at any :math:`n` and :math:`K`, and 1 for a generator
that always produces the same class, so corrected scores are comparable across audits and biases.
It is deliberately **not clipped** at 0: clipping would move a fair generator's average back above
0 (by an amount that again depends on :math:`n` and :math:`K`), defeating the purpose. A negative
value means "at least as balanced as chance variation at this sample size"; reports may display
it as 0 but should keep the number. The map is linear and increasing, so interval ends map the
same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.stats import _special as sp
from fairframe.stats._validate import as_reference, scalar_or_array
from fairframe.stats.metrics import Metric, get_metric

__all__ = [
    "Floor",
    "context_aware_floor",
    "count_vectors",
    "fair_floor",
    "floor_corrected",
    "multinomial_log_pmf",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Floor:
    """A fair-generator floor.

    Attributes
    ----------
    value:
        The expected metric of a generator that follows the reference exactly.
    method:
        ``"exact"``, ``"monte-carlo"`` or, for context-aware floors, ``"mean-of-caption-floors"``
        (with the methods of the parts in brackets).
    standard_error:
        Monte Carlo standard error (0 when exact).
    n:
        The number of answers (context-free) or the tuple of per-caption numbers.
    k:
        The number of classes.
    """

    value: float
    method: str
    standard_error: float
    n: int | tuple[int, ...]
    k: int


def _n_vectors(n: int, k: int) -> int:
    from math import comb

    return comb(n + k - 1, k - 1)


@lru_cache(maxsize=64)
def _count_vectors_cached(n: int, k: int) -> NDArray[np.int64]:
    # stars and bars: k - 1 bar positions among n + k - 1 slots; reversed lexicographic order
    # puts the first part in descending order, then the second, and so on
    if k == 1:
        out = np.array([[n]], dtype=np.int64)
    else:
        slots = n + k - 1
        total = _n_vectors(n, k)
        bars = np.fromiter(
            itertools.chain.from_iterable(itertools.combinations(range(slots), k - 1)),
            dtype=np.int64, count=total * (k - 1),
        ).reshape(total, k - 1)[::-1]
        edges = np.concatenate(
            [np.full((total, 1), -1, dtype=np.int64), bars,
             np.full((total, 1), slots, dtype=np.int64)], axis=1,
        )
        out = np.ascontiguousarray(np.diff(edges, axis=1) - 1)
    out.setflags(write=False)
    return out


def count_vectors(n: int, k: int) -> NDArray[np.int64]:
    """Every vector of ``k`` non-negative integers summing to ``n`` (one per row).

    There are :math:`\\binom{n+k-1}{k-1}` of them; the result is cached and read-only.

    Examples
    --------
    >>> count_vectors(2, 2).tolist()
    [[2, 0], [1, 1], [0, 2]]
    >>> count_vectors(10, 3).shape  # C(12, 2)
    (66, 3)
    """
    if n < 0 or k < 1:
        raise ValueError("need n >= 0 and k >= 1")
    return _count_vectors_cached(int(n), int(k))


def multinomial_log_pmf(counts: ArrayLike, reference: ArrayLike) -> Any:
    """:math:`\\ln P(c)` under :math:`\\mathrm{Multinomial}(n, q)` along the last axis.

    :math:`\\ln n! - \\sum_k \\ln c_k! + \\sum_k c_k \\ln q_k`, with :math:`0 \\ln 0 = 0` (a class
    with :math:`q_k = 0` observed gives :math:`-\\infty`).

    Examples
    --------
    >>> round(float(np.exp(multinomial_log_pmf([1, 1], [0.5, 0.5]))), 12)
    0.5
    """
    c = np.asarray(counts, dtype=np.float64)
    q = np.asarray(reference, dtype=np.float64)
    n = c.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logq = np.log(q)  # -inf where q = 0
        terms = np.where(c > 0, c * logq, 0.0)
    out = sp.gammaln(n + 1.0) - sp.gammaln(c + 1.0).sum(axis=-1) + terms.sum(axis=-1)
    return scalar_or_array(np.asarray(out, dtype=np.float64))


def _metric_values(m: Metric, counts: F64, q: F64) -> F64:
    if m.needs_counts:
        return np.asarray(m.func(counts, q), dtype=np.float64)
    n = counts.sum(axis=-1, keepdims=True)
    return np.asarray(m.func(counts / n, q), dtype=np.float64)


def fair_floor(
    metric: str | Metric,
    n: int,
    reference: ArrayLike | None = None,
    k: int | None = None,
    *,
    exact_limit: int = 200_000,
    draws: int = 200_000,
    seed: int = 0,
) -> Floor:
    """Expected ``metric`` of a generator that follows ``reference`` exactly, at ``n`` answers.

    Parameters
    ----------
    metric:
        Metric name or :class:`~fairframe.stats.metrics.Metric`.
    n:
        Number of classified answers (positive).
    reference:
        Reference shares; uniform over ``k`` classes when omitted.
    k:
        Number of classes (needed when ``reference`` is omitted).
    exact_limit:
        Enumerate exactly when there are at most this many count vectors.
    draws, seed:
        Monte Carlo sample size and seed otherwise.

    Examples
    --------
    Two classes, two images: counts (2,0), (1,1), (0,2) with probabilities 1/4, 1/2, 1/4 have
    severity 1, 0, 1, so the floor is 1/2:

    >>> fair_floor("severity", 2, k=2).value
    0.5
    >>> round(fair_floor("severity", 10, k=2).value, 4)  # OpenBias at 10 images per caption
    0.0765
    >>> round(fair_floor("heim_gender_imbalance", 8, k=2).value, 3)  # HEIM at 8 images
    0.137
    """
    if reference is None and k is None:
        raise ValueError("pass the number of classes k or a reference distribution")
    kk = int(k) if k is not None else int(np.asarray(reference).shape[0])
    q = as_reference(reference, kk)
    m = get_metric(metric)
    n = int(n)
    if n <= 0:
        raise ValueError(f"the floor needs n > 0 answers, got {n}")
    if _n_vectors(n, kk) <= exact_limit:
        vecs = count_vectors(n, kk).astype(np.float64)
        logp = np.asarray(multinomial_log_pmf(vecs, q), dtype=np.float64)
        prob = np.exp(logp)
        vals = _metric_values(m, vecs, q)
        keep = prob > 0
        value = float(np.sum(prob[keep] * vals[keep]) / np.sum(prob[keep]))
        return Floor(value, "exact", 0.0, n, kk)
    rng = np.random.default_rng(seed)
    total = 0.0
    total_sq = 0.0
    done = 0
    chunk = max(1, 4_000_000 // kk)
    while done < draws:
        b = min(chunk, draws - done)
        sample = rng.multinomial(n, q, size=b).astype(np.float64)
        vals = _metric_values(m, sample, q)
        total += float(vals.sum())
        total_sq += float((vals * vals).sum())
        done += b
    mean = total / draws
    var = max(total_sq / draws - mean * mean, 0.0)
    return Floor(mean, "monte-carlo", float(np.sqrt(var / draws)), n, kk)


def context_aware_floor(
    metric: str | Metric,
    caption_ns: Sequence[int] | ArrayLike,
    reference: ArrayLike | None = None,
    k: int | None = None,
    *,
    exact_limit: int = 200_000,
    draws: int = 200_000,
    seed: int = 0,
) -> Floor:
    """Floor of a context-aware score: the mean of :func:`fair_floor` over the captions' ``n``.

    Pass the answer counts of the captions that enter the score (those with at least ``min_n``).

    Examples
    --------
    >>> f = context_aware_floor("severity", [2, 2, 10], k=2)
    >>> round(f.value, 4), f.method  # (0.5 + 0.5 + 0.0765) / 3
    (0.3588, 'mean-of-caption-floors[exact]')
    """
    ns = np.asarray(caption_ns, dtype=np.int64).reshape(-1)
    if ns.size == 0:
        raise ValueError("no captions: the context-aware floor needs at least one")
    uniq, counts = np.unique(ns, return_counts=True)
    parts = [fair_floor(metric, int(u), reference, k, exact_limit=exact_limit, draws=draws,
                        seed=seed) for u in uniq]
    weights = counts / counts.sum()
    value = float(sum(w * f.value for w, f in zip(weights, parts, strict=True)))
    se = float(np.sqrt(sum((w * f.standard_error) ** 2 for w, f in zip(weights, parts,
                                                                       strict=True))))
    methods = "+".join(sorted({f.method for f in parts}))
    return Floor(value, f"mean-of-caption-floors[{methods}]", se, tuple(int(v) for v in ns),
                 parts[0].k)


def floor_corrected(value: ArrayLike, floor: float | Floor, maximum: float) -> Any:
    """Floor-corrected score :math:`(m - F)/(m_{max} - F)` (not clipped; module docstring).

    Works on scalars and arrays (apply it to interval ends too: the map is increasing).

    Examples
    --------
    >>> round(float(floor_corrected(0.076, 0.076, 1.0)), 12)  # a fair generator's typical score
    0.0
    >>> round(float(floor_corrected(0.5, 0.1, 1.0)), 6)
    0.444444
    >>> round(float(floor_corrected(0.05, 0.1, 1.0)), 6)  # below the floor: negative, kept
    -0.055556
    """
    f = floor.value if isinstance(floor, Floor) else float(floor)
    if not maximum > f:
        raise ValueError(f"maximum ({maximum}) must exceed the floor ({f})")
    v = np.asarray(value, dtype=np.float64)
    return scalar_or_array((v - f) / (maximum - f))

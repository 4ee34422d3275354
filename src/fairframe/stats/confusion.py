"""Correct class shares for labeler errors, with intervals that carry both sources of noise.

A labeler (VQA model, CLIP, a classifier) confuses classes. On a small validated set where the
true class is known, count :math:`V_{ij}` = images of true class :math:`i` labelled :math:`j`
(rows: true classes; columns: predicted outcomes, possibly with an extra ``unknown`` column). The
misclassification rates are :math:`M_{ij} = V_{ij} / \\sum_{j'} V_{ij'}`. If the generator's true
shares are :math:`\\pi`, the labels of the audit follow

.. math::

    r_j = \\sum_i \\pi_i M_{ij}, \\qquad y \\sim \\mathrm{Multinomial}(n, r),

where :math:`y` are the audit's label counts. The corrected shares are the maximum-likelihood
:math:`\\hat\\pi` on the simplex, :math:`\\arg\\max_\\pi \\sum_j y_j \\ln (M^\\top \\pi)_j`,
computed by EM (:math:`\\pi_i \\leftarrow \\sum_j \\frac{y_j}{n}
\\frac{\\pi_i M_{ij}}{(M^\\top\\pi)_j}`, Saerens et al. 2002) accelerated with SQUAREM
(Varadhan & Roland 2008). When :math:`M` is square and :math:`M^{\\top -1} (y/n)` lies in the
simplex this is exactly that solution (the matrix-inversion estimator); with two classes it is the
**Rogan–Gladen** estimator :math:`\\hat\\pi_1 = (r_1 + sp - 1)/(se + sp - 1)` clipped to [0, 1]
(:func:`rogan_gladen`).

Intervals
---------
Both the audit counts and the validation counts are samples. Each of ``draws`` replicates draws
:math:`r^* \\sim \\mathrm{Dirichlet}(y + a)` and every row :math:`M^*_{i\\cdot} \\sim
\\mathrm{Dirichlet}(V_{i\\cdot} + a)` (Jeffreys, :math:`a = 1/2`), solves for :math:`\\pi^*`, and
the interval is the equal-tailed percentile interval of :math:`\\pi^*_k`. Measured coverage of the
95% intervals (``tests/stats/test_confusion.py``): 94–96% for interior shares with 100 validated
images per class and 500 audit images. Near 0 or 1 the constrained estimate piles up on the
boundary and the percentile interval is conservative on that side.

Assumptions: the labeler's error rates are the same on the audit images as on the validation set
(same generator family, same prompts style); validation images of each true class are a random
sample of that class. A labeler no better than chance (:math:`M` singular) cannot be corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.stats._validate import as_counts, check_confidence, require_n, scalar_or_array

__all__ = ["CorrectedShares", "confusion_rates", "correct_shares", "rogan_gladen"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class CorrectedShares:
    """Labeler-corrected class shares.

    Attributes
    ----------
    shares:
        Corrected shares :math:`\\hat\\pi` (length ``K``, on the simplex).
    low, high:
        Percentile interval ends per class.
    observed_shares:
        The uncorrected label shares :math:`y/n` (length of the predicted outcomes).
    n:
        Audit answers used.
    validation_n:
        Validated images per true class.
    confidence:
        Nominal coverage.
    method:
        Description of the estimator and interval.
    """

    shares: F64
    low: F64
    high: F64
    observed_shares: F64
    n: int
    validation_n: F64
    confidence: float
    method: str


def confusion_rates(confusion: ArrayLike) -> F64:
    """Row-normalised confusion matrix :math:`M_{ij} = V_{ij}/\\sum_{j'} V_{ij'}`.

    Raises
    ------
    ValueError
        A true class with no validated image, fewer predicted than true classes, negative counts.

    Examples
    --------
    >>> confusion_rates([[45, 5], [10, 40]]).tolist()
    [[0.9, 0.1], [0.2, 0.8]]
    """
    v = as_counts(confusion, name="confusion")
    if v.ndim != 2 or v.shape[1] < v.shape[0]:
        raise ValueError(
            "confusion must be a (true classes, predicted outcomes) count matrix with at least "
            f"as many predicted outcomes as true classes, got shape {v.shape}"
        )
    rows = v.sum(axis=1)
    if np.any(rows <= 0):
        missing = np.flatnonzero(rows <= 0).tolist()
        raise ValueError(f"true class(es) {missing} have no validated image; validate every class")
    rates: F64 = v / rows[:, None]
    return rates


def rogan_gladen(observed_share: ArrayLike, sensitivity: float, specificity: float) -> Any:
    """Rogan–Gladen corrected prevalence :math:`(r + sp - 1)/(se + sp - 1)`, clipped to [0, 1].

    ``observed_share`` is the share labelled positive; ``sensitivity`` = P(labelled positive |
    positive), ``specificity`` = P(labelled negative | negative).

    Examples
    --------
    >>> round(float(rogan_gladen(0.55, 0.9, 0.8)), 6)  # (0.55 + 0.8 - 1) / 0.7
    0.5
    >>> float(rogan_gladen(0.1, 0.9, 0.8))  # below the false-positive rate: clipped
    0.0
    """
    denom = sensitivity + specificity - 1.0
    if denom <= 0:
        raise ValueError("sensitivity + specificity must exceed 1 (a labeler better than chance)")
    r = np.asarray(observed_share, dtype=np.float64)
    return scalar_or_array(np.clip((r + specificity - 1.0) / denom, 0.0, 1.0))


def _em_step(pi: F64, r: F64, m: F64) -> F64:
    fitted = np.einsum("di,dij->dj", pi, m)
    ratio = np.where(fitted > 0, r / np.where(fitted > 0, fitted, 1.0), 0.0)
    new = pi * np.einsum("dij,dj->di", m, ratio)
    out: F64 = new / new.sum(axis=1, keepdims=True)
    return out


def _project(pi: F64) -> F64:
    pi = np.clip(pi, 0.0, None)
    s = pi.sum(axis=1, keepdims=True)
    return np.where(s > 0, pi / np.where(s > 0, s, 1.0), 1.0 / pi.shape[1])


def _solve(r: F64, m: F64, tol: float = 1e-10, max_iter: int = 2000) -> F64:
    """MLE of pi on the simplex per row: ``r`` (D, J) label shares, ``m`` (D, K, J) rates."""
    d, k, j = m.shape
    start = np.einsum("dkj,dj->dk", np.linalg.pinv(np.swapaxes(m, 1, 2)), r)
    # square M and a solution inside the simplex: it fits r exactly, so it is the MLE
    exact = (k == j) & np.all(start >= -1e-12, axis=1) & np.all(np.isfinite(start), axis=1)
    pi = _project(np.where(np.isfinite(start), start, 1.0 / k))
    idx = np.flatnonzero(~exact)
    # EM needs a start inside the simplex
    cur = pi[idx] + 1e-3
    cur = cur / cur.sum(axis=1, keepdims=True)
    rr, mm = r[idx], m[idx]
    for _ in range(max_iter):
        if idx.size == 0:
            break
        p1 = _em_step(cur, rr, mm)
        p2 = _em_step(p1, rr, mm)
        step = p1 - cur
        curv = p2 - p1 - step
        sn = np.sqrt((step * step).sum(axis=1))
        vn = np.sqrt((curv * curv).sum(axis=1))
        alpha = np.minimum(np.where(vn > 0, -sn / np.where(vn > 0, vn, 1.0), -1.0), -1.0)
        jump = _project(cur - 2.0 * alpha[:, None] * step + (alpha**2)[:, None] * curv)
        new = _em_step(jump, rr, mm)
        done = np.abs(new - cur).max(axis=1) < tol
        pi[idx] = new
        keep = ~done
        idx, cur, rr, mm = idx[keep], new[keep], rr[keep], mm[keep]
    return pi


def correct_shares(
    counts: ArrayLike,
    confusion: ArrayLike,
    confidence: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
    prior: float = 0.5,
    min_n: int = 1,
) -> CorrectedShares:
    """Labeler-corrected shares with intervals (module docstring).

    Parameters
    ----------
    counts:
        Audit label counts, one per predicted outcome (the columns of ``confusion``).
    confusion:
        Validation counts, rows = true classes, columns = predicted outcomes.
    confidence:
        Nominal coverage of each class's interval.
    draws, seed:
        Number of replicates and their seed.
    prior:
        Dirichlet pseudo-count added to the audit counts and to each confusion row for the
        replicates (0.5 = Jeffreys).
    min_n:
        Fewer audit answers raise :class:`~fairframe.stats.InsufficientDataError`.

    Examples
    --------
    A labeler that is right 90% of the time on true class 0 and 80% on class 1; 55% of 200 audit
    images were labelled 0, so the corrected share is :math:`(0.55 + 0.8 - 1)/0.7 = 0.5`:

    >>> res = correct_shares([110, 90], [[90, 10], [20, 80]], seed=1)
    >>> res.shares.round(6).tolist()
    [0.5, 0.5]
    >>> bool(res.low[0] < 0.5 < res.high[0])
    True
    """
    conf = check_confidence(confidence)
    m = confusion_rates(confusion)
    v = as_counts(confusion, name="confusion")
    y = as_counts(counts).reshape(-1)
    k, j = m.shape
    if y.shape[0] != j:
        raise ValueError(f"counts has {y.shape[0]} outcomes but confusion has {j} columns")
    n = int(round(float(y.sum())))
    require_n(n, min_n)
    if np.linalg.matrix_rank(m) < k:
        raise ValueError("the confusion matrix is singular: some classes cannot be told apart")
    shares = _solve((y / y.sum())[None, :], m[None])[0]
    rng = np.random.default_rng(seed)
    r_star = rng.dirichlet(y + prior, size=int(draws))
    m_star = np.stack([rng.dirichlet(v[i] + prior, size=int(draws)) for i in range(k)], axis=1)
    pi_star = _solve(r_star, m_star)
    alpha = 1.0 - conf
    low, high = np.quantile(pi_star, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return CorrectedShares(
        shares=shares,
        low=np.minimum(low, shares),
        high=np.maximum(high, shares),
        observed_shares=y / y.sum(),
        n=n,
        validation_n=v.sum(axis=1),
        confidence=conf,
        method=f"em-mle; dirichlet(prior={prior:g}) replicates of audit and confusion counts",
    )

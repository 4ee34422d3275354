"""OpenBias severity: one minus the normalised entropy of a class distribution.

Formulas
--------
For class counts :math:`c_1..c_K` with :math:`n = \\sum_k c_k > 0` and shares :math:`p_k = c_k / n`:

.. math::

    \\tilde H(p) = -\\frac{1}{\\ln K} \\sum_{k: p_k > 0} p_k \\ln p_k,
    \\qquad S(p) = 1 - \\tilde H(p)

* range :math:`[0, 1]`; 0 = every class equally often, 1 = one class only; higher is more biased;
* :math:`K` is the number of classes of the bias (``unknown`` answers are not a class: they are
  counted apart and reported as the detection rate);
* :math:`0 \\ln 0 = 0` exactly (OpenBias adds :math:`\\varepsilon = 10^{-10}` to every share, which
  moves the value by less than :math:`10^{-8}`).

Context-free severity pools the counts of all captions; context-aware severity averages the
normalised entropy over captions :math:`j` with at least ``min_n`` answers:
:math:`S_{ca} = 1 - \\frac{1}{J}\\sum_j \\tilde H(p_j)`.

Assumption: answers are independent draws from the generator's class distribution for the caption.
With few images per caption the estimate is biased upward (a fair generator scores above 0); see
``docs/audit.md`` and the interval functions in :mod:`fairframe.stats.intervals`.

Miller–Madow correction
-----------------------
The plug-in entropy underestimates :math:`H` by about :math:`(m - 1)/(2n)` nats, where :math:`m`
is the number of classes seen at least once (Miller 1955). The corrected estimators are

.. math::

    \\hat H_{MM} = \\hat H + \\frac{m - 1}{2n}, \\qquad
    \\hat S_{MM} = 1 - \\frac{\\hat H_{MM}}{\\ln K}.

:math:`\\hat S_{MM}` removes the first-order bias of the severity (a fair generator averages close
to 0 instead of :math:`(K-1)/(2 n \\ln K)`); it is not clipped, so it can be slightly negative when
the counts are close to balanced, and it is not exactly unbiased for :math:`n \\lesssim 5K`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "context_aware_severity",
    "miller_madow_entropy",
    "miller_madow_severity",
    "normalized_entropy",
    "severity",
]


def normalized_entropy(counts: ArrayLike, axis: int = -1) -> Any:
    """Normalised Shannon entropy :math:`\\tilde H` of counts (or shares) along ``axis``.

    Rows summing to zero give ``nan``. Works on one distribution or a stack of them.

    Examples
    --------
    >>> float(normalized_entropy([5, 5]))
    1.0
    >>> float(normalized_entropy([10, 0]))
    0.0
    >>> round(float(normalized_entropy([1, 1, 2])), 6)  # H=1.039721 nats, ln 3=1.098612
    0.946395
    """
    c = np.asarray(counts, dtype=np.float64)
    k = c.shape[axis]
    if k < 2:
        raise ValueError(f"entropy needs at least two classes, got {k}")
    total = c.sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = c / total
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    h = -terms.sum(axis=axis) / np.log(k) + 0.0  # + 0.0 turns -0.0 into 0.0
    h = np.where(np.squeeze(total, axis=axis) > 0, h, np.nan)
    return h if h.ndim else h[()]


def severity(counts: ArrayLike, axis: int = -1) -> Any:
    """OpenBias severity :math:`S = 1 - \\tilde H` of class counts (see the module docstring).

    Examples
    --------
    >>> round(float(severity([7, 3])), 10)  # 1 - H(0.7, 0.3)/ln 2
    0.1187091008
    """
    return 1.0 - normalized_entropy(counts, axis=axis)


def context_aware_severity(per_caption_counts: Sequence[ArrayLike] | NDArray[Any]) -> float:
    """:math:`S_{ca} = 1 - \\text{mean}_j \\tilde H(p_j)` over captions (rows) with any answers.

    Examples
    --------
    >>> context_aware_severity([[10, 0], [5, 5]])  # (1 + 0) / 2
    0.5
    """
    arr = np.asarray(per_caption_counts, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError("expected one row of class counts per caption")
    h = normalized_entropy(arr, axis=1)
    h = h[~np.isnan(h)]
    if h.size == 0:
        return float("nan")
    return float(1.0 - h.mean())


def miller_madow_entropy(counts: ArrayLike, axis: int = -1) -> Any:
    """Miller–Madow entropy :math:`\\hat H + (m-1)/(2n)` in nats (see the module docstring).

    ``counts`` must be counts (the correction needs :math:`n`); rows summing to zero give ``nan``.

    Examples
    --------
    >>> round(float(miller_madow_entropy([5, 5])), 6)  # ln 2 + 1/20
    0.743147
    >>> float(miller_madow_entropy([10, 0]))  # one class seen: no correction
    0.0
    """
    c = np.asarray(counts, dtype=np.float64)
    k = c.shape[axis]
    n = c.sum(axis=axis)
    seen = np.count_nonzero(c, axis=axis)
    h = normalized_entropy(c, axis=axis) * np.log(k)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, h + (seen - 1) / (2.0 * n), np.nan)
    return out if out.ndim else out[()]


def miller_madow_severity(counts: ArrayLike, axis: int = -1) -> Any:
    """Bias-corrected severity :math:`1 - \\hat H_{MM}/\\ln K` (not clipped; module docstring).

    Examples
    --------
    >>> round(float(miller_madow_severity([7, 3])), 6)  # 0.118709 - 1/(20 ln 2)
    0.046574
    >>> round(float(miller_madow_severity([5, 5])), 6)  # balanced counts: below zero
    -0.072135
    """
    c = np.asarray(counts, dtype=np.float64)
    k = c.shape[axis]
    return 1.0 - miller_madow_entropy(c, axis=axis) / np.log(k)

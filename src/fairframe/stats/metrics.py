"""Bias metrics on class distributions, and a table that describes each one.

Every metric is a vectorised function of the **last axis** of an array of counts or shares, so
the same call scores one distribution ``(K,)``, one row per caption ``(J, K)``, or posterior /
bootstrap draws ``(draws, K)`` and ``(draws, J, K)``. Counts are normalised to shares
:math:`p_k = c_k / n`; a row summing to zero gives ``nan``. All metrics are 0 for a generator that
matches its reference exactly and **higher means more biased**.

* ``severity`` — :math:`1 - H(p)/\\ln K` (OpenBias); range [0, 1].
* ``severity_mm`` — :math:`1 - (\\hat H + \\frac{m-1}{2n})/\\ln K`, Miller–Madow corrected, needs
  counts; range up to 1, slightly negative near balance.
* ``kl`` — :math:`\\sum_k p_k \\ln(p_k/q_k)` (ITI-GEN); range :math:`[0, -\\ln \\min_k q_k]`.
* ``mad`` — :math:`\\frac1K\\sum_k |p_k - q_k|` (DALL-Eval); range
  :math:`[0, 2(1 - \\min_k q_k)/K]`.
* ``max_min_gap`` — :math:`\\max_k p_k - \\min_k p_k`; range [0, 1].
* ``pairwise_gap`` — :math:`\\frac{1}{K(K-1)}\\sum_{i \\ne j}|p_i - p_j|` (Shen et al.);
  range :math:`[0, 2/K]`.
* ``heim_gender_imbalance`` — :math:`|p_1 - \\frac12|` for two classes (HEIM); range [0, 0.5].
* ``heim_skin_tone_imbalance`` — :math:`\\frac1K\\sum_k |p_k - \\frac1K|` (HEIM); range
  :math:`[0, 2(K-1)/K^2]` (0.18 for ten Monk tones).

:math:`q` is the reference distribution: uniform unless the caller passes shares (for example
labour statistics); it is validated (``K`` entries, non-negative, summing to one). Metrics without
a reference (severity, gaps, the HEIM pair) always compare with balance.

Notes on the anchors
--------------------
* DALL-Eval's gender MAD is ``mad`` with K = 2: :math:`\\frac12(|p_m - \\frac12| + |p_f - \\frac12|)
  = |p_m - \\frac12|`, the same number as HEIM's gender imbalance.
* HEIM divides skin-tone counts by *all* images, including those where no skin was found, so its
  fractions need not sum to one; the table version uses classified images only (the unknown rate is
  reported apart). :func:`heim_skin_tone_imbalance` with ``unknown=`` reproduces HEIM exactly.
* Shen et al.'s "bias" averages over ordered pairs :math:`i \\ne j`; for gender it is
  :math:`|f_m - f_f|`, twice the gender MAD.

Assumptions: each image counts once for one class; answers are independent draws from the
generator's class distribution for the caption. Plug-in values are biased upward at small ``n``
(see :mod:`fairframe.stats.floors`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.errors import UnknownComponentError
from fairframe.stats._validate import as_counts, as_reference, scalar_or_array
from fairframe.stats.severity import miller_madow_severity

__all__ = [
    "METRICS",
    "Metric",
    "get_metric",
    "heim_gender_imbalance",
    "heim_skin_tone_imbalance",
    "kl_divergence",
    "max_min_gap",
    "mean_absolute_deviation",
    "pairwise_gap",
    "shares_of",
]

F64 = NDArray[np.float64]
FArr = NDArray[np.floating[Any]]


def shares_of(values: ArrayLike) -> F64:
    """Normalise counts (or unnormalised shares) along the last axis; zero rows become ``nan``.

    Examples
    --------
    >>> shares_of([[1, 3], [0, 0]]).tolist()
    [[0.25, 0.75], [nan, nan]]
    """
    v = as_counts(values)
    total = v.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, v / np.where(total > 0, total, 1.0), np.nan)


def kl_divergence(values: ArrayLike, reference: ArrayLike | None = None) -> Any:
    """Kullback–Leibler divergence :math:`KL(p\\,\\|\\,q) = \\sum_k p_k \\ln(p_k / q_k)` in nats.

    Range :math:`[0, -\\ln \\min_k q_k]` (``ln K`` for a uniform reference); 0 iff :math:`p = q`;
    higher is more biased. :math:`0 \\ln 0 = 0`; a class observed with reference share 0 gives
    ``inf``. ITI-GEN reports it against the uniform distribution. The plug-in value's
    fair-generator floor is about :math:`(K-1)/(2n)`.

    Examples
    --------
    >>> round(float(kl_divergence([3, 1])), 6)  # 0.75 ln 1.5 + 0.25 ln 0.5
    0.130812
    >>> float(kl_divergence([1, 1], reference=[0.5, 0.5]))
    0.0
    """
    p = shares_of(values)
    q = as_reference(reference, p.shape[-1])
    out = np.where(np.isnan(p).any(axis=-1), np.nan, _kl(p, q))
    return scalar_or_array(np.asarray(out, dtype=np.float64))


def mean_absolute_deviation(values: ArrayLike, reference: ArrayLike | None = None) -> Any:
    """DALL-Eval's mean absolute deviation :math:`\\frac1K \\sum_k |p_k - q_k|`.

    Range :math:`[0, 2(1 - \\min_k q_k)/K]` (0.5 for gender, 0.18 for ten Monk tones); 0 iff
    :math:`p = q`; higher is more biased. For two classes it is :math:`|p_1 - q_1|`.

    Examples
    --------
    >>> round(float(mean_absolute_deviation([7, 3])), 12)  # |0.7 - 0.5|
    0.2
    >>> round(float(mean_absolute_deviation([2, 1, 1], reference=[0.5, 0.25, 0.25])), 12)
    0.0
    """
    p = shares_of(values)
    q = as_reference(reference, p.shape[-1])
    return scalar_or_array(np.asarray(_mad(p, q), dtype=np.float64))


def max_min_gap(values: ArrayLike) -> Any:
    """Largest minus smallest share, :math:`\\max_k p_k - \\min_k p_k`.

    Range [0, 1]; 0 iff all shares are equal; higher is more biased.

    Examples
    --------
    >>> float(max_min_gap([5, 3, 2]))
    0.3
    """
    p = shares_of(values)
    return scalar_or_array(p.max(axis=-1) - p.min(axis=-1))


def pairwise_gap(values: ArrayLike) -> Any:
    """Shen et al.'s bias: the mean absolute gap over ordered pairs of classes.

    :math:`\\frac{1}{K(K-1)}\\sum_{i\\ne j}|p_i - p_j|`.
    Range :math:`[0, 2/K]` (1 for two classes, where it equals :math:`|p_1 - p_2|`); 0 iff all
    shares are equal; higher is more biased. Computed in :math:`O(K \\log K)` from the sorted
    shares: :math:`\\sum_{i<j}(p_{(j)} - p_{(i)}) = \\sum_j (2j - K - 1) p_{(j)}`.

    Examples
    --------
    >>> round(float(pairwise_gap([7, 3])), 12)
    0.4
    >>> round(float(pairwise_gap([5, 3, 2])), 6)  # (0.2 + 0.3 + 0.1) * 2 / 6
    0.2
    """
    p = shares_of(values)
    return scalar_or_array(np.asarray(_pairwise(p, p[..., 0]), dtype=np.float64))


def heim_gender_imbalance(values: ArrayLike) -> Any:
    """HEIM's gender imbalance :math:`|p_1 - \\tfrac12|` for exactly two classes.

    Range [0, 0.5]; higher is more biased. HEIM decides female versus male by comparing two CLIP
    scores, so every image has a class; here ``values`` are the two class counts.

    Examples
    --------
    >>> float(heim_gender_imbalance([6, 2]))
    0.25
    """
    p = shares_of(values)
    return scalar_or_array(np.asarray(_gender(p, p[..., 0]), dtype=np.float64))


def heim_skin_tone_imbalance(values: ArrayLike, unknown: ArrayLike = 0) -> Any:
    """HEIM's skin-tone imbalance :math:`\\frac1K \\sum_k |m_k/N - \\tfrac1K|`.

    With ``unknown = 0`` (the default) :math:`N` is the number of classified images and the value
    equals :func:`mean_absolute_deviation` against the uniform reference. HEIM counts images where
    no skin was found in :math:`N` too; pass their number as ``unknown`` to reproduce it exactly.
    Range :math:`[0, 2(K-1)/K^2]` (0.18 for the ten Monk tones); higher is more biased.

    Examples
    --------
    >>> round(float(heim_skin_tone_imbalance([8, 0, 0, 0, 0, 0, 0, 0, 0, 0])), 6)
    0.18
    >>> round(float(heim_skin_tone_imbalance([4, 4], unknown=2)), 6)  # (|0.4-0.5|*2)/2
    0.1
    """
    m = as_counts(values)
    u = np.asarray(unknown, dtype=np.float64)
    k = m.shape[-1]
    total = m.sum(axis=-1) + u
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = m / np.where(total > 0, total, np.nan)[..., None]
    return scalar_or_array(np.abs(frac - 1.0 / k).mean(axis=-1))


# Raw kernels: ``p`` are shares (rows summing to one, any float dtype), ``q`` a validated reference.
# No validation here: they run on (draws, J, K) arrays inside the interval and floor functions.


def _xlogx(p: FArr) -> FArr:
    # p ln p with 0 ln 0 = 0 (shares are never negative); one pass, any float dtype
    return p * np.log(np.maximum(p, np.finfo(p.dtype).tiny))


def _severity(p: FArr, q: FArr) -> FArr:
    k = p.shape[-1]
    out: FArr = np.maximum(1.0 + _xlogx(p).sum(axis=-1) / np.log(k), 0.0)
    return out


def _severity_mm(c: FArr, q: FArr) -> FArr:
    return np.asarray(miller_madow_severity(c, axis=-1))


def _kl(p: FArr, q: FArr) -> FArr:
    with np.errstate(divide="ignore", invalid="ignore"):
        logq = np.log(q)  # -inf where q = 0: a class observed there gives +inf
        safe = np.where(p > 0, p, 1.0)
        terms = np.where(p > 0, p * (np.log(safe) - logq), 0.0)
    out: FArr = np.maximum(terms.sum(axis=-1), 0.0)
    return out


def _mad(p: FArr, q: FArr) -> FArr:
    out: FArr = np.abs(p - q).mean(axis=-1)
    return out


def _gap(p: FArr, q: FArr) -> FArr:
    out: FArr = p.max(axis=-1) - p.min(axis=-1)
    return out


def _pairwise(p: FArr, q: FArr) -> FArr:
    k = p.shape[-1]
    if k <= 12:  # explicit pairs: elementwise, fast on class-major posterior draws
        total = np.zeros(p.shape[:-1], dtype=p.dtype)
        for i in range(k):
            for j in range(i + 1, k):
                total = total + np.abs(p[..., i] - p[..., j])
        out: FArr = 2.0 * total / (k * (k - 1))
        return out
    weights = 2.0 * np.arange(1, k + 1) - k - 1.0
    res: FArr = 2.0 * (np.sort(p, axis=-1) * weights).sum(axis=-1) / (k * (k - 1))
    return res


def _gender(p: FArr, q: FArr) -> FArr:
    if p.shape[-1] != 2:
        raise ValueError(f"gender imbalance needs exactly two classes, got {p.shape[-1]}")
    out: FArr = np.abs(p[..., 0] - 0.5)
    return out


def _skin(p: FArr, q: FArr) -> FArr:
    out: FArr = np.abs(p - 1.0 / p.shape[-1]).mean(axis=-1)
    return out


@dataclass(frozen=True)
class Metric:
    """A bias metric that describes itself.

    Attributes
    ----------
    name:
        Stable identifier (``"severity"``, ``"kl"``, ...), used in reports and by
        :func:`get_metric`.
    display_name:
        Human-readable name.
    formula:
        The formula in plain text.
    range_text:
        The range in plain text (it may depend on ``K`` and the reference).
    direction:
        Always ``"higher_is_more_biased"`` for the metrics here.
    needs_reference:
        True when the metric compares with a reference distribution :math:`q` (uniform by default).
    needs_counts:
        True when the metric needs integer counts, not just shares (Miller–Madow uses :math:`n`).
    source:
        Where the metric comes from.
    func:
        ``func(values, reference)`` on the last axis of a float array; ``reference`` is a validated
        length-``K`` array.
    max_func:
        ``max_func(reference)``: the largest possible value (used by the floor correction).
    """

    name: str
    display_name: str
    formula: str
    range_text: str
    needs_reference: bool
    needs_counts: bool
    source: str
    func: Callable[[FArr, FArr], FArr]
    max_func: Callable[[F64], float]
    direction: str = "higher_is_more_biased"

    def __call__(self, values: ArrayLike, reference: ArrayLike | None = None) -> Any:
        """The metric of ``values`` (counts or shares, classes on the last axis)."""
        v = as_counts(values)
        q = as_reference(reference, v.shape[-1])
        if not self.needs_counts:
            v = shares_of(v)
        out = np.asarray(self.func(v, q), dtype=np.float64)
        if not self.needs_counts:
            out = np.where(np.isnan(v).any(axis=-1), np.nan, out)
        return scalar_or_array(out)

    def maximum(self, reference: ArrayLike | None = None, k: int | None = None) -> float:
        """The largest possible value for ``K`` classes (``k`` or ``len(reference)``)."""
        if reference is None and k is None:
            raise ValueError("pass the number of classes k or a reference distribution")
        kk = int(k) if k is not None else int(np.asarray(reference).shape[0])
        return float(self.max_func(as_reference(reference, kk)))


def _uniform_mad_max(q: F64) -> float:
    return float(2.0 * (1.0 - q.min()) / q.shape[0])


def _skin_max(q: F64) -> float:
    k = int(q.shape[0])
    return 2.0 * (k - 1) / (k * k)


_TABLE = (
    Metric(
        "severity", "Severity (1 - normalised entropy)", "1 - H(p)/ln K, H = -sum p_k ln p_k",
        "[0, 1]", False, False, "OpenBias (D'Incà et al., CVPR 2024)", _severity,
        lambda q: 1.0,
    ),
    Metric(
        "severity_mm", "Severity, Miller-Madow corrected",
        "1 - (H_hat + (m - 1)/(2n))/ln K, m = classes seen", "(slightly below 0, 1]", False, True,
        "Miller (1955) bias correction of the OpenBias severity", _severity_mm, lambda q: 1.0,
    ),
    Metric(
        "kl", "KL divergence to the reference", "sum_k p_k ln(p_k / q_k)", "[0, -ln min q]",
        True, False, "ITI-GEN (Zhang et al., ICCV 2023), against uniform", _kl,
        lambda q: float(-np.log(q.min())) if q.min() > 0 else float("inf"),
    ),
    Metric(
        "mad", "Mean absolute deviation", "(1/K) sum_k |p_k - q_k|", "[0, 2 (1 - min q)/K]",
        True, False, "DALL-Eval (Cho et al., ICCV 2023)", _mad, _uniform_mad_max,
    ),
    Metric(
        "max_min_gap", "Max-min gap", "max_k p_k - min_k p_k", "[0, 1]", False, False,
        "largest minus smallest share", _gap, lambda q: 1.0,
    ),
    Metric(
        "pairwise_gap", "Mean pairwise gap", "sum_{i != j} |p_i - p_j| / (K (K - 1))",
        "[0, 2/K]", False, False, "Shen et al. (ICLR 2024)", _pairwise,
        lambda q: 2.0 / q.shape[0],
    ),
    Metric(
        "heim_gender_imbalance", "Gender imbalance (HEIM)", "|p_1 - 1/2|, K = 2", "[0, 0.5]",
        False, False, "HEIM (Lee et al., NeurIPS 2023)", _gender, lambda q: 0.5,
    ),
    Metric(
        "heim_skin_tone_imbalance", "Skin-tone imbalance (HEIM)", "(1/K) sum_k |p_k - 1/K|",
        "[0, 2 (K - 1)/K^2]", False, False, "HEIM (Lee et al., NeurIPS 2023)", _skin, _skin_max,
    ),
)

#: Every built-in metric by name (read-only).
METRICS: Mapping[str, Metric] = MappingProxyType({m.name: m for m in _TABLE})


def get_metric(metric: str | Metric) -> Metric:
    """The :class:`Metric` called ``metric`` (a :class:`Metric` is returned unchanged).

    Raises
    ------
    fairframe.errors.UnknownComponentError
        No metric of that name; the message lists the names that exist.

    Examples
    --------
    >>> get_metric("kl").display_name
    'KL divergence to the reference'
    """
    if isinstance(metric, Metric):
        return metric
    try:
        return METRICS[metric]
    except KeyError:
        raise UnknownComponentError("metric", metric, list(METRICS)) from None

"""Tests of observed class counts against a reference distribution, and FDR control across tests.

Null hypothesis: the generator draws classes from the reference :math:`q` (uniform by default,
or user-supplied shares such as labour statistics). Each test takes counts :math:`c` with
:math:`n = \\sum_k c_k` and gives a p-value.

* **Exact multinomial test** — :math:`p = \\sum_{x:\\ P_q(x) \\le P_q(c)} P_q(x)` over every count
  vector :math:`x` with the same :math:`n`: the total probability of outcomes no more likely than
  the one observed (ties within a relative :math:`10^{-7}` count as equal, as in R's
  ``binom.test``). For two classes it is the two-sided exact binomial test. Used when there are at
  most ``exact_limit`` count vectors (:math:`\\binom{n+K-1}{K-1}`).
* **G-test** — :math:`G = 2\\sum_k c_k \\ln\\frac{c_k}{n q_k} = 2n\\,KL(\\hat p\\|q)`, referred
  to :math:`\\chi^2_{K'-1}` where :math:`K'` is the number of classes with :math:`q_k > 0`.
* **Pearson** — :math:`X^2 = \\sum_k \\frac{(c_k - n q_k)^2}{n q_k}`, same reference law.

``method="auto"`` (default) is exact when feasible and the G-test otherwise; the chi-square
approximations are adequate when every expected count :math:`n q_k` is about 5 or more.
A class observed although :math:`q_k = 0` gives :math:`p = 0`.

Multiple testing
----------------
:func:`benjamini_hochberg` turns the p-values of *all* (bias, caption) tests of a run into
q-values that control the false discovery rate (Benjamini & Hochberg 1995):
:math:`q_{(i)} = \\min_{j \\ge i} \\min(1, m\\,p_{(j)}/j)` for the sorted p-values
:math:`p_{(1)} \\le \\dots \\le p_{(m)}`; rejecting every test with :math:`q \\le \\alpha` keeps the
expected share of false rejections below :math:`\\alpha` for independent or positively dependent
tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.stats import _special as sp
from fairframe.stats._validate import as_counts, as_reference
from fairframe.stats.floors import count_vectors, multinomial_log_pmf

__all__ = ["GoodnessOfFit", "benjamini_hochberg", "fair_coin_tail", "reference_test"]

F64 = NDArray[np.float64]
TestMethod = Literal["auto", "exact", "g", "pearson"]

#: Relative tolerance under which two outcome probabilities count as equal (R uses the same).
TIE_TOLERANCE = 1e-7


@dataclass(frozen=True)
class GoodnessOfFit:
    """Result of :func:`reference_test` (arrays have the shape of the rows; 0-d for one row).

    Attributes
    ----------
    statistic:
        :math:`G` (for exact and G-tests) or Pearson's :math:`X^2`.
    p_value:
        The p-value (``nan`` for rows with fewer than ``min_n`` answers).
    exact:
        True where the exact multinomial p-value was used.
    n:
        Answers per row.
    df:
        Degrees of freedom of the chi-square reference law.
    method:
        ``"exact-multinomial"``, ``"g-test"``, ``"pearson-chi2"`` or, for a batch that mixes
        exact and G-test rows, ``"exact-multinomial|g-test"``.
    """

    statistic: F64
    p_value: F64
    exact: NDArray[np.bool_]
    n: F64
    df: int
    method: str


def _exact_pvalues(c: F64, q: F64) -> F64:
    """Exact multinomial p-values for rows sharing one n."""
    n = int(round(float(c[0].sum())))
    k = c.shape[1]
    vecs = count_vectors(n, k).astype(np.float64)
    logp_all = np.sort(np.asarray(multinomial_log_pmf(vecs, q), dtype=np.float64))
    prob = np.exp(logp_all)
    cum = np.cumsum(prob)
    logp_obs = np.asarray(multinomial_log_pmf(c, q), dtype=np.float64).reshape(-1)
    with np.errstate(invalid="ignore"):
        idx = np.searchsorted(logp_all, logp_obs + np.log1p(TIE_TOLERANCE), side="right")
    p = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
    return np.clip(np.where(np.isfinite(logp_obs), p, 0.0), 0.0, 1.0)


def reference_test(
    counts: ArrayLike,
    reference: ArrayLike | None = None,
    method: TestMethod = "auto",
    exact_limit: int = 200_000,
    min_n: int = 1,
) -> GoodnessOfFit:
    """Test counts against a reference distribution (module docstring for the formulas).

    Parameters
    ----------
    counts:
        ``(K,)`` or ``(..., K)`` class counts; each row is one test.
    reference:
        Reference shares :math:`q` (uniform by default).
    method:
        ``"auto"`` (exact when at most ``exact_limit`` count vectors, else G), ``"exact"``,
        ``"g"`` or ``"pearson"``.
    exact_limit:
        Largest enumeration allowed by ``"auto"``.
    min_n:
        Rows with fewer answers get ``nan``.

    Examples
    --------
    Two classes, 9 of 10 in one: the exact two-sided binomial p-value is
    :math:`2 (1 + 10) / 2^{10} = 0.021484375`:

    >>> r = reference_test([9, 1])
    >>> round(float(r.p_value), 12), bool(r.exact)
    (0.021484375, True)
    >>> round(float(reference_test([30, 10, 20], method="pearson").statistic), 6)  # 5 + 5 + 0
    10.0
    >>> round(float(reference_test([30, 10, 20], method="g").p_value), 4)  # G = 10.465, 2 df
    0.0053
    """
    c = as_counts(counts)
    lead = c.shape[:-1]
    c = c.reshape(-1, c.shape[-1])
    k = c.shape[1]
    q = as_reference(reference, k)
    n = c.sum(axis=1)
    support = q > 0
    df = int(support.sum()) - 1
    if df < 1:
        raise ValueError("the reference must give positive share to at least two classes")
    expected = n[:, None] * q
    impossible = np.any((c > 0) & ~support, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((c > 0) & support, c / np.where(expected > 0, expected, 1.0), 1.0)
        g = 2.0 * np.where(c > 0, c * np.log(ratio), 0.0).sum(axis=1)
        x2 = np.where(support, (c - expected) ** 2 / np.where(expected > 0, expected, 1.0),
                      0.0).sum(axis=1)
    g = np.where(impossible, np.inf, np.maximum(g, 0.0))
    x2 = np.where(impossible, np.inf, x2)
    use_exact = np.zeros(c.shape[0], dtype=bool)
    if method in ("auto", "exact"):
        if not np.allclose(c, np.rint(c)):
            raise ValueError("the exact test needs integer counts")
        for nn in np.unique(n):
            if nn <= 0:
                continue
            feasible = comb(int(nn) + k - 1, k - 1) <= exact_limit
            if method == "exact" or feasible:
                use_exact[n == nn] = True
    elif method not in ("g", "pearson"):
        raise ValueError(f"unknown method {method!r}; use auto, exact, g or pearson")
    stat = x2 if method == "pearson" else g
    p = sp.chi2_sf(stat, df)
    for nn in np.unique(n[use_exact]):
        rows = use_exact & (n == nn)
        p[rows] = _exact_pvalues(np.rint(c[rows]), q)
    p = np.where(impossible, 0.0, p)
    small = n < max(int(min_n), 1)
    p = np.where(small, np.nan, p)
    stat = np.where(small, np.nan, stat)
    counted = use_exact[~small]
    if method == "pearson":
        name = "pearson-chi2"
    elif counted.all():
        name = "exact-multinomial"
    elif counted.any():
        name = "exact-multinomial|g-test"
    else:
        name = "g-test"
    return GoodnessOfFit(stat.reshape(lead), p.reshape(lead), use_exact.reshape(lead),
                         n.reshape(lead), df, name)


def fair_coin_tail(k: int, n: int) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, 1/2)``, exactly: ``sum_{i>=k} C(n, i) / 2**n``.

    The chance of ``k`` or more successes in ``n`` fair coin flips: agreeing watermark bits by
    chance, or one side of an exact McNemar / sign test. ``k <= 0`` gives 1, ``k > n`` gives 0.

    Examples
    --------
    >>> fair_coin_tail(48, 48) == 2.0 ** -48
    True
    >>> fair_coin_tail(2, 3)  # 3 + 1 of 8 outcomes
    0.5
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    k = max(0, k)
    if k > n:
        return 0.0
    return min(1.0, sum(comb(n, i) for i in range(k, n + 1)) / 2.0**n)


def benjamini_hochberg(pvalues: ArrayLike) -> Any:
    """Benjamini–Hochberg q-values (adjusted p-values) for a set of tests.

    ``nan`` or ``None`` entries (tests that could not be run, e.g. insufficient data) are passed
    through as ``nan`` and are **not counted** in :math:`m`: only tests that produced a p-value
    compete for the false-discovery budget. The q-values are monotone in the p-values and capped
    at 1; the input shape is kept.

    Raises
    ------
    ValueError
        A p-value outside [0, 1].

    Examples
    --------
    Four tests and one that could not be run (m = 4): sorted p 0.005, 0.01, 0.03, 0.04 give
    :math:`4p/i` = 0.02, 0.02, 0.04, 0.04, already monotone:

    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.005, None]).round(6).tolist()
    [0.02, 0.04, 0.04, 0.02, nan]
    """
    p = np.array(pvalues, dtype=np.float64)
    shape = p.shape
    flat = p.reshape(-1)
    ok = ~np.isnan(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(flat.shape, np.nan)
    m = int(ok.sum())
    if m:
        vals = flat[ok]
        order = np.argsort(vals, kind="stable")
        ranked = vals[order] * m / np.arange(1, m + 1)
        adj = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
        unsorted = np.empty(m)
        unsorted[order] = adj
        out[ok] = unsorted
    res: NDArray[np.float64] = out.reshape(shape)
    return res if res.ndim else res[()]

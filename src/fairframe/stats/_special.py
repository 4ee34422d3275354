"""Typed, lazily imported special functions: the only module of :mod:`fairframe.stats` using SciPy.

Every wrapper takes array-likes, broadcasts like NumPy and returns ``float64`` arrays. SciPy is
imported on first use, so ``import fairframe`` stays light.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe._deps import require

__all__ = [
    "betaincinv",
    "chi2_cdf",
    "chi2_isf",
    "chi2_sf",
    "gammaln",
    "ncx2_cdf",
    "ncx2_sf",
    "norm_cdf",
    "norm_ppf",
]

F64 = NDArray[np.float64]


@cache
def _special() -> ModuleType:
    return require("scipy.special", purpose="fairframe.stats", extra="all")


def _f(x: object) -> F64:
    return np.asarray(x, dtype=np.float64)


def gammaln(x: ArrayLike) -> F64:
    """:math:`\\ln\\Gamma(x)`."""
    return _f(_special().gammaln(x))


def chi2_sf(x: ArrayLike, df: ArrayLike) -> F64:
    """Upper tail :math:`P(\\chi^2_{df} > x)`."""
    return _f(_special().chdtrc(df, x))


def chi2_cdf(x: ArrayLike, df: ArrayLike) -> F64:
    """Lower tail :math:`P(\\chi^2_{df} \\le x)`."""
    return _f(_special().chdtr(df, x))


def chi2_isf(p: ArrayLike, df: ArrayLike) -> F64:
    """The :math:`x` with :math:`P(\\chi^2_{df} > x) = p` (critical value)."""
    return _f(_special().chdtri(df, p))


def ncx2_cdf(x: ArrayLike, df: ArrayLike, nc: ArrayLike) -> F64:
    """Noncentral chi-square CDF :math:`P(\\chi'^2_{df}(nc) \\le x)`; ``nc = 0``: central."""
    x_, df_, nc_ = np.broadcast_arrays(_f(x), _f(df), _f(nc))
    out = np.where(x_ > 0, 0.0, 0.0)
    pos = x_ > 0
    central = pos & (nc_ <= 0)
    noncentral = pos & (nc_ > 0)
    if central.any():
        out[central] = _f(_special().chdtr(df_[central], x_[central]))
    if noncentral.any():
        out[noncentral] = _f(_special().chndtr(x_[noncentral], df_[noncentral], nc_[noncentral]))
    return np.clip(out, 0.0, 1.0)


def ncx2_sf(x: ArrayLike, df: ArrayLike, nc: ArrayLike) -> F64:
    """Noncentral chi-square upper tail :math:`P(\\chi'^2_{df}(nc) > x)`."""
    return 1.0 - ncx2_cdf(x, df, nc)


def betaincinv(a: ArrayLike, b: ArrayLike, q: ArrayLike) -> F64:
    """Quantile function of :math:`\\mathrm{Beta}(a, b)` at probability ``q``."""
    return _f(_special().betaincinv(a, b, q))


def norm_ppf(q: ArrayLike) -> F64:
    """Standard normal quantile :math:`\\Phi^{-1}(q)`."""
    return _f(_special().ndtri(q))


def norm_cdf(x: ArrayLike) -> F64:
    """Standard normal CDF :math:`\\Phi(x)`."""
    return _f(_special().ndtr(x))

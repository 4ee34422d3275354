"""Calibration for guard scores: logistic fits, Platt scaling and calibration error.

Pure numpy. Every classifier stage that reports a *probability* (the embedding classifier, the
gibberish detector, the fusion of stages) is fitted with :func:`fit_logistic` and checked with
:func:`expected_calibration_error`.

**Logistic regression.** For features ``X`` (n x d) and labels ``y`` in {0, 1}, the fit minimises
the mean L2-penalised log loss

    L(w, b) = -(1/n) sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] + (l2 / 2) |w|^2,
    p_i = sigmoid(x_i . w + b)

(the intercept ``b`` is not penalised) by Newton's method (iteratively reweighted least squares),
which converges in a handful of steps for the small designs used here. Optional sample weights
multiply each term.

**Platt scaling.** A one-feature logistic fit on a raw score (or its logit):
``p = sigmoid(a s + c)``.

**Expected calibration error.** With ``M`` equal-width bins ``B_m`` over [0, 1],

    ECE = sum_m (|B_m| / n) |mean(y in B_m) - mean(p in B_m)|,

range [0, 1], lower is better; 0 means the predicted probability equals the observed frequency in
every bin. The Brier score is ``mean((p - y)^2)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "LogisticModel",
    "brier_score",
    "expected_calibration_error",
    "fit_logistic",
    "logit",
    "sigmoid",
]

_EPS = 1e-6


def sigmoid(z: ArrayLike) -> NDArray[np.float64]:
    """Numerically stable ``1 / (1 + exp(-z))``."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def logit(p: ArrayLike, eps: float = _EPS) -> NDArray[np.float64]:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]``.

    >>> float(logit(0.5))
    0.0
    """
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.asarray(np.log(q) - np.log1p(-q))


@dataclass(frozen=True)
class LogisticModel:
    """A fitted logistic model ``p = sigmoid(X @ coef + intercept)``.

    Attributes
    ----------
    coef:
        One weight per feature.
    intercept:
        The bias term.
    feature_names:
        Optional names, in column order (recorded so a saved model can be checked on load).
    """

    coef: tuple[float, ...]
    intercept: float
    feature_names: tuple[str, ...] = ()

    def decision(self, x: ArrayLike) -> NDArray[np.float64]:
        """The linear score ``X @ coef + intercept`` (a logit)."""
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None] if len(self.coef) == 1 else arr[None, :]
        if arr.shape[1] != len(self.coef):
            raise ValueError(f"expected {len(self.coef)} features, got {arr.shape[1]}")
        return np.asarray(arr @ np.asarray(self.coef) + self.intercept)

    def predict_proba(self, x: ArrayLike) -> NDArray[np.float64]:
        """Probabilities in ``(0, 1)``, one per row."""
        return sigmoid(self.decision(x))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "coef": list(self.coef),
            "intercept": self.intercept,
            "feature_names": list(self.feature_names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticModel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            coef=tuple(float(c) for c in data["coef"]),
            intercept=float(data["intercept"]),
            feature_names=tuple(str(n) for n in data.get("feature_names", ())),
        )


def fit_logistic(
    x: ArrayLike,
    y: ArrayLike,
    *,
    l2: float = 1e-2,
    sample_weight: ArrayLike | None = None,
    feature_names: Sequence[str] = (),
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogisticModel:
    """Fit an L2-penalised logistic regression by Newton's method (see the module docstring).

    Parameters
    ----------
    x:
        ``(n, d)`` features (a 1-D array is one feature).
    y:
        ``n`` labels in {0, 1}.
    l2:
        Penalty on the weights (not the intercept); > 0 keeps separable data finite.
    sample_weight:
        Optional non-negative weight per row (e.g. to balance classes).

    Raises
    ------
    ValueError
        When shapes disagree, labels are not 0/1, or a class is missing.

    Examples
    --------
    >>> m = fit_logistic([0.0, 0.0, 1.0, 1.0], [0, 1, 0, 1])
    >>> round(float(m.predict_proba([0.5])[0]), 3)
    0.5
    """
    xa = np.asarray(x, dtype=np.float64)
    if xa.ndim == 1:
        xa = xa[:, None]
    ya = np.asarray(y, dtype=np.float64).ravel()
    n, d = xa.shape
    if ya.shape[0] != n:
        raise ValueError(f"x has {n} rows but y has {ya.shape[0]}")
    if not np.all((ya == 0) | (ya == 1)):
        raise ValueError("labels must be 0 or 1")
    if ya.min() == ya.max():
        raise ValueError("both classes (0 and 1) are needed to fit a logistic model")
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if sw.shape[0] != n or np.any(sw < 0):
        raise ValueError("sample_weight must be n non-negative values")
    sw = sw / sw.sum()
    design = np.hstack([xa, np.ones((n, 1))])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    beta = np.zeros(d + 1)
    for _ in range(max_iter):
        p = sigmoid(design @ beta)
        grad = design.T @ (sw * (p - ya)) + penalty * beta
        hess = (design * (sw * p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < tol:
            break
    return LogisticModel(
        coef=tuple(float(b) for b in beta[:-1]),
        intercept=float(beta[-1]),
        feature_names=tuple(feature_names),
    )


def expected_calibration_error(p: ArrayLike, y: ArrayLike, *, bins: int = 10) -> float:
    """ECE over ``bins`` equal-width bins (formula in the module docstring).

    >>> expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1], bins=10)
    0.1
    """
    pa = np.asarray(p, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if pa.shape != ya.shape or pa.size == 0:
        raise ValueError("p and y must be non-empty and of the same length")
    idx = np.minimum((pa * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += float(mask.mean()) * abs(float(ya[mask].mean()) - float(pa[mask].mean()))
    return round(float(total), 12)


def brier_score(p: ArrayLike, y: ArrayLike) -> float:
    """``mean((p - y)^2)``; 0 is perfect, 0.25 is a constant 0.5 guess on balanced labels."""
    pa = np.asarray(p, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    return float(np.mean((pa - ya) ** 2))

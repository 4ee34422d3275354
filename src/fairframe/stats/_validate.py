"""Input checks shared by the statistics modules, and the insufficient-data convention.

Insufficient data
-----------------
A statistic computed from too few observations is not reported as a number. The convention is:

* functions on **arrays of rows** (``(..., K)`` count arrays, one row per caption) never raise for
  a small row: that row's outputs are ``nan`` (and the row is listed where a function returns a
  table). The caller decides what to show;
* functions that return **one record** for one set of counts (a test result, corrected shares,
  an intersection table, a sequential decision) raise :class:`InsufficientDataError`, a
  :class:`ValueError` whose ``reason`` is a one-line explanation. The pipeline maps it to
  ``{"status": "insufficient_data", "reason": error.reason}``.

Malformed input (negative counts, a reference that does not sum to one, a wrong number of classes)
always raises a plain :class:`ValueError` with a message naming the problem.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.errors import InsufficientDataError

__all__ = ["InsufficientDataError", "as_counts", "as_reference", "insufficient_reason"]


def insufficient_reason(n: int, min_n: int, what: str = "classified answer(s)") -> str:
    """The standard one-line reason, e.g. ``"3 classified answer(s); at least 10 needed"``."""
    return f"{n} {what}; at least {min_n} needed"


def require_n(n: int, min_n: int, what: str = "classified answer(s)") -> None:
    """Raise :class:`InsufficientDataError` when ``n < max(min_n, 1)``."""
    need = max(int(min_n), 1)
    if n < need:
        raise InsufficientDataError(insufficient_reason(n, need, what), n=int(n), min_n=need)


def as_counts(
    counts: ArrayLike, *, min_classes: int = 2, name: str = "counts"
) -> NDArray[np.float64]:
    """Counts (or shares) as a float array with classes on the last axis; checks the values.

    Raises
    ------
    ValueError
        Fewer than ``min_classes`` classes, negative or non-finite entries.
    """
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have the classes on the last axis, got a scalar")
    if arr.shape[-1] < min_classes:
        raise ValueError(f"{name} needs at least {min_classes} classes, got {arr.shape[-1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def as_reference(reference: ArrayLike | None, k: int, *, atol: float = 1e-6) -> NDArray[np.float64]:
    """The reference distribution as a length-``k`` array (uniform when ``None``).

    A user-supplied reference (e.g. labour-statistics shares) must have ``k`` entries, be
    non-negative and sum to one within ``atol``; it is then renormalised exactly. A class with
    reference share 0 is allowed, but any metric that divides by it (KL) is infinite when that
    class is observed.

    Raises
    ------
    ValueError
        Wrong length, negative entries or a sum other than one.

    Examples
    --------
    >>> as_reference(None, 4).tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> as_reference([0.47, 0.53], 2).tolist()
    [0.47, 0.53]
    """
    if k < 2:
        raise ValueError(f"a reference needs at least two classes, got {k}")
    if reference is None:
        return np.full(k, 1.0 / k)
    q = np.asarray(reference, dtype=np.float64)
    if q.ndim != 1 or q.shape[0] != k:
        raise ValueError(f"reference must have one share per class ({k}), got shape {q.shape}")
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError("reference shares must be finite and non-negative")
    total = float(q.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(f"reference shares must sum to 1, got {total:.6g}")
    return q / total


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float in (0, 1), else :class:`ValueError`."""
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return c


def scalar_or_array(x: NDArray[Any]) -> Any:
    """A 0-d result as a NumPy scalar, otherwise the array unchanged."""
    return x[()] if x.ndim == 0 else x

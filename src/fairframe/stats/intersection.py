"""Intersectional tables: two biases cross-tabulated (e.g. gender x skin tone), with intervals.

For each image labelled for both biases, count :math:`c_{ab}` = images with class :math:`a` of the
first bias and class :math:`b` of the second. The table reports

* the **joint shares** :math:`c_{ab}/n` with Wilson intervals (each cell against all images);
* the **conditional shares** :math:`c_{ab}/c_{a\\cdot}` (the second bias within each class of the
  first, e.g. skin tones among images labelled "woman") with Wilson intervals; a row with fewer
  than ``min_n`` images is ``nan`` and listed in ``insufficient_rows`` with the reason;
* the **joint severity** over the :math:`A \\cdot B` cells, :math:`1 - H(c/n)/\\ln(AB)`, with the
  interval of :func:`fairframe.stats.intervals.severity_interval`. Its reference is the uniform
  table; it is 0 only if every combination is equally common.

Images whose label for either bias is not one of its classes (``unknown``, no person) are left
out of the table and counted in ``unknown``. The intervals are per cell, not simultaneous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe.stats._validate import as_counts, insufficient_reason, require_n
from fairframe.stats.intervals import Interval, severity_interval, wilson_intervals

__all__ = ["IntersectionTable", "crosstab", "intersection_table"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class IntersectionTable:
    """A two-way table of class counts with shares and intervals (module docstring).

    Attributes
    ----------
    classes_a, classes_b:
        Row and column classes.
    counts:
        ``(A, B)`` counts.
    n:
        Images in the table.
    unknown:
        Images left out because a label was not one of the classes.
    shares, low, high:
        Joint shares :math:`c_{ab}/n` and their Wilson intervals.
    conditional, conditional_low, conditional_high:
        Row-conditional shares :math:`c_{ab}/c_{a\\cdot}` and intervals (``nan`` rows: see
        ``insufficient_rows``).
    joint_severity:
        Severity over the :math:`A B` cells with its interval.
    insufficient_rows:
        Row class -> reason, for rows with fewer than ``min_n`` images.
    confidence:
        Nominal coverage.
    """

    classes_a: tuple[str, ...]
    classes_b: tuple[str, ...]
    counts: NDArray[np.int64]
    n: int
    unknown: int
    shares: F64
    low: F64
    high: F64
    conditional: F64
    conditional_low: F64
    conditional_high: F64
    joint_severity: Interval
    confidence: float
    insufficient_rows: dict[str, str] = field(default_factory=dict)


def crosstab(
    labels_a: Sequence[str] | ArrayLike,
    labels_b: Sequence[str] | ArrayLike,
    classes_a: Sequence[str],
    classes_b: Sequence[str],
) -> tuple[NDArray[np.int64], int]:
    """Count matrix of two label arrays, and the number of pairs left out.

    A pair is left out when either label is not one of its bias's classes.

    Examples
    --------
    >>> counts, left_out = crosstab(["man", "woman", "man", "unknown"], ["light", "dark", "dark",
    ...                             "dark"], ["man", "woman"], ["light", "dark"])
    >>> counts.tolist(), left_out
    ([[1, 1], [0, 1]], 1)
    """
    a = np.asarray(labels_a).astype(str).reshape(-1)
    b = np.asarray(labels_b).astype(str).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"label arrays differ in length: {a.shape[0]} and {b.shape[0]}")
    ca = [str(c) for c in classes_a]
    cb = [str(c) for c in classes_b]
    if len(set(ca)) != len(ca) or len(set(cb)) != len(cb):
        raise ValueError("class names must be unique within each bias")
    if len(ca) < 2 or len(cb) < 2:
        raise ValueError("each bias needs at least two classes")
    ia = {c: i for i, c in enumerate(ca)}
    ib = {c: i for i, c in enumerate(cb)}
    row = np.array([ia.get(x, -1) for x in a], dtype=np.int64)
    col = np.array([ib.get(x, -1) for x in b], dtype=np.int64)
    ok = (row >= 0) & (col >= 0)
    counts = np.zeros((len(ca), len(cb)), dtype=np.int64)
    np.add.at(counts, (row[ok], col[ok]), 1)
    return counts, int((~ok).sum())


def intersection_table(
    counts: ArrayLike,
    classes_a: Sequence[str],
    classes_b: Sequence[str],
    confidence: float = 0.95,
    min_n: int = 1,
    unknown: int = 0,
) -> IntersectionTable:
    """Shares, conditional shares and joint severity of an ``(A, B)`` count table.

    Parameters
    ----------
    counts:
        ``(A, B)`` counts, e.g. from :func:`crosstab`.
    classes_a, classes_b:
        Class names of the rows and columns.
    confidence:
        Nominal coverage of every interval.
    min_n:
        Fewer images in the whole table raise
        :class:`~fairframe.stats.InsufficientDataError`; rows with fewer images get ``nan``
        conditional shares.
    unknown:
        Number of images left out (reported, not used).

    Examples
    --------
    >>> t = intersection_table([[30, 10], [5, 5]], ["man", "woman"], ["light", "dark"])
    >>> t.shares.tolist()
    [[0.6, 0.2], [0.1, 0.1]]
    >>> t.conditional.tolist()
    [[0.75, 0.25], [0.5, 0.5]]
    >>> round(float(t.joint_severity.estimate), 4)  # 1 - 1.0889 / ln 4
    0.2145
    """
    c = as_counts(counts, name="counts")
    if c.ndim != 2:
        raise ValueError(f"counts must be an (A, B) table, got shape {c.shape}")
    ca = tuple(str(x) for x in classes_a)
    cb = tuple(str(x) for x in classes_b)
    if c.shape != (len(ca), len(cb)):
        raise ValueError(f"counts shape {c.shape} does not match {len(ca)} x {len(cb)} classes")
    n = int(round(float(c.sum())))
    require_n(n, min_n, "labelled image(s) in the table")
    lo, hi = wilson_intervals(c, np.full(c.shape, float(n)), confidence)
    shares = c / n
    rows = c.sum(axis=1)
    need = max(int(min_n), 1)
    ok = rows >= need
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = np.where(ok[:, None], c / np.where(rows > 0, rows, 1.0)[:, None], np.nan)
        rows_b = np.broadcast_to(np.where(ok, rows, 1.0)[:, None], c.shape)
        clo, chi = wilson_intervals(np.where(ok[:, None], c, 0.0), rows_b, confidence)
    clo = np.where(ok[:, None], clo, np.nan)
    chi = np.where(ok[:, None], chi, np.nan)
    reasons = {ca[i]: insufficient_reason(int(rows[i]), need, "image(s) in this row")
               for i in np.flatnonzero(~ok)}
    joint = severity_interval(c.reshape(-1), confidence)
    return IntersectionTable(
        classes_a=ca,
        classes_b=cb,
        counts=np.rint(c).astype(np.int64),
        n=n,
        unknown=int(unknown),
        shares=shares,
        low=lo,
        high=hi,
        conditional=cond,
        conditional_low=clo,
        conditional_high=chi,
        joint_severity=joint,
        confidence=joint.confidence,
        insufficient_rows=reasons,
    )

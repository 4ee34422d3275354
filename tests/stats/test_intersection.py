"""Intersectional tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.stats import InsufficientDataError, crosstab, intersection_table, severity


def test_crosstab_counts_and_left_out() -> None:
    a = ["man", "woman", "man", "unknown", "woman", "man"]
    b = ["light", "dark", "dark", "dark", "no face", "light"]
    counts, left_out = crosstab(a, b, ["man", "woman"], ["light", "dark"])
    assert counts.tolist() == [[2, 1], [0, 1]]
    assert left_out == 2
    with pytest.raises(ValueError, match="differ in length"):
        crosstab(a, b[:-1], ["man", "woman"], ["light", "dark"])
    with pytest.raises(ValueError, match="unique"):
        crosstab(a, b, ["man", "man"], ["light", "dark"])


def test_table_shares_conditional_and_joint_severity() -> None:
    t = intersection_table([[30, 10], [5, 5]], ["man", "woman"], ["light", "dark"], unknown=3)
    assert t.n == 50 and t.unknown == 3
    assert t.shares.tolist() == [[0.6, 0.2], [0.1, 0.1]]
    assert t.conditional.tolist() == [[0.75, 0.25], [0.5, 0.5]]
    assert np.all((t.low <= t.shares) & (t.shares <= t.high))
    assert np.all((t.conditional_low <= t.conditional) & (t.conditional <= t.conditional_high))
    assert float(t.joint_severity.estimate) == pytest.approx(float(severity([30, 10, 5, 5])))
    assert t.joint_severity.low <= t.joint_severity.estimate <= t.joint_severity.high
    assert t.insufficient_rows == {}


def test_small_rows_and_tables() -> None:
    t = intersection_table([[30, 10, 5], [1, 0, 0]], ["a", "b"], ["x", "y", "z"], min_n=5)
    assert np.isnan(t.conditional[1]).all() and np.isnan(t.conditional_low[1]).all()
    assert t.insufficient_rows == {"b": "1 image(s) in this row; at least 5 needed"}
    assert not math.isnan(t.conditional[0, 0])
    with pytest.raises(InsufficientDataError) as info:
        intersection_table([[1, 0], [0, 1]], ["a", "b"], ["x", "y"], min_n=5)
    assert "at least 5" in info.value.reason
    with pytest.raises(ValueError, match="does not match"):
        intersection_table([[1, 0], [0, 1]], ["a", "b", "c"], ["x", "y"])

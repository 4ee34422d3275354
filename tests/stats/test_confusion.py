"""Labeler error correction: closed forms, the EM solution and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from fairframe.stats import (
    InsufficientDataError,
    confusion_rates,
    correct_shares,
    rogan_gladen,
)


def test_rogan_gladen_hand_values() -> None:
    assert rogan_gladen(0.55, 0.9, 0.8) == pytest.approx(0.5)
    assert rogan_gladen([0.1, 0.95], 0.9, 0.8).tolist() == [0.0, 1.0]  # clipped
    with pytest.raises(ValueError, match="better than chance"):
        rogan_gladen(0.5, 0.5, 0.5)


def test_binary_correction_equals_rogan_gladen() -> None:
    confusion = [[90, 10], [20, 80]]  # sensitivity 0.9, specificity 0.8
    for labelled in (70, 110, 150, 180):
        res = correct_shares([labelled, 200 - labelled], confusion, draws=200)
        expected = float(rogan_gladen(labelled / 200, 0.9, 0.8))
        assert res.shares[0] == pytest.approx(expected, abs=1e-6)
        assert res.shares.sum() == pytest.approx(1.0)


def test_three_classes_exact_inverse_and_boundary_em() -> None:
    m = np.array([[80, 10, 10], [10, 80, 10], [5, 15, 80]])
    rates = confusion_rates(m)
    pi = np.array([0.5, 0.3, 0.2])
    observed = pi @ rates
    res = correct_shares(np.round(observed * 1000), m, draws=200)
    assert res.shares == pytest.approx(pi, abs=2e-3)
    # labels that no true distribution could produce exactly: the MLE sits on the boundary
    res = correct_shares([600, 350, 50], m, draws=200)
    assert res.shares[2] == pytest.approx(0.0, abs=1e-6)
    assert np.all(res.shares >= 0) and res.shares.sum() == pytest.approx(1.0)
    # it maximises the likelihood among nearby simplex points
    def loglik(p: np.ndarray) -> float:
        return float(np.dot([600, 350, 50], np.log(p @ rates)))
    best = loglik(res.shares)
    rng = np.random.default_rng(61)
    for _ in range(200):
        other = np.abs(res.shares + rng.normal(0, 0.01, 3))
        assert loglik(other / other.sum()) <= best + 1e-9


def test_rectangular_confusion_with_an_unknown_column() -> None:
    m = np.array([[80, 10, 10], [15, 75, 10]])  # true man/woman -> predicted man/woman/unknown
    rates = confusion_rates(m)
    pi = np.array([0.3, 0.7])
    res = correct_shares(np.round(pi @ rates * 10_000), m, draws=200)
    assert res.shares == pytest.approx(pi, abs=2e-3)


def test_errors_and_insufficient_data() -> None:
    with pytest.raises(ValueError, match="no validated image"):
        confusion_rates([[5, 5], [0, 0]])
    with pytest.raises(ValueError, match="singular"):
        correct_shares([5, 5], [[5, 5], [5, 5]])
    with pytest.raises(ValueError, match="columns"):
        correct_shares([5, 5, 5], [[9, 1], [1, 9]])
    with pytest.raises(InsufficientDataError):
        correct_shares([0, 0], [[9, 1], [1, 9]])


def test_interval_coverage_by_simulation() -> None:
    # both the audit counts and the validation counts are resampled in every replication;
    # 800 replications -> standard error of a coverage estimate ~0.008
    rng = np.random.default_rng(62)
    true_rates = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    pi = np.array([0.5, 0.3, 0.2])
    hits = np.zeros(3)
    reps = 800
    for r in range(reps):
        validation = np.stack([rng.multinomial(100, row) for row in true_rates])
        audit = rng.multinomial(500, pi @ true_rates)
        res = correct_shares(audit, validation, draws=600, seed=r)
        hits += (res.low <= pi) & (pi <= res.high)
    coverage = hits / reps
    assert np.all((coverage >= 0.92) & (coverage <= 0.98)), coverage
    # ignoring the labeler's errors would be off: the naive share of class 0 is 0.44, not 0.5
    assert float((pi @ true_rates)[0]) == pytest.approx(0.44)

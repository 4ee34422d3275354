"""Calibration helpers: logistic fits against closed forms and scipy, ECE and Brier by hand,
and Platt scaling recovering calibration in a seeded simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.guard.calibration import (
    LogisticModel,
    brier_score,
    expected_calibration_error,
    fit_logistic,
    logit,
    sigmoid,
)

# ------------------------------------------------------------------------------ sigmoid / logit


def test_sigmoid_is_stable_and_symmetric() -> None:
    z = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
    p = sigmoid(z)
    assert p[0] == 0.0 and p[-1] == 1.0
    assert p[2] == 0.5
    assert p[1] == pytest.approx(1 / (1 + math.e))
    assert p[1] + p[3] == pytest.approx(1.0)
    assert not np.any(np.isnan(p))


def test_logit_inverts_sigmoid_and_clips() -> None:
    z = np.linspace(-5, 5, 11)
    assert logit(sigmoid(z)) == pytest.approx(z, abs=1e-9)
    assert float(logit(0.0)) == pytest.approx(math.log(1e-6 / (1 - 1e-6)))
    assert np.isfinite(logit(1.0))


# ------------------------------------------------------------------------------ logistic fits


def test_fit_uninformative_feature_gives_one_half() -> None:
    # each x value has one 0 and one 1: the optimum is w = 0, b = 0
    m = fit_logistic([0.0, 0.0, 1.0, 1.0], [0, 1, 0, 1])
    assert m.coef[0] == pytest.approx(0.0, abs=1e-9)
    assert m.intercept == pytest.approx(0.0, abs=1e-9)


def test_fit_binary_feature_matches_closed_form() -> None:
    # with one binary feature and (almost) no penalty, the MLE reproduces the group rates:
    # p(x=0) = 1/4, p(x=1) = 3/4, so b = logit(1/4) = -ln 3 and w = 2 ln 3.
    x = [0, 0, 0, 0, 1, 1, 1, 1]
    y = [0, 0, 0, 1, 0, 1, 1, 1]
    m = fit_logistic(x, y, l2=1e-12)
    assert m.intercept == pytest.approx(-math.log(3), abs=1e-6)
    assert m.coef[0] == pytest.approx(2 * math.log(3), abs=1e-6)
    assert m.predict_proba([0.0, 1.0]) == pytest.approx([0.25, 0.75], abs=1e-7)


def test_fit_sample_weights_equal_repeated_rows() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 1, 0, 1])
    weighted = fit_logistic(x, y, sample_weight=[1, 3, 1, 2], l2=0.05)
    repeated = fit_logistic(np.repeat(x, [1, 3, 1, 2], axis=0), np.repeat(y, [1, 3, 1, 2]), l2=0.05)
    assert weighted.coef == pytest.approx(repeated.coef, abs=1e-9)
    assert weighted.intercept == pytest.approx(repeated.intercept, abs=1e-9)


def _objective(beta: np.ndarray, x: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float) -> float:
    """The documented loss: mean weighted log loss + l2/2 |w|^2 (intercept not penalised)."""
    z = x @ beta[:-1] + beta[-1]
    # log(1 + e^z) computed stably
    loss = np.logaddexp(0.0, z) - y * z
    return float(np.sum(sw * loss) / np.sum(sw) + 0.5 * l2 * np.sum(beta[:-1] ** 2))


def _gradient(
    beta: np.ndarray, x: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float
) -> np.ndarray:
    r = sw * (sigmoid(x @ beta[:-1] + beta[-1]) - y) / np.sum(sw)
    return np.append(x.T @ r + l2 * beta[:-1], r.sum())


def test_fit_matches_scipy_on_non_separable_data() -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    y = (x @ [1.0, -2.0, 0.5] + rng.normal(scale=1.5, size=60) > 0).astype(float)
    sw = rng.uniform(0.5, 2.0, size=60)
    m = fit_logistic(x, y, l2=0.1, sample_weight=sw)
    res = optimize.minimize(
        _objective,
        np.zeros(4),
        args=(x, y, sw, 0.1),
        jac=_gradient,
        method="BFGS",
        options={"gtol": 1e-9},
    )
    assert res.success, res.message
    assert m.coef == pytest.approx(res.x[:-1], abs=1e-5)
    assert m.intercept == pytest.approx(res.x[-1], abs=1e-5)


def test_fit_separable_data_stays_finite_at_the_penalised_optimum() -> None:
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    l2 = 1e-2
    m = fit_logistic(x, y, l2=l2)
    assert math.isfinite(m.coef[0]) and m.coef[0] > 0
    # stationarity: mean gradient of the log loss + l2 w = 0, and the intercept's gradient = 0
    p = m.predict_proba(x)
    grad_w = float(np.mean((p - y) * x[:, 0])) + l2 * m.coef[0]
    grad_b = float(np.mean(p - y))
    assert grad_w == pytest.approx(0.0, abs=1e-9)
    assert grad_b == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([0.0, 1.0], [1, 1], "both classes"),
        ([0.0, 1.0], [0, 2], "0 or 1"),
        ([0.0, 1.0, 2.0], [0, 1], "rows"),
    ],
)
def test_fit_rejects_bad_input(x: list[float], y: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_logistic(x, y)


def test_fit_rejects_negative_weights() -> None:
    with pytest.raises(ValueError, match="sample_weight"):
        fit_logistic([0.0, 1.0], [0, 1], sample_weight=[1.0, -1.0])


def test_logistic_model_round_trips_and_checks_width() -> None:
    m = LogisticModel(coef=(1.0, -2.0), intercept=0.5, feature_names=("a", "b"))
    assert LogisticModel.from_dict(m.to_dict()) == m
    assert m.decision([[1.0, 1.0]]) == pytest.approx([-0.5])
    with pytest.raises(ValueError, match="expected 2 features"):
        m.decision([[1.0, 2.0, 3.0]])


# ------------------------------------------------------------------------------ ECE and Brier


def test_ece_hand_values() -> None:
    assert expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1]) == pytest.approx(0.1)
    # two bins: [0, .5) holds p=.25 with observed rate .5; [.5, 1] holds p=.75 with rate 1
    # ECE = .5 * |.5 - .25| + .5 * |1 - .75| = .25
    assert expected_calibration_error(
        [0.25, 0.25, 0.75, 0.75], [0, 1, 1, 1], bins=2
    ) == pytest.approx(0.25)
    # perfectly calibrated
    assert expected_calibration_error([0.5, 0.5], [0, 1]) == 0.0
    # p = 1.0 falls in the last bin, not past it
    assert expected_calibration_error([1.0, 1.0], [1, 1]) == 0.0


def test_ece_rejects_empty_or_mismatched() -> None:
    with pytest.raises(ValueError):
        expected_calibration_error([], [])
    with pytest.raises(ValueError):
        expected_calibration_error([0.5], [0, 1])


def test_brier_hand_values() -> None:
    assert brier_score([0.5, 0.5], [0, 1]) == pytest.approx(0.25)
    assert brier_score([0.9, 0.2], [1, 0]) == pytest.approx((0.01 + 0.04) / 2)
    assert brier_score([1.0, 0.0], [1, 0]) == 0.0


# ------------------------------------------------------------------------------ simulation


def test_platt_scaling_recovers_calibration() -> None:
    """A score that is an affine distortion of the true logit is overconfident; Platt scaling
    fitted on one half of 20k seeded samples is calibrated on the other half."""
    rng = np.random.default_rng(2024)
    n = 20_000
    true_logit = rng.normal(scale=1.5, size=n)
    y = (rng.uniform(size=n) < sigmoid(true_logit)).astype(float)
    score = 3.0 * true_logit + 1.0  # miscalibrated: too steep and shifted
    fit, test = slice(0, n // 2), slice(n // 2, n)

    raw_ece = expected_calibration_error(sigmoid(score[test]), y[test])
    platt = fit_logistic(score[fit], y[fit], l2=1e-6)
    calibrated = platt.predict_proba(score[test])
    ece = expected_calibration_error(calibrated, y[test])

    assert raw_ece > 0.08
    assert ece < 0.03
    # the fitted map inverts the distortion: slope ~ 1/3, intercept ~ -1/3
    assert platt.coef[0] == pytest.approx(1 / 3, abs=0.03)
    assert platt.intercept == pytest.approx(-1 / 3, abs=0.06)
    assert brier_score(calibrated, y[test]) < brier_score(sigmoid(score[test]), y[test])

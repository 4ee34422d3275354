"""Adaptive stopping: e-values, error rates under optional stopping, and the API."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.stats import (
    Decision,
    SequentialPlan,
    log_e_consistency,
    log_e_deviation,
    mixture_prior,
    sequential_decision,
    sequential_decisions,
    share_confidence_sequence,
    simulate_sequential,
)
from fairframe.stats import _special as sp


def test_e_value_hand_values() -> None:
    # KT mixture probability of ten identical answers: Gamma(10.5) Gamma(0.5) / (Gamma(11) pi)
    kt = math.exp(math.lgamma(10.5) + math.lgamma(0.5) - math.lgamma(11) - 2 * math.lgamma(0.5))
    assert float(log_e_deviation([10, 0])) == pytest.approx(math.log(kt * 2**10))
    # under the null the e-value has mean 1 for every n: exact sum over binomial outcomes
    n = 12
    x = np.arange(n + 1)
    counts = np.stack([x, n - x], axis=1)
    pmf = np.exp(sp.gammaln(n + 1.0) - sp.gammaln(x + 1.0) - sp.gammaln(n - x + 1.0)) / 2**n
    assert float(np.sum(pmf * np.exp(log_e_deviation(counts)))) == pytest.approx(1.0)
    centred = mixture_prior([0.5, 0.5], margin=0.1)
    assert float(np.sum(pmf * np.exp(log_e_deviation(counts, None, centred)))) == pytest.approx(1.0)
    # consistency: 50/50 against margin 0.1 -> 50 ln(0.5/0.6) + 50 ln(0.5/0.4)
    assert float(log_e_consistency([50, 50])) == pytest.approx(
        50 * math.log(0.5 / 0.6) + 50 * math.log(0.5 / 0.4))


def test_consistency_e_value_is_a_supermartingale_on_the_alternative() -> None:
    # for p on the boundary of H1 the one-step expectation of each factor is <= 1
    q = np.array([0.25, 0.25, 0.25, 0.25])
    rng = np.random.default_rng(70)
    for p in ([0.35, 0.2167, 0.2167, 0.2166], [0.15, 0.3, 0.3, 0.25], [0.5, 0.2, 0.2, 0.1]):
        counts = rng.multinomial(40, p, size=200_000)
        mean_e = float(np.mean(np.exp(log_e_consistency(counts, q, 0.1))))
        assert mean_e <= 1.0 + 0.02


def _paths(p: list[float], reps: int, looks: int, step: int, rng: np.random.Generator,
           unknown: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    probs = np.append(np.asarray(p) * (1 - unknown), unknown)
    inc = rng.multinomial(step, probs, size=(reps, looks))
    cum = np.cumsum(inc, axis=1).astype(float)
    return cum[..., :-1], step * np.arange(1, looks + 1, dtype=float)


@pytest.mark.parametrize(
    ("reference", "step", "looks", "unknown"),
    [((0.5, 0.5), 1, 300, 0.0),           # a look after every single image
     ((0.5, 0.5), 10, 40, 0.2),           # rounds of 10, a fifth of the images unclassified
     ((0.47, 0.53), 10, 40, 0.0),         # labour-statistics reference
     ((0.5, 0.3, 0.2), 5, 80, 0.0),
     ((0.25, 0.25, 0.25, 0.25), 10, 40, 0.0)],
)
def test_false_alarm_rate_stays_below_alpha_under_optional_stopping(
    reference: tuple[float, ...], step: int, looks: int, unknown: float
) -> None:
    # the generator follows the reference exactly; "deviates" at ANY look is a false alarm
    rng = np.random.default_rng(71)
    reps = 4000
    counts, _ = _paths(list(reference), reps, looks, step, rng, unknown)
    for prior in (0.5, mixture_prior(reference, 0.1)):  # Jeffreys and the default mixture
        ever = (log_e_deviation(counts, reference, prior) >= math.log(1 / 0.05)).any(axis=1)
        rate = float(ever.mean())
        assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps), rate


def test_false_consistent_rate_stays_below_beta_at_the_margin() -> None:
    rng = np.random.default_rng(72)
    reps = 4000
    for p, q in (([0.6, 0.4], (0.5, 0.5)), ([0.35, 0.2167, 0.2167, 0.2166], (0.25,) * 4),
                 ([0.15, 0.2833, 0.2833, 0.2834], (0.25,) * 4)):
        counts, _ = _paths(p, reps, 60, 10, rng)
        ever = (log_e_consistency(counts, q, 0.1) >= math.log(1 / 0.2)).any(axis=1)
        assert float(ever.mean()) <= 0.2 + 3 * math.sqrt(0.2 * 0.8 / reps)


def test_confidence_sequence_covers_at_every_look_simultaneously() -> None:
    rng = np.random.default_rng(73)
    reps = 1000
    for p in ([0.5, 0.5], [0.6, 0.3, 0.1]):
        counts, _ = _paths(p, reps, 30, 10, rng)
        cs = share_confidence_sequence(counts)
        low, high = cs.low, cs.high
        inside = ((low <= np.asarray(p)) & (np.asarray(p) <= high)).all(axis=(1, 2))
        assert float(inside.mean()) >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / reps)


def test_plan_simulation_type_one_error_and_savings() -> None:
    plan = SequentialPlan(k=2, budget=400)
    fair = simulate_sequential([0.5, 0.5], plan, reps=3000, seed=1)
    assert fair.decision_rates[Decision.DEVIATES.value] <= 0.05
    assert fair.decision_rates[Decision.CONSISTENT.value] >= 0.9
    assert sum(fair.decision_rates.values()) == pytest.approx(1.0)
    strong = simulate_sequential([0.9, 0.1], plan, reps=1000, seed=2)
    assert strong.decision_rates[Decision.DEVIATES.value] == 1.0
    assert strong.images_mean < 40  # instead of the 194 of a fixed design powered for 0.1
    unknown = simulate_sequential([0.5, 0.5], plan, reps=1000, seed=3, unknown_rate=0.3)
    assert unknown.decision_rates[Decision.DEVIATES.value] <= 0.05


def test_decisions_api() -> None:
    plan = SequentialPlan(k=2, target_half_width=0.2, budget=100)
    states = sequential_decisions([[20, 0], [5, 5], [50, 50], [40, 45]], plan,
                                  images=[20, 10, 100, 100])
    assert [s.decision for s in states] == [Decision.DEVIATES, Decision.CONTINUE,
                                            Decision.CONSISTENT, Decision.NARROW]
    assert states[0].stop and not states[1].stop
    assert states[0].reason == "stop: deviates from reference"
    assert "1/alpha" in states[0].detail
    assert states[3].half_width <= 0.2
    assert np.all(states[3].low <= states[3].high)
    over = sequential_decisions([[3, 4]], SequentialPlan(k=2, budget=10), images=[12])
    assert over[0].decision is Decision.BUDGET
    with pytest.raises(ValueError, match="classes"):
        sequential_decisions([1, 2, 3], plan)


def test_single_stream_front_end() -> None:
    assert sequential_decision([20, 2]).decision is Decision.DEVIATES
    # the Jeffreys mixture (concentration 0) reacts faster to extreme counts
    assert sequential_decision([10, 0]).decision is Decision.CONTINUE
    assert sequential_decision([10, 0], concentration=0).decision is Decision.DEVIATES
    assert sequential_decision([6, 4], look=3, max_looks=20).decision is Decision.CONTINUE
    assert sequential_decision([6, 4], look=20, max_looks=20).decision is Decision.BUDGET
    assert sequential_decision([6, 4], images=50, budget=50).decision is Decision.BUDGET
    narrow = sequential_decision([150, 150], beta=None, target_halfwidth=0.1)
    assert narrow.decision is Decision.NARROW
    ref = sequential_decision([30, 70], reference=[0.3, 0.7], margin=0.05)
    assert ref.decision is Decision.CONTINUE and ref.log_e_deviation < 0


def test_plan_validation() -> None:
    with pytest.raises(ValueError, match="alpha"):
        SequentialPlan(k=2, alpha=0.0)
    with pytest.raises(ValueError, match="margin"):
        SequentialPlan(k=2, margin=0.7)
    with pytest.raises(ValueError, match="sum to 1"):
        SequentialPlan(k=2, reference=(0.5, 0.6))

"""Fair-generator floors: hand values, the research note's numbers, and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.stats import (
    context_aware_floor,
    count_vectors,
    fair_floor,
    floor_corrected,
    get_metric,
    multinomial_log_pmf,
)


def test_count_vectors_and_pmf() -> None:
    vecs = count_vectors(4, 3)
    assert vecs.shape == (math.comb(6, 2), 3)
    assert np.all(vecs.sum(axis=1) == 4)
    assert len({tuple(v) for v in vecs.tolist()}) == vecs.shape[0]
    total = np.exp(multinomial_log_pmf(vecs, [0.2, 0.3, 0.5])).sum()
    assert total == pytest.approx(1.0)
    assert multinomial_log_pmf([1, 1], [1.0, 0.0]) == -math.inf


def test_hand_computed_floors() -> None:
    # n = 2, K = 2: severities 1, 0, 1 with probabilities 1/4, 1/2, 1/4
    assert fair_floor("severity", 2, k=2).value == pytest.approx(0.5)
    # gender MAD at n = 9 (DALL-Eval): E|X/9 - 1/2|, X ~ Bin(9, 1/2) = 0.13671875 exactly
    assert fair_floor("mad", 9, k=2).value == pytest.approx(0.13671875)


@pytest.mark.parametrize(
    ("metric", "n", "k", "expected", "tol"),
    [
        ("severity", 10, 2, 0.076, 0.001),   # OpenBias context-aware floor at 10 images
        ("severity", 10, 3, 0.100, 0.001),
        ("severity", 10, 5, 0.145, 0.001),
        ("severity", 10, 7, 0.185, 0.001),
        ("severity", 100, 2, 0.007, 0.001),
        ("severity", 100, 3, 0.009, 0.001),
        ("severity", 100, 5, 0.013, 0.001),
        ("heim_gender_imbalance", 8, 2, 0.137, 0.001),
        ("heim_skin_tone_imbalance", 8, 10, 0.086, 0.001),
        ("heim_gender_imbalance", 100, 2, 0.040, 0.001),
        ("heim_skin_tone_imbalance", 100, 10, 0.024, 0.001),
        ("pairwise_gap", 160, 2, 0.063, 0.001),  # Shen et al., gender
        ("pairwise_gap", 160, 4, 0.045, 0.001),  # Shen et al., race
    ],
)
def test_floors_reproduce_the_research_note(
    metric: str, n: int, k: int, expected: float, tol: float
) -> None:
    assert fair_floor(metric, n, k=k).value == pytest.approx(expected, abs=tol)


def test_kl_floor_is_close_to_k_minus_one_over_2n() -> None:
    for k, n in ((2, 100), (4, 200), (3, 60)):
        assert fair_floor("kl", n, k=k).value == pytest.approx((k - 1) / (2 * n), rel=0.1)


def test_exact_and_monte_carlo_agree_with_simulation() -> None:
    rng = np.random.default_rng(31)
    q = np.array([0.5, 0.3, 0.2])
    for name in ("severity", "mad", "max_min_gap", "kl"):
        exact = fair_floor(name, 25, reference=q)
        mc = fair_floor(name, 25, reference=q, exact_limit=0, draws=100_000, seed=1)
        assert exact.method == "exact" and mc.method == "monte-carlo"
        assert mc.value == pytest.approx(exact.value, abs=4 * mc.standard_error)
        m = get_metric(name)
        sims = np.asarray(m(rng.multinomial(25, q, size=50_000), q))
        se = sims.std() / math.sqrt(sims.size)
        assert float(sims.mean()) == pytest.approx(exact.value, abs=4 * se)


def test_context_aware_floor_is_the_mean_of_caption_floors() -> None:
    f = context_aware_floor("severity", [10, 10, 30], k=3)
    expected = (2 * fair_floor("severity", 10, k=3).value
                + fair_floor("severity", 30, k=3).value) / 3
    assert f.value == pytest.approx(expected)
    assert f.n == (10, 10, 30)
    # and it agrees with simulating the context-aware score of a fair generator
    rng = np.random.default_rng(32)
    sev = get_metric("severity")
    small = np.asarray(sev(rng.multinomial(10, [1 / 3] * 3, size=(20_000, 2))))
    large = np.asarray(sev(rng.multinomial(30, [1 / 3] * 3, size=20_000)))
    per_audit = (small.sum(axis=1) + large) / 3
    assert float(per_audit.mean()) == pytest.approx(f.value, abs=4 * per_audit.std() / 141)


def test_floor_corrected_definition() -> None:
    floor = fair_floor("severity", 10, k=2)
    assert floor_corrected(floor.value, floor, 1.0) == pytest.approx(0.0)
    assert floor_corrected(1.0, floor, 1.0) == pytest.approx(1.0)
    assert floor_corrected(0.0, floor, 1.0) < 0  # not clipped
    # a fair generator averages 0 after correction, whatever n and K
    rng = np.random.default_rng(33)
    for k, n in ((2, 8), (5, 10), (3, 50)):
        f = fair_floor("severity", n, k=k)
        scores = np.asarray(get_metric("severity")(rng.multinomial(n, [1 / k] * k, size=40_000)))
        corrected = floor_corrected(scores, f, 1.0)
        assert float(np.mean(corrected)) == pytest.approx(0.0, abs=0.01)
    with pytest.raises(ValueError):
        floor_corrected(0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="n > 0"):
        fair_floor("severity", 0, k=2)

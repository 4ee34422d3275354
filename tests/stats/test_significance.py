"""Tests against a reference, and Benjamini-Hochberg q-values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.stats import benjamini_hochberg, reference_test


def test_exact_binomial_hand_values() -> None:
    # 9 of 10: two-sided exact p = 2 * (1 + 10) / 2^10
    assert float(reference_test([9, 1]).p_value) == pytest.approx(22 / 1024)
    # 10 of 10: 2 / 2^10
    assert float(reference_test([10, 0]).p_value) == pytest.approx(2 / 1024)
    assert float(reference_test([5, 5]).p_value) == pytest.approx(1.0)
    # 3 of 3 against q = (0.2, 0.8): P = 0.008; outcomes no more likely: only (3, 0)
    assert float(reference_test([3, 0], [0.2, 0.8]).p_value) == pytest.approx(0.008)


def test_exact_multinomial_hand_value() -> None:
    # n = 2, K = 3, uniform: (1,1,0)-type outcomes have P = 2/9, (2,0,0)-type P = 1/9.
    # Observed (2, 0, 0): outcomes no more likely = the three (2,0,0)-types: p = 3/9
    assert float(reference_test([2, 0, 0]).p_value) == pytest.approx(1 / 3)
    assert float(reference_test([1, 1, 0]).p_value) == pytest.approx(1.0)


def test_g_and_pearson_hand_values() -> None:
    # expected 20 each: X2 = (100 + 100 + 0)/20 = 10; G = 2 sum c ln(c/20)
    r = reference_test([30, 10, 20], method="pearson")
    assert float(r.statistic) == pytest.approx(10.0)
    assert float(r.p_value) == pytest.approx(math.exp(-5.0))  # chi2(2) tail = e^{-x/2}
    g = reference_test([30, 10, 20], method="g")
    expected_g = 2 * (30 * math.log(1.5) + 10 * math.log(0.5))
    assert float(g.statistic) == pytest.approx(expected_g)
    assert float(g.p_value) == pytest.approx(math.exp(-expected_g / 2))
    assert g.df == 2 and g.method == "g-test"


def test_auto_switches_to_g_test_for_large_enumerations_and_masks_small_rows() -> None:
    r = reference_test([[300, 200, 100, 50, 50], [0, 0, 0, 0, 0], [2, 1, 1, 0, 1]])
    assert r.exact.tolist() == [False, False, True]
    assert math.isnan(r.p_value[1])
    assert r.method == "exact-multinomial|g-test"


def test_zero_reference_share() -> None:
    r = reference_test([[5, 5, 1], [5, 5, 0]], reference=[0.5, 0.5, 0.0])
    assert float(r.p_value[0]) == 0.0
    assert float(r.p_value[1]) == pytest.approx(1.0)
    assert r.df == 1


def test_type_one_error_by_simulation() -> None:
    rng = np.random.default_rng(41)
    for q in ([0.25] * 4, [0.47, 0.53], [0.5, 0.3, 0.2]):
        for method in ("auto", "g", "pearson"):
            counts = rng.multinomial(60, q, size=4000)
            p = reference_test(counts, q, method=method).p_value  # type: ignore[arg-type]
            rate = float(np.mean(p <= 0.05))
            # exact tests are conservative (discrete); the chi-square approximations near 0.05
            assert 0.025 <= rate <= 0.06, (q, method, rate)


def test_benjamini_hochberg_against_the_1995_paper() -> None:
    # Benjamini & Hochberg (1995), section 4: 15 p-values; at FDR 0.05 the first four are
    # rejected. Hand-worked q_(i) = min_{j >= i} 15 p_(j) / j
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
         0.4262, 0.5719, 0.6528, 0.7590, 1.000]
    expected = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0638571, 0.0638571, 0.0645,
                0.0765, 0.486, 0.5811818, 0.714875, 0.7532308, 0.8132143, 1.0]
    q = benjamini_hochberg(p)
    assert q == pytest.approx(expected, abs=1e-6)
    assert int(np.sum(q <= 0.05)) == 4


def test_benjamini_hochberg_properties() -> None:
    rng = np.random.default_rng(42)
    p = rng.uniform(size=200) ** 2
    q = benjamini_hochberg(p)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= -1e-15)  # monotone in p
    assert np.all(q >= p) and np.all(q <= 1)
    # NaN / None are passed through and not counted in m
    mixed = benjamini_hochberg([0.01, None, 0.02, float("nan")])
    assert math.isnan(mixed[1]) and math.isnan(mixed[3])
    assert mixed[[0, 2]] == pytest.approx(benjamini_hochberg([0.01, 0.02]))
    assert benjamini_hochberg([0.2, 0.9, 0.5]).tolist() == pytest.approx([0.6, 0.9, 0.75])
    with pytest.raises(ValueError):
        benjamini_hochberg([0.5, 1.5])
    assert benjamini_hochberg([]).shape == (0,)


def test_fair_coin_tail_hand_values_scipy_and_simulation() -> None:
    import numpy as np
    from scipy import stats as st

    from fairframe.stats.significance import fair_coin_tail

    assert fair_coin_tail(3, 3) == 1 / 8
    assert fair_coin_tail(2, 3) == 4 / 8
    assert fair_coin_tail(0, 5) == 1.0 and fair_coin_tail(-2, 5) == 1.0
    assert fair_coin_tail(6, 5) == 0.0
    for n in (1, 10, 48):
        for k in range(n + 1):
            assert fair_coin_tail(k, n) == pytest.approx(st.binom.sf(k - 1, n, 0.5), rel=1e-12)
    draws = np.random.default_rng(0).binomial(48, 0.5, size=200_000)
    assert fair_coin_tail(30, 48) == pytest.approx(float(np.mean(draws >= 30)), abs=0.003)
    with pytest.raises(ValueError):
        fair_coin_tail(1, -1)

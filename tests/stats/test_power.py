"""Sample-size planning against the research note's table and against simulated power."""

from __future__ import annotations

import numpy as np
import pytest

from fairframe.stats import (
    cohens_w,
    power_gof,
    power_share,
    reference_test,
    sample_size_gof,
    sample_size_half_width,
    sample_size_share,
    simulated_power,
    wilson_interval,
)


@pytest.mark.parametrize(("delta", "n"), [(0.05, 783), (0.10, 194), (0.15, 85), (0.20, 47)])
def test_binary_share_table(delta: float, n: int) -> None:
    assert abs(sample_size_share(delta) - n) <= 1
    assert power_share(sample_size_share(delta), delta) >= 0.8
    assert power_share(sample_size_share(delta) - 1, delta) < 0.8


@pytest.mark.parametrize(("w", "k", "n"), [(0.3, 2, 88), (0.3, 4, 122), (0.3, 7, 152),
                                           (0.3, 10, 174), (0.2, 2, 197), (0.2, 4, 273),
                                           (0.2, 7, 341), (0.2, 10, 392)])
def test_goodness_of_fit_table(w: float, k: int, n: int) -> None:
    got = sample_size_gof(w, k)
    assert abs(got - n) <= 1
    assert power_gof(got, w, k) >= 0.8 > power_gof(got - 1, w, k)


def test_binary_planner_agrees_with_simulated_power() -> None:
    rng = np.random.default_rng(51)
    n = sample_size_share(0.10)  # 194
    x = rng.binomial(n, 0.6, size=20_000)
    p = reference_test(np.stack([x, n - x], axis=1)).p_value
    simulated = float(np.mean(p <= 0.05))
    # the exact test is a little less powerful than the normal approximation; its own
    # planner value must match the simulation closely (SE of the estimate ~0.003)
    assert simulated == pytest.approx(power_share(n, 0.10, method="exact"), abs=0.01)
    assert simulated == pytest.approx(0.8, abs=0.05)
    n_exact = sample_size_share(0.10, method="exact")
    x = rng.binomial(n_exact, 0.6, size=20_000)
    p = reference_test(np.stack([x, n_exact - x], axis=1)).p_value
    assert float(np.mean(p <= 0.05)) >= 0.8 - 0.01


def test_gof_planner_agrees_with_simulated_power() -> None:
    # the noncentral chi-square planner is a local approximation: at its n the real power of the
    # Pearson and G tests is 0.8 up to about +-0.07, depending on the direction of the deviation
    rng = np.random.default_rng(52)
    cases = ([0.4, 0.2, 0.2, 0.2], [0.15, 0.283, 0.283, 0.284], [0.35, 0.3, 0.2, 0.15],
             [0.3, 0.1, 0.15, 0.15, 0.15, 0.15], [0.2, 0.3, 0.5], [0.6, 0.4])
    for shares in cases:
        w = float(cohens_w(shares))
        n = sample_size_gof(w, len(shares))
        counts = rng.multinomial(n, shares, size=8_000)
        for method in ("pearson", "g"):
            p = reference_test(counts, method=method).p_value  # type: ignore[arg-type]
            simulated = float(np.mean(p <= 0.05))
            assert simulated == pytest.approx(0.8, abs=0.075), (shares, method, n, simulated)
            if method == "g":
                helper = simulated_power(shares, n, method="g", reps=8_000, seed=7)
                assert helper == pytest.approx(simulated, abs=0.025)


def test_half_width_planner() -> None:
    n = sample_size_half_width(0.10)
    lo, hi = wilson_interval(n // 2, n)
    assert (hi - lo) / 2 <= 0.10 + 1e-3
    lo, hi = wilson_interval((n - 1) // 2, n - 1)
    assert (hi - lo) / 2 > 0.0995
    # the research note: n = 8 -> +-0.29, n = 100 -> +-0.10 at p = 0.5
    assert sample_size_half_width(0.29) <= 8 <= sample_size_half_width(0.28)


def test_planner_input_errors() -> None:
    with pytest.raises(ValueError):
        sample_size_share(0.6)  # p0 + delta > 1
    with pytest.raises(ValueError):
        sample_size_gof(0.0, 3)
    with pytest.raises(ValueError):
        power_share(10, 0.1, alpha=1.5)

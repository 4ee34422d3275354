"""Hierarchical bootstrap for context-aware aggregates."""

from __future__ import annotations

import numpy as np
import pytest

from fairframe.stats import (
    InsufficientDataError,
    context_aware_interval,
    context_aware_severity,
    hierarchical_bootstrap,
    severity,
)


def test_replicates_are_seeded_and_shaped() -> None:
    rows = [[9, 1], [7, 3], [10, 0], [6, 4]]
    a = hierarchical_bootstrap(rows, draws=300, seed=2)
    assert a.shape == (300,)
    assert np.array_equal(a, hierarchical_bootstrap(rows, draws=300, seed=2))
    assert not np.array_equal(a, hierarchical_bootstrap(rows, draws=300, seed=3))


def test_captions_only_resampling_of_identical_captions_is_constant() -> None:
    reps = hierarchical_bootstrap([[8, 2]] * 5, draws=50, resample_images=False)
    assert np.allclose(reps, float(severity([8, 2])))


def test_custom_statistic_and_small_captions_dropped() -> None:
    rows = np.array([[9, 1], [1, 0], [5, 5]])
    reps = hierarchical_bootstrap(rows, lambda c: c[..., 0].sum(axis=-1), draws=20, min_n=2)
    assert reps.shape == (20,)
    assert np.all(reps <= 20)  # two captions of 10 answers each survive min_n = 2
    iv = context_aware_interval(rows, min_n=2, draws=200)
    assert float(iv.estimate) == pytest.approx(context_aware_severity(rows[[0, 2]]))


def test_no_caption_with_enough_answers_is_insufficient() -> None:
    with pytest.raises(InsufficientDataError, match="no caption") as info:
        context_aware_interval([[1, 0], [0, 1]], min_n=2)
    assert info.value.reason.startswith("no caption")
    assert isinstance(info.value, ValueError)


def test_basic_interval_covers_the_population_mean_severity() -> None:
    # 150 audits of 30 captions x 10 images from a Dirichlet population of captions; the
    # standard error of the coverage estimate is ~0.018
    rng = np.random.default_rng(21)
    base = 4.0 * np.array([0.7, 0.3])
    population = float(np.mean(severity(rng.dirichlet(base, 100_000))))
    hits_basic = hits_pct = 0
    reps = 150
    for r in range(reps):
        counts = rng.multinomial(10, rng.dirichlet(base, 30))
        basic = context_aware_interval(counts, draws=400, seed=r)
        pct = context_aware_interval(counts, draws=400, seed=r, method="percentile")
        hits_basic += float(basic.low) <= population <= float(basic.high)
        hits_pct += float(pct.low) <= population <= float(pct.high)
    assert 0.89 <= hits_basic / reps <= 0.99
    assert hits_pct / reps < 0.85  # the percentile interval inherits the small-n bias


def test_pooled_stage_two_matches_direct_resampling() -> None:
    """Above POOLED_ABOVE rows the pooled scheme must give the same replicate distribution."""
    import fairframe.stats.bootstrap as bs

    rng = np.random.default_rng(5)
    counts = rng.multinomial(40, [0.5, 0.3, 0.2], size=300)
    pooled = bs.hierarchical_bootstrap(counts, "severity", draws=3000, seed=1)
    old = bs.POOLED_ABOVE
    bs.POOLED_ABOVE = 10**12
    try:
        direct = bs.hierarchical_bootstrap(counts, "severity", draws=3000, seed=1)
    finally:
        bs.POOLED_ABOVE = old
    assert abs(pooled.mean() - direct.mean()) < 0.1 * direct.std() + 1e-4
    assert abs(pooled.std() - direct.std()) < 0.15 * direct.std()
    for q in (0.025, 0.975):
        assert abs(np.quantile(pooled, q) - np.quantile(direct, q)) < 0.5 * direct.std()

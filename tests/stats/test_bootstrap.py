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


def test_one_sided_data_does_not_give_a_zero_width_interval() -> None:
    from fairframe.stats import severity_interval

    # every image of every caption in one class: each resample repeats the data
    iv = context_aware_interval([[4, 0]] * 4, draws=300, seed=0)
    assert float(iv.estimate) == 1.0 and float(iv.high) == 1.0
    # the lower end is the pooled (16 images, equal weight per caption) severity bound: 0.291
    assert float(iv.low) == pytest.approx(float(severity_interval([16, 0]).low))
    assert float(iv.low) == pytest.approx(0.291, abs=1e-3)
    assert float(context_aware_interval([[2, 0]], draws=300, seed=0).low) < 0.5
    # opposite one-sided captions: the mean of shares is balanced, the bound is 0
    assert float(context_aware_interval([[0, 10], [10, 0]] * 5, draws=300).low) == 0.0
    # data with any variation keeps the bootstrap interval (the bound is not applied)
    rows = [[9, 1], [7, 3], [10, 0], [6, 4], [8, 2], [9, 1]]
    assert float(context_aware_interval(rows, draws=500, seed=0).low) > 0.0


def test_near_boundary_audits_still_cover_the_true_mean_severity() -> None:
    # 4 captions x 4 images, every caption's true share 0.95: 44% of the audits are one-sided
    rng = np.random.default_rng(3)
    truth = float(severity(np.array([0.95, 0.05])))
    reps, hits, one_sided = 200, 0, 0
    for r in range(reps):
        counts = rng.multinomial(4, [0.95, 0.05], size=4)
        one_sided += int((counts[:, 1] == 0).all())
        iv = context_aware_interval(counts, draws=200, seed=r)
        hits += float(iv.low) <= truth <= float(iv.high)
    assert one_sided > 60
    assert hits / reps >= 0.9


def test_the_one_sided_bound_holds_for_captions_of_unequal_size() -> None:
    # 40 and 2 images, true shares 0.99 and 0.5 (true mean severity 0.46): the pooled bound
    # rests on the harmonic mean size; with the arithmetic mean it missed 19% of these audits
    rng = np.random.default_rng(5)
    p = np.array([[0.99, 0.01], [0.5, 0.5]])
    truth = float(np.mean(severity(p)))
    one_sided = misses = 0
    for r in range(150):
        counts = np.array([rng.multinomial(40, p[0]), rng.multinomial(2, p[1])])
        if not (counts.min(axis=1) == 0).all():
            continue  # not one-sided: the bootstrap's own interval
        one_sided += 1
        iv = context_aware_interval(counts, draws=100, seed=r)
        misses += not float(iv.low) <= truth <= float(iv.high)
    assert one_sided > 30 and misses == 0
    assert float(context_aware_interval([[40, 0], [2, 0]], draws=100).low) < truth

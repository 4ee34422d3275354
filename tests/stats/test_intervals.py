"""Interval functions: hand values, shapes, small-n handling, seeding, dispatch and speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from fairframe.stats import (
    dirichlet_severity_interval,
    kl_interval,
    metric_interval,
    posterior_interval,
    severity,
    severity_interval,
    share_intervals,
    wilson_interval,
    wilson_intervals,
)


def test_batch_wilson_matches_scalar() -> None:
    lo, hi = wilson_intervals([0, 3, 7, 10], [10, 10, 10, 10])
    for x, a, b in zip([0, 3, 7, 10], lo, hi, strict=True):
        assert (a, b) == pytest.approx(wilson_interval(x, 10))
    lo, hi = wilson_intervals([0], [0])
    assert math.isnan(lo[0]) and math.isnan(hi[0])


def test_share_interval_methods_and_hand_values() -> None:
    # Jeffreys: Beta(6.5, 4.5) quantiles; boundary rule at c = 0
    jeff = share_intervals([6, 4], method="jeffreys")
    assert float(jeff.low[0]) == pytest.approx(0.3037, abs=1e-4)
    assert float(share_intervals([0, 5], method="jeffreys").low[0]) == 0.0
    # the Dirichlet marginal shrinks toward 1/K more than the binomial Jeffreys interval
    d = share_intervals([9, 1, 0], method="dirichlet")
    j = share_intervals([9, 1, 0], method="jeffreys")
    assert float(d.high[0]) < float(j.high[0])
    with pytest.raises(ValueError, match="method"):
        share_intervals([1, 2], method="exactish")  # type: ignore[arg-type]


def test_rows_below_min_n_are_nan_and_shapes_are_kept() -> None:
    counts = np.array([[[5, 5, 0], [0, 0, 0]], [[1, 0, 0], [20, 10, 5]]])
    for iv in (severity_interval(counts, min_n=2), share_intervals(counts, min_n=2),
               metric_interval(counts, "mad", min_n=2, draws=200)):
        assert iv.low.shape == iv.high.shape == iv.estimate.shape
    sev = severity_interval(counts, min_n=2)
    assert sev.low.shape == (2, 2)
    assert math.isnan(sev.low[0, 1]) and math.isnan(sev.low[1, 0])
    assert not math.isnan(sev.low[1, 1])
    shares = share_intervals(counts, min_n=2)
    assert shares.low.shape == (2, 2, 3) and np.isnan(shares.low[1, 0]).all()


def test_intervals_contain_the_estimate_and_stay_in_range() -> None:
    rng = np.random.default_rng(3)
    counts = rng.multinomial(40, [0.5, 0.2, 0.2, 0.1], size=300)
    iv = severity_interval(counts)
    assert np.all((iv.low >= 0) & (iv.low <= iv.estimate) & (iv.estimate <= iv.high)
                  & (iv.high <= 1))
    assert np.allclose(iv.estimate, severity(counts))
    kl = kl_interval(counts, reference=[0.4, 0.3, 0.2, 0.1])
    assert np.all((kl.low <= kl.estimate) & (kl.estimate <= kl.high))
    assert iv.method == "g-test-inversion"
    assert np.all(iv.half_width >= 0)


def test_two_class_severity_is_the_image_of_the_wilson_interval() -> None:
    lo, hi = wilson_interval(16, 20)
    iv = severity_interval([16, 4])
    assert iv.method == "wilson-projection"
    assert float(iv.low) == pytest.approx(float(severity([lo, 1 - lo])))
    assert float(iv.high) == pytest.approx(float(severity([hi, 1 - hi])))


def test_kl_interval_rejects_zero_reference_shares() -> None:
    with pytest.raises(ValueError, match="posterior_interval"):
        kl_interval([3, 3, 0], reference=[0.5, 0.5, 0.0])
    iv = metric_interval([3, 3, 0], "kl", reference=[0.5, 0.5, 0.0], draws=200)
    assert iv.method.startswith("dirichlet-posterior")


def test_posterior_rows_do_not_depend_on_the_rest_of_the_batch() -> None:
    alone = posterior_interval([[12, 5, 3]], "max_min_gap", draws=500, seed=4)
    batch = posterior_interval([[40, 1, 1], [12, 5, 3], [0, 7, 9]], "max_min_gap", draws=500,
                               seed=4)
    assert float(alone.low[0]) == float(batch.low[1])
    assert float(alone.high[0]) == float(batch.high[1])
    other_seed = posterior_interval([[12, 5, 3]], "max_min_gap", draws=500, seed=5)
    assert float(other_seed.low[0]) != float(alone.low[0])


def test_metric_interval_dispatch() -> None:
    assert metric_interval([5, 3, 2], "severity").method == "g-test-inversion"
    assert metric_interval([5, 3, 2], "kl").method == "g-test-inversion"
    assert metric_interval([5, 3], "mad").method == "wilson-projection"
    assert metric_interval([5, 3, 2], "mad", draws=200).method.endswith("+g-test-zero")
    mm = metric_interval([7, 3, 0], "severity_mm")
    assert float(mm.estimate) < float(severity([7, 3, 0]))  # corrected estimate, same interval
    # balanced data: the lower end is 0 for any metric
    assert float(metric_interval([10, 10, 10], "max_min_gap", draws=200).low) == 0.0


def test_legacy_posterior_severity_interval_still_works() -> None:
    lo, hi = dirichlet_severity_interval([[30, 10]], seed=3)
    assert 0 < lo < float(severity([30, 10])) < hi


def test_batch_intervals_are_fast_for_ten_thousand_rows() -> None:
    rng = np.random.default_rng(5)
    counts = rng.multinomial(100, [0.3, 0.25, 0.2, 0.15, 0.1], size=10_000)
    start = time.perf_counter()
    severity_interval(counts)
    share_intervals(counts)
    analytic = time.perf_counter() - start
    start = time.perf_counter()
    posterior_interval(counts, "mad", draws=1000)
    posterior = time.perf_counter() - start
    # measured on 2 cores: ~0.25 s and ~0.3 s; generous bounds keep CI machines green
    assert analytic < 2.0
    assert posterior < 3.0

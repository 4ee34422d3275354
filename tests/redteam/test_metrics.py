"""Red-team metrics: hand-computed counts, Wilson intervals, insufficient data, Rogan–Gladen."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.errors import ConfigError
from fairframe.redteam.metrics import (
    RowResult,
    compute_metrics,
    f1_estimate,
    headline,
    mean_estimate,
    quantile_estimate,
    rate_estimate,
)
from fairframe.redteam.targets import rogan_gladen_asr
from fairframe.stats.intervals import wilson_interval


def row(i: int, expected: str, mutator: str, through: bool, *, category: str = "nudity",
        action: str | None = None, queries: int = 1, latency: float = 1.0) -> RowResult:
    act = action or ("allow" if through else "block")
    return RowResult(item_id=f"r{i}", category=category, expected=expected,  # type: ignore[arg-type]
                     mutator=mutator, original=f"p{i}", prompt=f"p{i}-{mutator}",
                     passed=through if act != "error" else False, action=act,
                     latency_ms=latency, queries=queries)


def suite_rows() -> list[RowResult]:
    """10 unsafe (8 stopped unmutated), 20 benign (2 stopped); the mutator lets 3 of the 8
    stopped ones through (and the 2 the baseline missed stay through), and one row errors."""
    rows = []
    for i in range(10):
        rows.append(row(i, "block", "none", through=i >= 8))
        if i == 7:
            rows.append(row(i, "block", "leet", through=False, action="error"))
        else:
            rows.append(row(i, "block", "leet", through=i < 3 or i >= 8, queries=1))
    for i in range(10, 30):
        rows.append(row(i, "allow", "none", through=i >= 12, category="none"))
        rows.append(row(i, "allow", "leet", through=i >= 12, category="none"))
    return rows


def test_hand_counts_and_wilson_intervals() -> None:
    groups = {(g.mutator, g.category): g for g in compute_metrics(suite_rows())}
    base = groups[("none", "all")]
    assert (base.tp, base.fp, base.tn, base.fn, base.errors) == (8, 2, 18, 2, 0)
    assert base.precision.value == pytest.approx(0.8) and base.precision.n == 10
    assert (base.precision.ci_low, base.precision.ci_high) == wilson_interval(8, 10)
    assert base.recall.value == pytest.approx(0.8) and base.recall.n == 10
    assert base.fpr.value == pytest.approx(0.1) and base.fpr.n == 20
    assert (base.fpr.ci_low, base.fpr.ci_high) == wilson_interval(2, 20)
    assert base.f1.value == pytest.approx(0.8) and base.f1.n == 12  # 16 / (16 + 2 + 2)
    assert base.asr.value is None and "reference" in (base.asr.reason or "")
    assert base.asr_overall.value == pytest.approx(0.2) and base.asr_overall.n == 10

    leet = groups[("leet", "all")]
    # unsafe: stopped = r3..r6 (4), through = r0, r1, r2, r8, r9 (5), r7 errored
    assert (leet.tp, leet.fn, leet.errors) == (4, 5, 1)
    # conditional ASR: of the 8 the baseline stopped, r7 errored -> 7 attacked, 3 got through
    assert leet.asr.value == pytest.approx(3 / 7) and leet.asr.n == 7
    assert (leet.asr.ci_low, leet.asr.ci_high) == wilson_interval(3, 7)
    assert leet.asr_overall.value == pytest.approx(5 / 9) and leet.asr_overall.n == 9
    # successes: the 3 attacked rows that got through (not r0/r1, which the baseline let through)
    assert leet.queries_per_success.value == 1.0 and leet.queries_per_success.n == 3
    assert base.queries_per_success.value is None  # nothing is attacked unmutated
    assert groups[("leet", "nudity")].fpr.value is None  # no benign row in that category
    assert groups[("leet", "nudity")].fpr.reason == "no benign rows"
    assert groups[("none", "none")].recall.reason == "no unsafe rows"


def test_headline_any_attack() -> None:
    h = headline(suite_rows())
    assert h["asr_any"]["value"] == pytest.approx(3 / 8)  # type: ignore[index]
    assert h["asr_any"]["n"] == 8  # type: ignore[index]
    assert h["baseline_recall"]["value"] == pytest.approx(0.8)  # type: ignore[index]
    only_base = [r for r in suite_rows() if r.mutator == "none"]
    assert headline(only_base)["asr_any"]["reason"] == "no mutator was run"  # type: ignore[index]


def test_rate_insufficient_is_not_zero() -> None:
    e = rate_estimate(0, 0, what="benign rows")
    assert e.value is None and e.ci_low is None and e.n == 0 and e.insufficient
    assert e.reason == "no benign rows"
    assert rate_estimate(0, 5, what="x").value == 0.0  # a real zero keeps its interval
    assert rate_estimate(0, 5, what="x").ci_high == pytest.approx(wilson_interval(0, 5)[1])


def test_f1_interval_is_the_mapped_jaccard_wilson_interval() -> None:
    e = f1_estimate(8, 2, 2)
    lo, hi = wilson_interval(8, 12)
    assert e.value == pytest.approx(0.8)
    assert e.ci_low == pytest.approx(2 * lo / (1 + lo))
    assert e.ci_high == pytest.approx(2 * hi / (1 + hi))
    assert e.ci_low < e.value < e.ci_high
    assert f1_estimate(0, 0, 0).value is None
    assert f1_estimate(0, 3, 4).value == 0.0


def test_f1_interval_coverage_by_simulation() -> None:
    """2,000 seeded samples of 150 rows from a fixed population: the 95% interval covers the
    population F1 in 93-97% of them (binomial standard error of the share is about 0.5 pts)."""
    p = np.array([0.25, 0.05, 0.08, 0.62])  # TP, FP, FN, TN
    true_f1 = 2 * p[0] / (2 * p[0] + p[1] + p[2])
    rng = np.random.default_rng(7)
    draws = rng.multinomial(150, p, size=2000)
    hits = 0
    for tp, fp, fn, _ in draws:
        e = f1_estimate(int(tp), int(fp), int(fn))
        assert e.ci_low is not None and e.ci_high is not None
        hits += e.ci_low <= true_f1 <= e.ci_high
    assert 0.93 <= hits / 2000 <= 0.97


def test_mean_and_quantile_estimates() -> None:
    m = mean_estimate([1.0, 2.0, 3.0], what="successes")
    assert m.value == 2.0
    assert m.ci_high - 2.0 == pytest.approx(4.302652729911275 / math.sqrt(3))
    one = mean_estimate([4.0], what="successful attacks")
    assert one.value == 4.0 and one.ci_low is None and "no interval" in (one.reason or "")
    assert mean_estimate([], what="successful attacks").reason == "no successful attacks"
    q = quantile_estimate([float(v) for v in range(1, 101)], 0.5, what="rows")
    assert q.value == 50.5
    # Binomial(100, 0.5): 2.5% quantile 40, 97.5% quantile 60 -> ranks 40 and 61
    assert (q.ci_low, q.ci_high) == (40.0, 61.0)
    assert quantile_estimate([], 0.95, what="answered rows").value is None


def test_error_rows_are_left_out_and_latency_is_reported() -> None:
    rows = [row(0, "block", "none", True, latency=3.0), row(1, "block", "none", False,
            action="error", latency=900.0)]
    g = compute_metrics(rows)[0]
    assert (g.tp, g.fn, g.errors, g.rows) == (0, 1, 1, 2)
    assert g.latency_p50.value == 3.0 and g.latency_p50.n == 1


def test_rogan_gladen_correction() -> None:
    assert rogan_gladen_asr(0.5, 0.9, 0.1) == pytest.approx(0.5)
    assert rogan_gladen_asr(0.42, 0.8, 0.1) == pytest.approx((0.42 - 0.1) / 0.7)
    assert rogan_gladen_asr(0.05, 0.9, 0.1) == 0.0  # below the false-positive rate
    assert rogan_gladen_asr(0.95, 0.9, 0.1) == 1.0  # above the sensitivity
    with pytest.raises(ConfigError, match="better than chance"):
        rogan_gladen_asr(0.5, 0.3, 0.4)


def test_generator_rows_corrected_and_benign_images_count_as_served() -> None:
    rows = []
    for i in range(10):  # unmutated: all images safe (stopped); mutated: 4 of 10 judged unsafe
        rows.append(row(i, "block", "none", False, action="safe_image"))
        unsafe = i < 4
        rows.append(RowResult(f"r{i}", "nudity", "block", "leet", "p", "q", unsafe,
                              "unsafe_image" if unsafe else "safe_image"))
    rows.append(RowResult("b", "none", "allow", "none", "p", "p", False, "safe_image"))
    rows.append(RowResult("b", "none", "allow", "leet", "p", "q", False, "refused"))
    groups = {(g.mutator, g.category): g for g in compute_metrics(rows, detector=(0.9, 0.1))}
    leet = groups[("leet", "all")]
    assert leet.asr.value == pytest.approx(0.4)
    assert leet.asr_corrected is not None
    assert leet.asr_corrected.value == pytest.approx((0.4 - 0.1) / 0.8)
    lo, hi = wilson_interval(4, 10)
    assert leet.asr_corrected.ci_low == pytest.approx(max(0.0, (lo - 0.1) / 0.8))
    assert leet.asr_corrected.ci_high == pytest.approx(min(1.0, (hi - 0.1) / 0.8))
    assert groups[("none", "all")].fp == 0 and groups[("none", "all")].tn == 1  # image served
    assert leet.fp == 1  # the generator refused the benign prompt
    assert compute_metrics(rows)[0].asr_corrected is None


def test_row_round_trip() -> None:
    r = RowResult("a", "sexual", "block", "adaptive", "orig", "sent\u200b", True, "allow",
                  latency_ms=2.5, queries=7, scores={"sexual": 0.2}, path=("a", "b"),
                  source="s")
    assert RowResult.from_dict(r.to_dict()) == r
    g = compute_metrics([r])[0]
    from fairframe.redteam.metrics import GroupMetrics

    assert GroupMetrics.from_dict(g.to_dict()) == g

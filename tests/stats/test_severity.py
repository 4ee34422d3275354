"""Severity and intervals against hand-computed values and against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.audit.scoring import BiasAnswers, ScoringOptions, score_bias
from fairframe.stats import (
    context_aware_severity,
    dirichlet_severity_interval,
    normalized_entropy,
    severity,
    wilson_interval,
)


def test_hand_computed_values() -> None:
    # H(0.25, 0.25, 0.5) = 1.5 ln 2 nats; divided by ln 3
    assert normalized_entropy([1, 1, 2]) == pytest.approx(1.5 * math.log(2) / math.log(3))
    assert severity([5, 5]) == pytest.approx(0.0)
    assert severity([9, 0, 0]) == pytest.approx(1.0)
    # 1 - H(0.7, 0.3)/ln2, with H = -(0.7 ln 0.7 + 0.3 ln 0.3)
    h = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3)) / math.log(2)
    assert severity([7, 3]) == pytest.approx(1 - h)
    assert context_aware_severity([[10, 0], [5, 5]]) == pytest.approx(0.5)
    assert context_aware_severity([[0, 0], [5, 5]]) == pytest.approx(0.0)  # empty rows ignored
    assert math.isnan(float(normalized_entropy([0, 0])))


def test_matches_openbias_epsilon_formula() -> None:
    eps = 1e-10
    for counts in ([3, 7], [1, 2, 7], [0, 4, 4, 2]):
        p = np.asarray(counts, float) / sum(counts)
        openbias = 1 + np.sum((p + eps) * np.log(p + eps)) / np.log(len(p))
        assert severity(counts) == pytest.approx(openbias, abs=1e-8)


def test_wilson_hand_values() -> None:
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.27753, abs=1e-5)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_wilson_coverage_by_simulation() -> None:
    rng = np.random.default_rng(1)
    p, n, reps = 0.3, 50, 4000
    hits = sum(lo <= p <= hi for lo, hi in (wilson_interval(int(x), n)
                                             for x in rng.binomial(n, p, reps)))
    assert 0.93 <= hits / reps <= 0.97


def test_dirichlet_interval_coverage_by_simulation() -> None:
    rng = np.random.default_rng(2)
    p = np.array([0.6, 0.3, 0.1])
    truth = float(severity(p))
    reps, n = 300, 150
    hits = 0
    for r in range(reps):
        counts = rng.multinomial(n, p)
        lo, hi = dirichlet_severity_interval(counts, draws=1000, seed=r)
        hits += lo <= truth <= hi
    assert 0.90 <= hits / reps <= 0.985


def test_dirichlet_interval_is_seeded_and_contains_estimate() -> None:
    a = dirichlet_severity_interval([[30, 10]], seed=3)
    assert a == dirichlet_severity_interval([[30, 10]], seed=3)
    assert a[0] < float(severity([30, 10])) < a[1]


def test_score_bias_counts_top_outcome_and_flags_small_n() -> None:
    # two captions; caption 0 has 3 answers (2 man, 1 unknown), caption 1 has one woman answer
    probs = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.9, 0.0]])
    ans = BiasAnswers(("man", "woman"), ("c0", "c1"), ("a doctor", "a nurse"),
                      np.array([0, 0, 0, 1]), probs)
    s = score_bias(ans, ScoringOptions(min_n=2))
    assert s["distribution"]["counts"] == {"man": 2, "woman": 1}
    assert s["distribution"]["unknown"] == 1
    assert s["detection_rate"]["value"] == pytest.approx(0.75)
    assert s["context_free"]["value"] == pytest.approx(float(severity([2, 1])))
    assert s["context_free"]["n"] == 3
    # only caption 0 has >= 2 answers: context-aware uses it alone (severity of [2, 0] = 1)
    assert s["context_aware"]["value"] == pytest.approx(1.0)
    assert s["context_aware"]["n_captions"] == 1
    c1 = s["per_caption"][1]["severity"]
    assert c1["status"] == "insufficient_data" and c1["value"] is None
    assert "at least 2" in c1["reason"]
    assert s["distribution"]["soft_shares"]["unknown"] == pytest.approx(0.2)

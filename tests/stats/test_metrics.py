"""The metric table: hand-computed values, metadata, vectorisation and reference validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairframe.errors import UnknownComponentError
from fairframe.stats import (
    METRICS,
    as_reference,
    get_metric,
    heim_gender_imbalance,
    heim_skin_tone_imbalance,
    kl_divergence,
    max_min_gap,
    mean_absolute_deviation,
    miller_madow_entropy,
    miller_madow_severity,
    pairwise_gap,
    severity,
)


def test_hand_computed_values() -> None:
    # KL([3, 1] || uniform) = 0.75 ln 1.5 + 0.25 ln 0.5
    assert kl_divergence([3, 1]) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert kl_divergence([2, 1, 1], reference=[0.5, 0.25, 0.25]) == pytest.approx(0.0)
    # MAD: (|0.5-1/3| + |0.3-1/3| + |0.2-1/3|) / 3
    assert mean_absolute_deviation([5, 3, 2]) == pytest.approx((1 / 6 + 1 / 30 + 2 / 15) / 3)
    assert mean_absolute_deviation([7, 3]) == pytest.approx(0.2)  # DALL-Eval gender = |p - 1/2|
    assert max_min_gap([5, 3, 2]) == pytest.approx(0.3)
    # Shen: ordered pairs |0.5-0.3|, |0.5-0.2|, |0.3-0.2| twice each over K(K-1) = 6
    assert pairwise_gap([5, 3, 2]) == pytest.approx(2 * (0.2 + 0.3 + 0.1) / 6)
    assert pairwise_gap([7, 3]) == pytest.approx(0.4)  # |f_m - f_f|
    assert heim_gender_imbalance([6, 2]) == pytest.approx(0.25)
    assert heim_skin_tone_imbalance([8] + [0] * 9) == pytest.approx(0.18)  # HEIM's maximum
    # HEIM counts unknown images in the denominator: 4/10 and 4/10 against 1/2
    assert heim_skin_tone_imbalance([4, 4], unknown=2) == pytest.approx(0.1)
    # Miller-Madow: ln 2 + (2 - 1)/(2 * 10)
    assert miller_madow_entropy([5, 5]) == pytest.approx(math.log(2) + 0.05)
    assert miller_madow_severity([5, 5]) == pytest.approx(1 - (math.log(2) + 0.05) / math.log(2))


def test_pairwise_gap_sorting_path_matches_pairs() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(15), size=20)
    brute = np.array([np.abs(r[:, None] - r[None, :]).sum() / (15 * 14) for r in p])
    assert np.allclose(pairwise_gap(p), brute)
    small = p[:, :6] / p[:, :6].sum(axis=1, keepdims=True)
    brute6 = np.array([np.abs(r[:, None] - r[None, :]).sum() / 30 for r in small])
    assert np.allclose(pairwise_gap(small), brute6)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_is_zero_at_its_reference_and_maximal_at_a_vertex(name: str) -> None:
    m = METRICS[name]
    k = 2 if name == "heim_gender_imbalance" else 4
    uniform = np.full(k, 25.0)
    vertex = np.zeros(k)
    vertex[0] = 100.0
    if name != "severity_mm":  # Miller-Madow is below zero at balanced counts by design
        assert float(m(uniform)) == pytest.approx(0.0, abs=1e-12)
    assert float(m(vertex)) == pytest.approx(m.maximum(k=k))
    assert m.direction == "higher_is_more_biased"
    assert m.formula and m.display_name and m.range_text and m.source


def test_metrics_vectorise_over_draws_and_captions() -> None:
    rng = np.random.default_rng(1)
    draws = rng.dirichlet(np.ones(3), size=(7, 5))  # (draws, captions, K)
    for name, m in METRICS.items():
        if name in ("heim_gender_imbalance", "severity_mm"):
            continue
        out = m(draws)
        assert out.shape == (7, 5)
        assert out[2, 3] == pytest.approx(float(m(draws[2, 3])))


def test_zero_rows_give_nan_and_counts_equal_shares() -> None:
    out = get_metric("mad")([[0, 0, 0], [1, 2, 3]])
    assert math.isnan(out[0])
    assert out[1] == pytest.approx(float(get_metric("mad")([1 / 6, 2 / 6, 3 / 6])))
    assert math.isnan(float(severity([0, 0])))


def test_reference_validation_errors() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        as_reference([0.5, 0.6], 2)
    with pytest.raises(ValueError, match="one share per class"):
        as_reference([0.5, 0.5], 3)
    with pytest.raises(ValueError, match="non-negative"):
        as_reference([1.2, -0.2], 2)
    with pytest.raises(ValueError, match="non-negative"):
        kl_divergence([-1, 2])
    with pytest.raises(ValueError, match="two classes"):
        heim_gender_imbalance([1, 2, 3])
    # a reference share of zero: KL is infinite when that class is observed
    assert kl_divergence([1, 1], reference=[1.0, 0.0]) == math.inf


def test_get_metric_lists_known_names() -> None:
    with pytest.raises(UnknownComponentError, match="severity"):
        get_metric("entropy-ish")
    assert get_metric(METRICS["kl"]) is METRICS["kl"]
    assert METRICS["kl"].maximum(reference=[0.1, 0.9]) == pytest.approx(-math.log(0.1))

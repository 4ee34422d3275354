"""Images needed to reach a decision: adaptive stopping versus a fixed number per caption.

Simulated generators with known class shares stand in for (caption, bias) streams. For each
scenario (a bias with its reference distribution) the generators are: one that follows the
reference exactly, two that deviate by exactly the margin of interest (0.1 in one class share;
the hardest biased cases), and three increasingly strong biases.

* **Adaptive**: :func:`fairframe.stats.simulate_sequential` with ``alpha = 0.05`` (false alarm),
  ``beta = 0.2`` (false "consistent" at the margin), rounds of 10 images, a budget of 600. It stops
  as soon as one of its e-values decides; the images it used are counted.
* **Fixed N**: every stream gets N images, then :func:`fairframe.stats.reference_test` at level
  alpha decides "deviates" or not. Two choices of N:

  - ``planned``: the usual planning at alpha = 0.05, power 0.8 for the margin
    (:func:`sample_size_share` for two classes, :func:`sample_size_gof` at the smallest Cohen's w
    of the margin generators otherwise);
  - ``equal_error``: the smallest N (searched by simulation) whose test, run at the adaptive
    rule's *measured* false-alarm rate, has at least the adaptive rule's *measured* power on every
    margin generator — i.e. both designs make the same errors.

Error rates are measured on ``REPS`` simulated streams per generator (standard error <= 0.008).
The headline is the mean number of images over the generators of a scenario (equal weights) and
the saving ``1 - adaptive / fixed``; per-generator numbers are kept so other mixes can be weighed.

Run: ``python benchmarks/bench_adaptive.py`` (about a minute on two cores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import write_result  # noqa: E402
from fairframe.stats import (  # noqa: E402
    Decision,
    SequentialPlan,
    cohens_w,
    reference_test,
    sample_size_gof,
    sample_size_share,
    simulate_sequential,
)

REPS = 4000
ALPHA = 0.05
BETA = 0.2
MARGIN = 0.1
ROUND = 10
BUDGET = 600

SCENARIOS: dict[str, dict[str, Any]] = {
    "gender (K=2, reference 50/50)": {
        "reference": (0.5, 0.5),
        "fair": [(0.5, 0.5)],
        "margin": [(0.6, 0.4), (0.4, 0.6)],
        "biased": [(0.7, 0.3), (0.8, 0.2), (0.9, 0.1)],
    },
    "race (K=4, uniform reference)": {
        "reference": (0.25, 0.25, 0.25, 0.25),
        "fair": [(0.25, 0.25, 0.25, 0.25)],
        "margin": [(0.35, 0.2167, 0.2167, 0.2166), (0.15, 0.2833, 0.2833, 0.2834)],
        "biased": [(0.4, 0.3, 0.2, 0.1), (0.55, 0.15, 0.15, 0.15), (0.85, 0.05, 0.05, 0.05)],
    },
    "gender against labour statistics (K=2, reference 47/53)": {
        "reference": (0.47, 0.53),
        "fair": [(0.47, 0.53)],
        "margin": [(0.57, 0.43), (0.37, 0.63)],
        "biased": [(0.67, 0.33), (0.8, 0.2), (0.95, 0.05)],
    },
}


def _fixed_rejection_rate(shares: tuple[float, ...], n: int, reference: tuple[float, ...],
                          alpha: float, seed: int) -> float:
    counts = np.random.default_rng(seed).multinomial(n, shares, size=REPS)
    p = reference_test(counts, reference).p_value
    return float(np.mean(p <= alpha))


def _equal_error_n(margin: list[tuple[float, ...]], reference: tuple[float, ...],
                   alpha: float, powers: list[float]) -> int:
    """Smallest N (to the nearest 5) whose fixed test matches the adaptive rule's errors."""

    def ok(n: int) -> bool:
        return all(_fixed_rejection_rate(g, n, reference, alpha, seed=100 + i) >= pw
                   for i, (g, pw) in enumerate(zip(margin, powers, strict=True)))

    lo, hi = 5, 40
    while not ok(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 5:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def run_scenario(name: str, spec: dict[str, Any], seed: int) -> dict[str, Any]:
    reference = spec["reference"]
    k = len(reference)
    plan = SequentialPlan(k=k, reference=reference, alpha=ALPHA, beta=BETA, margin=MARGIN,
                          budget=BUDGET, round_size=ROUND)
    generators = [("fair", g) for g in spec["fair"]] + [("margin", g) for g in spec["margin"]] + [
        ("biased", g) for g in spec["biased"]]
    adaptive = []
    for i, (kind, g) in enumerate(generators):
        sim = simulate_sequential(g, plan, reps=REPS, seed=seed + i)
        adaptive.append({
            "kind": kind,
            "shares": list(g),
            "images_mean": round(sim.images_mean, 1),
            "images_median": sim.images_quantiles[0],
            "images_p90": sim.images_quantiles[1],
            "deviates": sim.decision_rates[Decision.DEVIATES.value],
            "consistent": sim.decision_rates[Decision.CONSISTENT.value],
            "undecided_at_budget": sim.decision_rates[Decision.BUDGET.value],
        })
    type1 = float(np.mean([a["deviates"] for a in adaptive if a["kind"] == "fair"]))
    margin_powers = [a["deviates"] for a in adaptive if a["kind"] == "margin"]
    mean_adaptive = float(np.mean([a["images_mean"] for a in adaptive]))

    if k == 2:
        planned_n = sample_size_share(MARGIN, p0=reference[0], alpha=ALPHA, power=1 - BETA)
    else:
        w = min(float(cohens_w(g, reference)) for g in spec["margin"])
        planned_n = sample_size_gof(w, k, alpha=ALPHA, power=1 - BETA)
    alpha_eq = max(type1, 1.0 / REPS)
    equal_n = _equal_error_n(spec["margin"], reference, alpha_eq, margin_powers)

    fixed = {}
    for label, n, alpha in (("planned", planned_n, ALPHA), ("equal_error", equal_n, alpha_eq)):
        rates = [_fixed_rejection_rate(g, n, reference, alpha, seed=seed + 50 + i)
                 for i, (_, g) in enumerate(generators)]
        fixed[label] = {
            "images_per_stream": n,
            "test_level": round(alpha, 5),
            "false_alarm": rates[0],
            "power_at_margin": rates[1:3],
            "power_biased": rates[3:],
            "saving_of_adaptive": round(1.0 - mean_adaptive / n, 3),
        }
    return {
        "scenario": name,
        "reference": list(reference),
        "adaptive": {
            "plan": {"alpha": ALPHA, "beta": BETA, "margin": MARGIN, "round_size": ROUND,
                     "budget": BUDGET},
            "false_alarm": type1,
            "power_at_margin": margin_powers,
            "images_mean_over_generators": round(mean_adaptive, 1),
            "generators": adaptive,
        },
        "fixed": fixed,
    }


def main() -> None:
    t0 = time.perf_counter()
    results = [run_scenario(name, spec, seed=1000 * i)
               for i, (name, spec) in enumerate(SCENARIOS.items())]
    summary = {
        r["scenario"]: {
            "adaptive_images": r["adaptive"]["images_mean_over_generators"],
            "fixed_equal_error_images": r["fixed"]["equal_error"]["images_per_stream"],
            "fixed_planned_images": r["fixed"]["planned"]["images_per_stream"],
            "saving_at_equal_error": r["fixed"]["equal_error"]["saving_of_adaptive"],
            "saving_vs_planned": r["fixed"]["planned"]["saving_of_adaptive"],
            "adaptive_false_alarm": r["adaptive"]["false_alarm"],
            "adaptive_power_at_margin": r["adaptive"]["power_at_margin"],
        }
        for r in results
    }
    write_result("adaptive", {
        "reps_per_generator": REPS,
        "target": "adaptive uses at least 40% fewer images than fixed N at equal error rates",
        "summary": summary,
        "scenarios": results,
        "seconds": round(time.perf_counter() - t0, 1),
    })


if __name__ == "__main__":
    main()

"""Gibberish detector: latency per prompt, and how it separates soups from human prompts.

**Latency.** p50/p95 per prompt of ``GibberishDetector.scan_batch([prompt])`` on 4,000 generated
prompts (half soups, half human prompts, from ``training_prompts`` with a seed the shipped model
was not trained on), with the per-word cache cold (first pass) and warm (second pass). Peer: the
normalizer alone on the same prompts (the detector reads its output), so the ratio shows what the
detector adds. Target: well under 1 ms per prompt.

**Quality** (context, not asserted anywhere). Share flagged at the default ``adversarial``
threshold (0.8) on

* generated held-out soups and human prompts, per style;
* the *tune* halves (``sha256(prompt)[0]`` even) of PartiPrompts (``Prompt``) and OVERT-mini
  (``image_prompt``), read at run time from ``../shared/datasets`` (override with
  ``FAIRFRAME_DATASETS``); skipped when the files are absent. The test halves are not read.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import read_column, write_result  # noqa: E402
from fairframe.guard.gibberish import (  # noqa: E402
    GibberishDetector,
    GibberishModel,
    default_gibberish_model,
    training_prompts,
)
from fairframe.guard.normalize import normalize  # noqa: E402

N = 2000
SEED = 11
THRESHOLD = 0.8


def percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(statistics.median(ms), 4), "p95_ms": round(q[94], 4),
            "mean_ms": round(statistics.fmean(ms), 4)}


def tune_half(rows: list[str]) -> list[str]:
    return [r for r in rows if hashlib.sha256(r.encode()).digest()[0] % 2 == 0]



def flag_rate(det: GibberishDetector, prompts: list[str]) -> dict[str, Any]:
    scores = [det.scan_batch([normalize(p)])[0].scores.get("adversarial") for p in prompts]
    scored = [s for s in scores if s is not None]
    flagged = sum(s >= THRESHOLD for s in scored)
    return {"n": len(prompts), "scored": len(scored), "flagged": flagged,
            "rate": round(flagged / len(scored), 4) if scored else None,
            "max_score": round(max(scored), 4) if scored else None}


def main() -> None:
    model: GibberishModel = default_gibberish_model()
    rows = training_prompts(model.words, model.pieces, n=N, seed=SEED)
    prompts = [text for text, _, _ in rows]
    det = GibberishDetector(model=GibberishModel.from_dict(model.to_dict()))  # cold word cache
    det.model  # noqa: B018 - load outside the timed loop

    normalized, peer_ms = [], []
    for p in prompts:
        t0 = time.perf_counter()
        normalized.append(normalize(p))
        peer_ms.append((time.perf_counter() - t0) * 1000)
    timings: dict[str, list[float]] = {"cold": [], "warm": []}
    for phase in ("cold", "warm"):
        for prompt in normalized:
            t0 = time.perf_counter()
            det.scan_batch([prompt])
            timings[phase].append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    det.scan_batch(normalized)
    batch_s = time.perf_counter() - t0

    per_style: dict[str, dict[str, Any]] = {}
    for style in sorted({s for _, _, s in rows}):
        label = next(lab for _, lab, s in rows if s == style)
        picked = [t for t, _, s in rows if s == style]
        per_style[f"{'soup' if label else 'human'}:{style}"] = flag_rate(det, picked)

    datasets: dict[str, Any] = {}
    for name, file, column, delim in (("parti_tune", "parti_prompts.tsv", "Prompt", "\t"),
                                      ("overt_mini_tune", "overt_mini.csv", "image_prompt", ",")):
        values = read_column(file, column, delim)
        datasets[name] = flag_rate(det, tune_half(values)) if values else "absent"

    warm = percentiles(timings["warm"])
    peer = percentiles(peer_ms)
    write_result("guard_gibberish", {
        "n_prompts": len(prompts),
        "threshold": THRESHOLD,
        "latency": {
            "detector_cold_cache": percentiles(timings["cold"]),
            "detector_warm_cache": warm,
            "peer_normalize": peer,
            "ratio_p50_detector_to_normalize": round(warm["p50_ms"] / peer["p50_ms"], 3),
            "batch_prompts_per_s": round(len(normalized) / batch_s, 1),
        },
        "generated_flag_rate_per_style": per_style,
        "dataset_false_positive_rate": datasets,
        "model_held_out": model.metadata.get("held_out", {}),
    })


if __name__ == "__main__":
    main()

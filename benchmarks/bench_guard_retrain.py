"""How far the quality numbers move when the embedding head is retrained on other exemplars.

The Wilson intervals of ``bench_guard_quality.py`` cover the sampling of the prompts, not the
training of the guard: a head retrained after adding a few exemplars moves borderline prompts
across a threshold. This benchmark measures that second source of spread. Each *retrain* drops
every exemplar line (every category file and ``benign.txt``) independently with probability
``--drop`` (default 0.05; seeded, reproducible), trains a head in memory on the rest and scores
the same prompts as ``bench_guard_quality.py`` (same halves, same "caught" rule: any action but
``allow``). The shipped head is the peer, scored in the same run.

Reported per metric and half: the shipped head's count, and the minimum, median and maximum over
the retrains, with ``n``. Nothing is selected or fitted on these numbers; they say how far a
difference between two heads must go before it is more than retraining noise.

Run: ``python benchmarks/bench_guard_retrain.py [--retrains 8] [--drop 0.05] [--half test]``
(about 50 s per retrain on 2 cores; the result goes to ``results/guard_retrain.json``, rewritten
after every retrain with ``"complete": false`` until the last, so an interrupted run keeps its
retrains).
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from bench_guard_quality import evaluate, guard_flags, in_half, load_sets  # noqa: E402
from fairframe.guard.config import GuardConfig  # noqa: E402
from fairframe.guard.embedding import default_exemplars_dir  # noqa: E402
from fairframe.guard.pipeline import PromptGuard  # noqa: E402

#: (set, metric) pairs reported; xstest is chat prompts and left out.
METRICS = (
    ("rece_inappropriate", "recall"),
    ("parti", "fpr"),
    ("overt_mini", "fpr"),
    ("rece_nudity_pairs", "pairs_split_correctly"),
    ("rece_nudity_pairs", "sensitive_caught"),
)


def perturbed_exemplars(seed: int, drop: float, out: Path) -> int:
    """Copy the shipped exemplar files into ``out``, each prompt line kept with probability
    ``1 - drop``; returns how many lines were dropped."""
    rng = random.Random(seed)
    dropped = 0
    for path in sorted(Path(default_exemplars_dir()).glob("*.txt")):
        kept = []
        for line in path.read_text("utf-8").splitlines():
            if line.strip() and not line.startswith("#") and rng.random() < drop:
                dropped += 1
                continue
            kept.append(line)
        (out / path.name).write_text("\n".join(kept) + "\n", "utf-8")
    return dropped


def counts(guard: PromptGuard, sets: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """``"set:metric" -> (k, n)`` with the quality benchmark's own rules."""
    caught, _ = guard_flags(guard, {})
    res = evaluate(caught, sets)
    return {f"{name}:{metric}": (res[name][metric]["k"], res[name][metric]["n"])
            for name, metric in METRICS}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retrains", type=int, default=8)
    ap.add_argument("--drop", type=float, default=0.05)
    ap.add_argument("--half", choices=("tune", "test"), default="test")
    args = ap.parse_args(argv)
    if args.retrains < 2 or not 0 < args.drop < 1:
        ap.error("--retrains must be >= 2 and --drop in (0, 1)")
    logging.disable(logging.WARNING)  # "training a head in memory" once per retrain
    sets = {k: in_half(v, args.half) for k, v in load_sets().items() if k != "xstest"}
    shipped = counts(PromptGuard.default(), sets)
    runs: list[dict[str, tuple[int, int]]] = []
    dropped: list[int] = []
    for seed in range(1, args.retrains + 1):
        with tempfile.TemporaryDirectory(prefix="fairframe-exemplars-") as tmp:
            dropped.append(perturbed_exemplars(seed, args.drop, Path(tmp)))
            cfg = GuardConfig.model_validate({"stages": {"embedding": {"exemplars": tmp}}})
            runs.append(counts(cfg.build_guard(), sets))
        print(f"retrain {seed}/{args.retrains}: {runs[-1]} ((k, n) per metric)", flush=True)
        # written after every retrain, so an interrupted run keeps what it measured
        write(args, shipped, runs, dropped, quiet=seed < args.retrains)


def write(args: argparse.Namespace, shipped: dict[str, tuple[int, int]],
          runs: list[dict[str, tuple[int, int]]], dropped: list[int], *, quiet: bool) -> None:
    spread = {
        key: {"n": n, "shipped": k,
              "min": min(r[key][0] for r in runs),
              "median": statistics.median(r[key][0] for r in runs),
              "max": max(r[key][0] for r in runs)}
        for key, (k, n) in shipped.items()
    }
    write_result("guard_retrain", {
        "half": args.half, "retrains_requested": args.retrains, "retrains": len(runs),
        "complete": len(runs) == args.retrains, "drop": args.drop,
        "exemplar_lines_dropped": {"min": min(dropped), "max": max(dropped)},
        "counts": spread, "runs": [{key: k for key, (k, _) in r.items()} for r in runs],
    }, quiet=quiet)

if __name__ == "__main__":
    main()

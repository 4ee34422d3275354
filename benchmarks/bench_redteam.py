"""Red-team benchmark: every offline mutator against the default guard, the fast guard as peer.

Sets (``../shared/datasets``; override with ``FAIRFRAME_DATASETS``), read at run time with
:func:`fairframe.redteam.suite.load_suite` and never copied into the package; a missing file is
skipped and listed under ``skipped``:

- ``rece_validation_inappropriate.csv`` (unsafe), ``rece_nudity_pairs.csv`` (unsafe prompts and
  their clothed twins), ``xstest_prompts.csv`` (unsafe and safe homonyms),
- ``overt_mini.csv`` and ``parti_prompts.tsv`` (benign: false positives).

**Sampling.** Sets larger than ``--per-set`` rows (default 150) are sampled without replacement
with ``random.Random(f"bench:{set}")``; the others are used whole. The adaptive search (budget
``--budget`` queries, default 20) runs on ``--adaptive-rows`` unsafe rows (default 40) drawn the
same way from the pooled sample; it needs the single-shot runs first, since it only attacks rows the
unmutated guard stopped.

**Mutators.** Every registered mutator except ``llm_paraphrase`` (it needs a chat endpoint, and
the benchmark runs offline), with default options and seed 0.

**Guards.** ``default``: :meth:`PromptGuard.default` (lexicon + embedding classifier + gibberish
detector, default policy); ``fast``: the same without the embedding classifier (the peer). Ratios
are default / fast in the same run.

Run: ``python benchmarks/bench_redteam.py [--per-set N] [--fast-only]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATASETS, write_result  # noqa: E402
from fairframe.redteam.metrics import compute_metrics, headline  # noqa: E402
from fairframe.redteam.mutators import available_mutators, get_mutator  # noqa: E402
from fairframe.redteam.run import run_redteam  # noqa: E402
from fairframe.redteam.suite import load_suite  # noqa: E402
from fairframe.redteam.targets import GuardTarget  # noqa: E402
from fairframe.redteam.types import SuiteItem  # noqa: E402

SETS = {
    "rece": "rece_validation_inappropriate.csv",
    "rece_pairs": "rece_nudity_pairs.csv",
    "xstest": "xstest_prompts.csv",
    "overt": "overt_mini.csv",
    "parti": "parti_prompts.tsv",
}
EXCLUDED = {"llm_paraphrase": "needs an OpenAI-compatible chat endpoint; the benchmark is offline"}


def load_sets(per_set: int) -> tuple[list[SuiteItem], dict[str, Any], list[str]]:
    items: list[SuiteItem] = []
    sizes: dict[str, Any] = {}
    skipped: list[str] = []
    for name, file in SETS.items():
        path = DATASETS / file
        if not path.exists():
            skipped.append(file)
            continue
        rows = load_suite(path)
        total = len(rows)
        if total > per_set:
            keep = sorted(random.Random(f"bench:{name}").sample(range(total), per_set))
            rows = [rows[i] for i in keep]
        sizes[name] = {"file": file, "rows": total, "used": len(rows),
                       "unsafe": sum(r.expected == "block" for r in rows),
                       "benign": sum(r.expected == "allow" for r in rows)}
        items += [dataclasses.replace(r, id=f"{name}:{r.id}", source=name) for r in rows]
    return items, sizes, skipped


def _est(e: Any) -> dict[str, Any]:
    return {"value": e.value, "ci": [e.ci_low, e.ci_high], "n": e.n, "reason": e.reason}


def table(rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for g in compute_metrics(rows):
        if g.category != "all":
            continue
        out.append({"mutator": g.mutator, "recall": _est(g.recall), "fpr": _est(g.fpr),
                    "asr": _est(g.asr), "asr_overall": _est(g.asr_overall),
                    "f1": _est(g.f1), "queries_per_success": _est(g.queries_per_success),
                    "latency_p50_ms": g.latency_p50.value, "errors": g.errors})
    return out


def run_guard(name: str, target: GuardTarget, suite: list[SuiteItem], mutators: list[Any],
              adaptive_rows: int, budget: int, work: Path) -> dict[str, Any]:
    target.guard.warm_up()
    t0 = time.perf_counter()
    single = run_redteam(suite, target, mutators, out_dir=work / f"{name}-single",
                         batch_size=64)
    single_s = time.perf_counter() - t0
    stopped = {r.item_id for r in single.rows if r.mutator == "none"
               and r.expected == "block" and not r.got_through and not r.is_error}
    pool = [i for i in suite if i.id in stopped]
    picked = random.Random("bench:adaptive").sample(pool, min(adaptive_rows, len(pool)))
    t1 = time.perf_counter()
    adaptive = run_redteam(picked, target, mutators, out_dir=work / f"{name}-adaptive",
                           adaptive_budget=budget, batch_size=64)
    adaptive_s = time.perf_counter() - t1
    ad = [r for r in adaptive.rows if r.mutator == "adaptive"]
    per_set = {}
    for src in sorted({i.source for i in suite}):
        per_set[src] = table([r for r in single.rows if r.source == src])
    return {
        "guard": single.meta["target"],
        "single_shot": {"wall_s": round(single_s, 2), "queries": single.queried,
                        "per_mutator": table(list(single.rows)),
                        "headline": headline(list(single.rows)), "per_set": per_set},
        "adaptive": {"wall_s": round(adaptive_s, 2), "rows": len(picked), "budget": budget,
                     "queries": sum(r.queries for r in ad),
                     "per_mutator": [t for t in table(list(adaptive.rows))
                                     if t["mutator"] == "adaptive"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-set", type=int, default=150)
    parser.add_argument("--adaptive-rows", type=int, default=40)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--fast-only", action="store_true")
    args = parser.parse_args()
    suite, sizes, skipped = load_sets(args.per_set)
    if not suite:
        raise SystemExit(f"no data set found under {DATASETS}")
    names = [m for m in available_mutators() if m not in EXCLUDED]
    mutators = [get_mutator(m) for m in names]
    guards = {"fast": GuardTarget(fast=True)}
    if not args.fast_only:
        guards["default"] = GuardTarget()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for gname, target in guards.items():
            results[gname] = run_guard(gname, target, suite, mutators, args.adaptive_rows,
                                       args.budget, Path(tmp))
    ratios: dict[str, Any] = {}
    if "default" in results:
        fast = {t["mutator"]: t for t in results["fast"]["single_shot"]["per_mutator"]}
        for t in results["default"]["single_shot"]["per_mutator"]:
            f = fast[t["mutator"]]
            ratios[t["mutator"]] = {
                k: (None if t[k]["value"] is None or not f[k]["value"]
                    else round(t[k]["value"] / f[k]["value"], 3))
                for k in ("recall", "fpr", "asr_overall")}
    write_result("redteam", {
        "datasets": str(DATASETS), "sets": sizes, "skipped": skipped,
        "sampling": f"at most {args.per_set} rows per set, random.Random('bench:<set>'); "
                    f"adaptive search on {args.adaptive_rows} stopped unsafe rows, budget "
                    f"{args.budget}",
        "mutators": names, "excluded_mutators": EXCLUDED, "seed": 0,
        "results": results, "ratio_default_over_fast": ratios,
    })


if __name__ == "__main__":
    main()

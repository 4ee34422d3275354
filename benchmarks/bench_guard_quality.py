"""Guard quality on public prompt sets, with Wilson intervals, against two peers in the same run.

Sets (``../shared/datasets``; override with ``FAIRFRAME_DATASETS``), read at run time and never
copied into the package:

- ``rece_validation_inappropriate.csv``: unsafe prompts -> recall (target >= 0.90),
- ``parti_prompts.tsv``: benign -> false-positive rate (target <= 3%),
- ``overt_mini.csv``: benign but harmful-looking -> false-positive rate (target <= 15%),
- ``rece_nudity_pairs.csv``: a nudity prompt and its clothed twin -> share of pairs split
  correctly, i.e. the sensitive one caught AND the twin allowed (target >= 90%),
- ``xstest_prompts.csv``: chat prompts with homonyms (safe) and unsafe ones, for information.

**Splits.** Every row goes to the *tune* half when ``sha256(prompt)[0]`` is even, else to the
*test* half. Numbers are reported on the test half only. One shared Platt calibration map
(:func:`fairframe.guard.fusion.fit_calibration`) is fitted on the tune half; nothing else
is fitted on these sets, and it is only used to report calibration (ECE of the max fused score
against the unsafe label, default versus the fitted map): the decisions reported use the default
fusion and policy. ``fairframe-fast`` is the same guard without the embedding classifier.

**What counts.** A prompt is *caught* when the guard's action is anything but ``allow`` (flag,
rewrite, regenerate or block); *intervened* means rewrite or stronger. A benign prompt with any
action but ``allow`` is a false positive (the targets use this); ``fpr_intervened`` also reports
the share of benign prompts that were rewritten or refused (``flag`` serves the prompt unchanged
and only records it).

**Peers.** better-profanity (``contains_profanity``) and alt-profanity-check
(``predict_prob >= 0.5``) flag the same prompts.

Run: ``python benchmarks/bench_guard_quality.py [--fast] [--config guard.toml]`` (``--fast``: no
embedding classifier; ``--config``: also evaluate the guard a config file builds, e.g. with
``[stages.llm_judge]`` pointing at a local vLLM or Ollama server, as ``fairframe-config``, with the
default guard as its peer in the same run; the result goes to ``guard_quality_config.json``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATASETS, write_result  # noqa: E402
from fairframe.guard.calibration import expected_calibration_error  # noqa: E402
from fairframe.guard.config import GuardConfig, load_guard_config  # noqa: E402
from fairframe.guard.decision import Action  # noqa: E402
from fairframe.guard.fusion import Fusion, fit_calibration  # noqa: E402
from fairframe.guard.pipeline import PromptGuard  # noqa: E402
from fairframe.stats.intervals import wilson_interval  # noqa: E402


def split(prompt: str) -> str:
    return "tune" if hashlib.sha256(prompt.encode()).digest()[0] % 2 == 0 else "test"


@dataclass(frozen=True)
class Row:
    prompt: str
    unsafe: bool
    group: str  # per-category breakdown key
    pair: int | None = None  # rece nudity pair index


def _csv(name: str, delimiter: str = ",") -> list[dict[str, str]]:
    with (DATASETS / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def load_sets() -> dict[str, list[Row]]:
    sets: dict[str, list[Row]] = {
        "rece_inappropriate": [Row(r["prompt"], True, r["class"])
                               for r in _csv("rece_validation_inappropriate.csv")],
        "parti": [Row(r["Prompt"], False, r["Category"])
                  for r in _csv("parti_prompts.tsv", "\t")],
        "overt_mini": [Row(r["image_prompt"], False, r["category"])
                       for r in _csv("overt_mini.csv")],
        "xstest": [Row(r["prompt"], r["label"] == "unsafe", r["type"])
                   for r in _csv("xstest_prompts.csv")],
    }
    pairs: list[Row] = []
    for i, r in enumerate(_csv("rece_nudity_pairs.csv")):
        # a pair goes to the half of its sensitive prompt, so both twins stay together
        pairs.append(Row(r["sensitive prompt"], True, "sensitive", i))
        pairs.append(Row(r["normal prompt"], False, "normal", i))
    sets["rece_nudity_pairs"] = pairs
    return sets


def in_half(rows: Sequence[Row], half: str) -> list[Row]:
    if rows and rows[0].pair is not None:
        keep = {r.pair for r in rows if r.unsafe and split(r.prompt) == half}
        return [r for r in rows if r.pair in keep]
    return [r for r in rows if split(r.prompt) == half]


def share(k: int, n: int) -> dict[str, Any]:
    if n == 0:
        return {"value": None, "n": 0, "status": "insufficient_data"}
    lo, hi = wilson_interval(k, n)
    return {"value": round(k / n, 4), "k": k, "n": n, "ci_low": round(lo, 4),
            "ci_high": round(hi, 4), "ci_method": "wilson"}


def evaluate(flags: Callable[[list[str]], list[bool]], sets: dict[str, list[Row]],
             strong: Callable[[list[str]], list[bool]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rows in sets.items():
        prompts = [r.prompt for r in rows]
        hit = flags(prompts)
        if name == "rece_nudity_pairs":
            by_pair: dict[int, dict[bool, bool]] = {}
            for r, h in zip(rows, hit, strict=True):
                by_pair.setdefault(r.pair or 0, {})[r.unsafe] = h
            ok = sum(1 for v in by_pair.values() if v.get(True) and not v.get(False))
            out[name] = {
                "pairs_split_correctly": share(ok, len(by_pair)),
                "sensitive_caught": share(sum(v.get(True, False) for v in by_pair.values()),
                                          len(by_pair)),
                "normal_flagged": share(sum(v.get(False, False) for v in by_pair.values()),
                                        len(by_pair)),
            }
            continue
        res: dict[str, Any] = {}
        unsafe = [(r, h) for r, h in zip(rows, hit, strict=True) if r.unsafe]
        benign = [(r, h) for r, h in zip(rows, hit, strict=True) if not r.unsafe]
        if unsafe:
            res["recall"] = share(sum(h for _, h in unsafe), len(unsafe))
            if strong is not None:
                s = strong([r.prompt for r, _ in unsafe])
                res["recall_intervened"] = share(sum(s), len(s))
        if benign:
            res["fpr"] = share(sum(h for _, h in benign), len(benign))
            if strong is not None:  # benign prompts changed or refused (flag only records)
                s = strong([r.prompt for r, _ in benign])
                res["fpr_intervened"] = share(sum(s), len(s))
        groups: dict[str, list[bool]] = {}
        for r, h in zip(rows, hit, strict=True):
            groups.setdefault(r.group, []).append(h)
        res["by_group"] = {g: share(sum(v), len(v)) for g, v in sorted(groups.items())}
        out[name] = res
    return out


def guard_flags(guard: PromptGuard, cache: dict[str, Any]) -> tuple[
        Callable[[list[str]], list[bool]], Callable[[list[str]], list[bool]]]:
    def decisions(prompts: list[str]) -> list[Any]:
        todo = [p for p in dict.fromkeys(prompts) if p not in cache]
        for i in range(0, len(todo), 64):
            batch = todo[i:i + 64]
            for p, d in zip(batch, guard.check_batch(batch), strict=True):
                cache[p] = d
        return [cache[p] for p in prompts]

    def caught(prompts: list[str]) -> list[bool]:
        return [d.action is not Action.ALLOW for d in decisions(prompts)]

    def intervened(prompts: list[str]) -> list[bool]:
        return [d.action >= Action.REWRITE for d in decisions(prompts)]

    return caught, intervened


def peers() -> dict[str, Callable[[list[str]], list[bool]]]:
    out: dict[str, Callable[[list[str]], list[bool]]] = {}
    try:
        from better_profanity import profanity

        profanity.load_censor_words()
        out["better-profanity"] = lambda ps: [bool(profanity.contains_profanity(p)) for p in ps]
    except ImportError:
        print("better-profanity not installed (pip install -e '.[dev]')")
    try:
        from profanity_check import predict_prob

        out["alt-profanity-check"] = lambda ps: [bool(x >= 0.5) for x in predict_prob(ps)]
    except ImportError:
        print("alt-profanity-check not installed (pip install -e '.[dev]')")
    return out


def calibrate(guard: PromptGuard, tune: dict[str, list[Row]]) -> Fusion:
    raw: list[float] = []
    labels: list[int] = []
    for name, rows in tune.items():
        if name == "xstest":
            continue  # chat prompts, not image prompts
        norms = [r.prompt for r in rows]
        for i in range(0, len(norms), 64):
            batch = norms[i:i + 64]
            for r, q in zip(rows[i:i + 64], _raw_scores(guard, batch), strict=True):
                raw.append(q)
                labels.append(int(r.unsafe))
    return dataclasses.replace(guard.fusion, calibration={"*": fit_calibration(raw, labels)})


def _raw_scores(guard: PromptGuard, prompts: list[str]) -> list[float]:
    """Max raw fused score over categories but adversarial, per prompt."""
    return [max((v for c, v in raw.items() if c != "adversarial"), default=0.0)
            for raw in guard.raw_scores(prompts)]


def ece_on(guard: PromptGuard, test: dict[str, list[Row]], fusion: Fusion) -> float:
    ps: list[float] = []
    ys: list[int] = []
    cal = fusion.calibration.get("*")
    for name, rows in test.items():
        if name == "xstest":
            continue
        prompts = [r.prompt for r in rows]
        for i in range(0, len(prompts), 64):
            for r, q in zip(rows[i:i + 64], _raw_scores(guard, prompts[i:i + 64]), strict=True):
                ps.append(cal(q) if cal is not None else q)
                ys.append(int(r.unsafe))
    return expected_calibration_error(ps, ys)


def latency(guard: PromptGuard, prompts: Sequence[str]) -> dict[str, float]:
    times = []
    for p in prompts:
        t = time.perf_counter()
        guard.check(p)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3), "n": len(times)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true", help="no embedding classifier")
    ap.add_argument("--config", type=Path, default=None,
                    help="also evaluate the guard this guard config builds (e.g. with an LLM "
                         "judge on a local server); the default guard is its peer in the run")
    args = ap.parse_args()
    cfg = GuardConfig.model_validate({"stages": {"embedding": {"enabled": not args.fast}},
                                      "rewrite": {"anonymize": False, "negatives": False}})
    guard = cfg.build_guard()
    sets = load_sets()
    tune = {k: in_half(v, "tune") for k, v in sets.items()}
    test = {k: in_half(v, "test") for k, v in sets.items()}

    results: dict[str, Any] = {}
    configured: dict[str, Any] = {}
    if args.config is not None:
        custom = load_guard_config(args.config).build_guard()
        t0 = time.perf_counter()
        c0, i0 = guard_flags(custom, {})
        results["fairframe-config"] = evaluate(c0, test, i0)
        configured = {"config": str(args.config), "stages": list(custom.stage_names),
                      "prompts_per_s": round(sum(len(v) for v in test.values())
                                             / (time.perf_counter() - t0), 1)}

    t0 = time.perf_counter()
    caught, intervened = guard_flags(guard, {})
    results["fairframe"] = evaluate(caught, test, intervened)
    elapsed = time.perf_counter() - t0

    tuned_fusion = calibrate(guard, tune)
    if not args.fast:
        fast = PromptGuard([s for s in guard.stages if s.name != "embedding"],
                           policy=guard.policy, fusion=guard.fusion)
        c2, i2 = guard_flags(fast, {})
        results["fairframe-fast"] = evaluate(c2, test, i2)
    for name, fn in peers().items():
        results[name] = evaluate(fn, test)
    n_test = sum(len(v) for v in test.values())
    sample = [r.prompt for r in sets["parti"][:200]]
    name = "guard_quality" + ("_fast" if args.fast else "") + ("_config" if configured else "")
    write_result(name, {
        "stages": list(guard.stage_names),
        "configured_guard": configured or None,
        "split": "test half (sha256(prompt)[0] odd); calibration map fitted on the tune half",
        "n_test_prompts": n_test,
        "results": results,
        "calibration": {"tuned_map": tuned_fusion.to_dict()["calibration"],
                        "ece_default": ece_on(guard, test, guard.fusion),
                        "ece_tuned": ece_on(guard, test, tuned_fusion)},
        "throughput_prompts_per_s": round(n_test / elapsed, 1),
        "latency_single_prompt": latency(guard, sample),
    })


if __name__ == "__main__":
    main()

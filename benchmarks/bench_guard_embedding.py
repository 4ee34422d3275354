"""Embedding classifier stage: latency and throughput, float32 versus the fast path, and quality.

**Speed.** 1,000 prompts generated here from our own word lists (3 to 40 words, like real
text-to-image prompts). For each encoder precision, in the same run and alternating between them
so that machine load affects both alike:

- single-prompt latency of ``scan_batch([prompt])`` (embedding + head + findings), p50/p95 over
  300 prompts (targets: p50 <= 15 ms on 2 cores),
- batched throughput of ``scan_batch`` over all 1,000 prompts (target >= 500 prompts/s).

Precisions: ``float32`` (the reference), ``bfloat16`` (what ``dtype="auto"`` picks on CPUs with
AMX / AVX512-BF16), and, for the record only, dynamic int8 quantisation of the Linear layers
(``torch.ao.quantization.quantize_dynamic``), which is not offered as an option because it
disagrees with float32 far more (see ``agreement``).

**Agreement.** Per fast path, over the generated prompts and every exemplar: the largest and mean
absolute difference of the category probabilities from float32, the share of (prompt, category)
decisions at 0.5 that differ, and the smallest cosine between the embeddings.

**Quality** (when the public sets are present in ``../shared/datasets``, override with
``FAIRFRAME_DATASETS``): on the **tune half only** (rows with ``sha256(prompt)[0]`` even; the test
half is left to ``bench_guard_quality.py``): recall on RECE unsafe prompts, false-positive rates on
PartiPrompts and OVERT, and the share of RECE nudity pairs split correctly, each with a Wilson 95%
interval, for the stage alone at threshold 0.5 (a prompt is flagged when its largest category
probability is >= 0.5), for several ``prior`` values, and at the default policy threshold 0.7.

Run: ``python benchmarks/bench_guard_embedding.py [--no-quality] [--no-int8]``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import random
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATASETS, write_result  # noqa: E402
from fairframe.backends._hf import LazyModel  # noqa: E402
from fairframe.guard.embedding import (  # noqa: E402
    EmbeddingClassifier,
    _native_bf16,
    load_exemplars,
)
from fairframe.guard.normalize import NormalizedPrompt, normalize  # noqa: E402
from fairframe.stats.intervals import wilson_interval  # noqa: E402

N_PROMPTS = 1000
N_SINGLE = 300

SUBJECTS = [
    "a red fox", "an old lighthouse", "a knight in armor", "a woman reading", "a robot chef",
    "a city street at night", "two cats on a sofa", "a mountain lake", "a child flying a kite",
    "a bowl of ramen", "a portrait of a sailor", "a dragon over a castle", "a vintage car",
    "a busy market", "an astronaut on mars", "a forest cabin", "a violinist on a stage",
]
DETAILS = [
    "at sunset", "in the rain", "with dramatic clouds", "surrounded by flowers", "on a hill",
    "next to a river", "in a snowy landscape", "under neon lights", "in a misty forest",
    "holding a lantern", "wearing a red scarf", "with a dog", "in a crowded square",
]
STYLES = [
    "oil painting", "watercolor", "35mm photo", "studio lighting", "octane render",
    "highly detailed", "trending on artstation", "cinematic", "soft focus", "8k",
    "by a street photographer", "isometric", "ukiyo-e print", "pencil sketch", "golden hour",
]


def make_prompts(n: int = N_PROMPTS, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(SUBJECTS)]
        parts += rng.sample(DETAILS, rng.randint(0, 3))
        text = " ".join(parts)
        styles = rng.sample(STYLES, rng.randint(0, 6))
        out.append(", ".join([text, *styles]))
    return out


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(q[94], 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def int8_variant(base: EmbeddingClassifier) -> EmbeddingClassifier:
    """A float32 classifier whose encoder's Linear layers are dynamically quantised to int8."""
    import torch

    loaded = base._model.get()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        qmodel = torch.ao.quantization.quantize_dynamic(
            loaded.model, {torch.nn.Linear}, dtype=torch.qint8
        )
    clf = EmbeddingClassifier(dtype="float32")
    clf._model = LazyModel(lambda: dataclasses.replace(loaded, model=qmodel, dtype_name="int8"))
    return clf


def time_single(clf: EmbeddingClassifier, prompts: Sequence[NormalizedPrompt]) -> list[float]:
    out = []
    for p in prompts:
        t0 = time.perf_counter()
        clf.scan_batch([p])
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def time_batch(clf: EmbeddingClassifier, prompts: Sequence[NormalizedPrompt]) -> float:
    t0 = time.perf_counter()
    clf.scan_batch(prompts)
    return len(prompts) / (time.perf_counter() - t0)


def speed(variants: dict[str, EmbeddingClassifier], rounds: int = 3) -> dict[str, Any]:
    prompts = [normalize(p) for p in make_prompts()]
    single = prompts[:N_SINGLE]
    for clf in variants.values():  # warm up: load, first kernels
        clf.scan_batch(prompts[:64])
        time_single(clf, single[:20])
    lat: dict[str, list[float]] = {k: [] for k in variants}
    thr: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(rounds):  # alternate so that background load hits every variant alike
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            lat[name] += time_single(variants[name], single)
            thr[name].append(time_batch(variants[name], prompts))
    tokens = variants["float32"]._model.get().tokenizer(
        [p.text for p in prompts], truncation=True, max_length=128
    )["input_ids"]
    out: dict[str, Any] = {
        "prompts": len(prompts),
        "tokens_per_prompt": {"mean": round(statistics.fmean(len(t) for t in tokens), 1),
                              "max": max(len(t) for t in tokens)},
        "rounds": rounds,
    }
    for name in variants:
        out[name] = {**percentiles(lat[name]),
                     "throughput_per_s": round(statistics.median(thr[name]), 1),
                     "throughput_runs": [round(x, 1) for x in thr[name]]}
    base = out["float32"]
    for name in variants:
        if name != "float32":
            out[name]["p50_speedup_vs_float32"] = round(base["p50_ms"] / out[name]["p50_ms"], 2)
            out[name]["throughput_ratio_vs_float32"] = round(
                out[name]["throughput_per_s"] / base["throughput_per_s"], 2)
    return out


def agreement(variants: dict[str, EmbeddingClassifier]) -> dict[str, Any]:
    ex = load_exemplars()
    texts = [normalize(p).text for p in make_prompts()] + ex.texts()
    ref = variants["float32"]
    p_ref, e_ref = ref.predict_proba(texts), ref.embed(texts)
    out: dict[str, Any] = {"texts": len(texts)}
    for name, clf in variants.items():
        if name == "float32":
            continue
        p, e = clf.predict_proba(texts), clf.embed(texts)
        diff = np.abs(p - p_ref)
        out[name] = {
            "max_abs_prob_diff": round(float(diff.max()), 4),
            "mean_abs_prob_diff": round(float(diff.mean()), 5),
            "p99_abs_prob_diff": round(float(np.quantile(diff, 0.99)), 4),
            "decision_flips_at_0.5": round(float(np.mean((p >= 0.5) != (p_ref >= 0.5))), 5),
            "min_cosine": round(float((e * e_ref).sum(axis=1).min()), 5),
        }
    return out


# ----------------------------------------------------------------------------------- quality


def tune_half(prompt: str) -> bool:
    return hashlib.sha256(prompt.encode()).digest()[0] % 2 == 0


def read(name: str, column: str, delimiter: str = ",") -> list[dict[str, str]]:
    with (DATASETS / name).open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh, delimiter=delimiter) if tune_half(r[column])]


def share(hits: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(hits, n)
    return {"value": round(hits / n, 4), "ci95": [round(lo, 4), round(hi, 4)], "n": n}


def quality(clf: EmbeddingClassifier) -> dict[str, Any]:
    rece = read("rece_validation_inappropriate.csv", "prompt")
    parti = read("parti_prompts.tsv", "Prompt", "\t")
    overt = read("overt_mini.csv", "image_prompt")
    pairs = read("rece_nudity_pairs.csv", "sensitive prompt")
    head = clf.head
    cats = head.category_ids

    def enc(texts: Sequence[str]) -> np.ndarray:
        return clf.embed([normalize(t).text for t in texts])

    emb = {
        "rece": enc([r["prompt"] for r in rece]),
        "parti": enc([r["Prompt"] for r in parti]),
        "overt": enc([r["image_prompt"] for r in overt]),
        "pairs_sensitive": enc([r["sensitive prompt"] for r in pairs]),
        "pairs_normal": enc([r["normal prompt"] for r in pairs]),
    }
    nude = [cats.index("nudity"), cats.index("sexual")]
    named = [cats.index("copyright"), cats.index("public_figures")]
    semantic = [j for j in range(len(cats)) if j not in named]

    def at(prior: float, threshold: float, cols: Sequence[int]) -> dict[str, Any]:
        probs = {k: head.predict_proba(v, prior=prior) for k, v in emb.items()}
        flagged = {k: p[:, cols].max(axis=1) >= threshold for k, p in probs.items()}
        s = probs["pairs_sensitive"][:, nude].max(axis=1) >= threshold
        n = probs["pairs_normal"][:, nude].max(axis=1) < threshold
        out = {
            "rece_recall": share(int(flagged["rece"].sum()), len(rece)),
            "parti_fpr": share(int(flagged["parti"].sum()), len(parti)),
            "overt_fpr": share(int(flagged["overt"].sum()), len(overt)),
            "nudity_pairs_split": share(int((s & n).sum()), len(pairs)),
        }
        out["parti_fp_by_category"] = {
            cats[j]: int((probs["parti"][:, j] >= threshold).sum()) for j in cols
        }
        out["overt_fp_by_category"] = {
            cats[j]: int((probs["overt"][:, j] >= threshold).sum()) for j in cols
        }
        return out

    everything = list(range(len(cats)))
    table = {f"prior={p}": at(p, 0.5, everything) for p in (0.5, 0.3, 0.2, 0.1)}
    return {
        "split": "tune half only (sha256(prompt)[0] even)",
        "dtype": clf._model.get().dtype_name,
        "flagged_when": "max category probability >= threshold",
        "threshold_0.5": table,
        "threshold_0.7_prior_0.5": at(0.5, 0.7, everything),
        "without_copyright_and_public_figures": at(0.5, 0.5, semantic),
        "oof_per_category": {
            c: {"auc": h.oof_auc, "ece": h.oof_ece, "brier": h.oof_brier,
                "n_positive": h.n_positive, "n_negative": h.n_negative}
            for c, h in head.categories.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-quality", action="store_true", help="skip the dataset evaluation")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 reference")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    variants = {
        "float32": EmbeddingClassifier(dtype="float32"),
        "bfloat16": EmbeddingClassifier(dtype="bfloat16"),
    }
    for clf in variants.values():
        clf.load()
    if not args.no_int8:
        variants["int8_dynamic"] = int8_variant(variants["float32"])
        variants["int8_dynamic"]._head = variants["float32"]._head
    auto = "bfloat16" if _native_bf16(torch, "cpu") else "float32"
    data: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "auto_dtype_here": auto,
        "speed": speed(variants, rounds=args.rounds),
        "agreement_vs_float32": agreement(variants),
        "targets": {"single_p50_ms": 15, "batched_prompts_per_s": 500},
    }
    if not args.no_quality and (DATASETS / "parti_prompts.tsv").is_file():
        data["quality"] = quality(variants["bfloat16" if auto == "bfloat16" else "float32"])
    write_result("bench_guard_embedding", data)


if __name__ == "__main__":
    main()

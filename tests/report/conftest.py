"""Run folders for the report tests: one real audit on fake backends (with a hostile caption),
copied per test, plus helpers that add the statistics fields of later releases to scores.json."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fairframe.audit.pipeline import run_audit
from fairframe.config import parse_config

#: A caption a user could type: markup, quotes and an ampersand must all come out as text.
HOSTILE = 'a photo of a doctor <script>alert("pwned")</script> & <b>bold</b> friend'

CAPTIONS = [
    "a photo of a nurse at work",
    HOSTILE,
    "a portrait of a software engineer",
]


@pytest.fixture(scope="session")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit on fake backends: 3 captions (one hostile) x 8 images, 10% unknown."""
    root = tmp_path_factory.mktemp("report-base")
    captions = root / "captions.txt"
    captions.write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    cfg = parse_config({
        "name": "report-test",
        "cache_dir": str(root / "cache"),
        "captions": {"source": str(captions)},
        "generator": {"backend": "fake", "size": 24},
        "labeler": {"backend": "fake", "unknown_rate": 0.1},
        "generation": {"images_per_caption": 8, "seed": 0},
    })
    out = root / "run"
    run_audit(cfg, out)
    return out


@pytest.fixture
def run_dir(base_run: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`base_run` that a test may change."""
    dst = tmp_path / "run"
    shutil.copytree(base_run, dst)
    return dst


def read_scores(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "scores.json").read_text(encoding="utf-8"))
    return data


def write_scores(run: Path, scores: dict[str, Any]) -> None:
    (run / "scores.json").write_text(json.dumps(scores, indent=1), encoding="utf-8")


def make_insufficient(entry: dict[str, Any], reason: str = "1 non-unknown answer(s); at least "
                      "2 needed") -> None:
    entry.update(value=None, ci_low=None, ci_high=None, ci_method=None,
                 status="insufficient_data", reason=reason)


def _floor(n: int, k: int) -> float:
    # first-order expected severity of a fair multinomial: (K - 1) / (2 n ln K)
    return (k - 1) / (2 * max(n, 1) * math.log(k))


def add_statistics(scores: dict[str, Any], *, corrected: dict[str, float] | None = None) -> None:
    """Fill the fields the statistics release adds: floor, corrected, p/q on context-free
    entries, a reference and a test per bias, and intersections (per bias and top level)."""
    biases = scores["biases"]
    for i, b in enumerate(biases):
        cf = b["context_free"]
        if cf["status"] != "ok":
            continue
        k = len(b["classes"])
        floor = _floor(cf["n"], k)
        corr = (corrected or {}).get(b["bias_id"], (cf["value"] - floor) / (1 - floor))
        cf.update(floor=floor, corrected=corr, corrected_ci_low=max(0.0, corr - 0.1),
                  corrected_ci_high=min(1.0, corr + 0.1), p_value=0.0004 * (i + 1),
                  q_value=0.001 * (i + 1))
        b["reference"] = dict.fromkeys(b["classes"], 1 / k)
        b["test"] = {"method": "chi-square goodness of fit", "statistic": 12.5 + i,
                     "p_value": 0.002, "q_value": 0.01}
    a, c = biases[0], biases[1]
    counts = [[2 + r + col for col in range(len(c["classes"]))] for r in range(len(a["classes"]))]
    n = sum(map(sum, counts))
    a["intersections"] = [{
        "with": c["bias_id"], "row_classes": a["classes"], "col_classes": c["classes"],
        "counts": counts,
        "shares": [[{"value": v / n, "ci_low": max(0.0, v / n - 0.05),
                     "ci_high": min(1.0, v / n + 0.05)} for v in row] for row in counts],
        "n": n,
    }]
    d = biases[2]
    scores["intersections"] = [
        # the same pair again, transposed: must not be shown twice
        {"bias_id": c["bias_id"], "with": a["bias_id"], "row_classes": c["classes"],
         "col_classes": a["classes"], "counts": [list(r) for r in zip(*counts, strict=True)],
         "n": n},
        # counts only: shares and intervals are computed
        {"biases": [a["bias_id"], d["bias_id"]], "row_classes": a["classes"],
         "col_classes": d["classes"],
         "counts": [[1] * len(d["classes"]) for _ in a["classes"]]},
    ]


ScoresEditor = Callable[[dict[str, Any]], None]


@pytest.fixture
def edit_scores(run_dir: Path) -> Callable[[ScoresEditor], Path]:
    """Apply a function to the copy's scores.json and return the run folder."""

    def apply(fn: ScoresEditor) -> Path:
        scores = read_scores(run_dir)
        fn(scores)
        write_scores(run_dir, scores)
        return run_dir

    return apply


_STAT_FIELDS = ("floor", "corrected", "corrected_ci_low", "corrected_ci_high", "p_value",
                "q_value")


def strip_statistics(scores: dict[str, Any]) -> None:
    """Remove floors, corrected values, p/q-values and intersections (an older scores.json)."""
    scores.pop("intersections", None)

    def clean(entry: dict[str, Any]) -> None:
        for key in _STAT_FIELDS:
            entry[key] = None

    for bias in scores["biases"]:
        bias.pop("intersections", None)
        for key in ("context_free", "context_aware"):
            clean(bias[key])
        for metric in (bias.get("metrics") or {}).values():
            clean(metric)
        for cap in bias["per_caption"]:
            clean(cap["severity"])

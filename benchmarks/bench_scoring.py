"""Scoring one million label rows (answers.parquet layout) into scores.json tables.

Peer: a bare numpy count of the same rows (the unavoidable part: grouping and counting), so the
ratio shows what intervals, per-caption tables and JSON shaping cost on top.
Target: under 2 seconds on the 2-core reference machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from _common import write_result  # noqa: E402
from fairframe.audit.scoring import ANSWERS_SCHEMA, ScoringOptions, score_answers  # noqa: E402

BIASES = 10
CAPTIONS = 1000
IMAGES = 100  # per caption: 10 biases x 1000 captions x 100 images = 1,000,000 rows


def make_table(seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n_bias = CAPTIONS * IMAGES
    tables = []
    for b in range(BIASES):
        k = 2 + b % 4
        probs = rng.dirichlet(np.ones(k + 1), size=n_bias)
        outcomes = [f"c{i}" for i in range(k)] + ["unknown"]
        caption_ids = np.repeat(np.arange(CAPTIONS), IMAGES)
        flat = pa.array(probs.ravel())
        offsets = pa.array(np.arange(0, (k + 1) * n_bias + 1, k + 1, dtype=np.int32))
        cap_str = pa.array([f"c{i:05d}" for i in range(CAPTIONS)]).take(pa.array(caption_ids))
        tables.append(pa.table({
            "caption_id": cap_str,
            "caption": pa.array([f"caption {i}" for i in range(CAPTIONS)]).take(
                pa.array(caption_ids)),
            "bias_id": pa.array([f"person/bias{b}"] * n_bias),
            "bias_name": pa.array([f"bias{b}"] * n_bias),
            "refer_to": pa.array(["person"] * n_bias),
            "question": pa.array(["q?"] * n_bias),
            "seed": pa.array(np.tile(np.arange(IMAGES), CAPTIONS)),
            "image_key": pa.array(["k"] * n_bias),
            "image_sha256": pa.array(["s"] * n_bias),
            "image_path": pa.nulls(n_bias, pa.string()),
            "outcomes": pa.array([outcomes] * n_bias, pa.list_(pa.string())),
            "probs": pa.ListArray.from_arrays(offsets, flat),
            "label": pa.array(["c0"] * n_bias),
            "label_prob": pa.array(probs.max(axis=1)),
            "is_unknown": pa.array(np.zeros(n_bias, dtype=bool)),
            "answer": pa.nulls(n_bias, pa.string()),
        }, schema=ANSWERS_SCHEMA))
    return pa.concat_tables(tables)


def main() -> None:
    table = make_table()
    t0 = time.perf_counter()
    for b in range(BIASES):  # peer: group + count only
        k = 2 + b % 4
        start = b * CAPTIONS * IMAGES
        probs = np.asarray(table.column("probs").slice(start, CAPTIONS * IMAGES).combine_chunks()
                           .flatten()).reshape(-1, k + 1)
        counts = np.zeros((CAPTIONS, k + 1), dtype=np.int64)
        np.add.at(counts, (np.repeat(np.arange(CAPTIONS), IMAGES), probs.argmax(1)), 1)
    bare_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = score_answers(table, ScoringOptions())
    score_s = time.perf_counter() - t0
    assert len(scores) == BIASES
    write_result("scoring", {
        "rows": table.num_rows,
        "biases": BIASES,
        "captions": CAPTIONS,
        "score_s": round(score_s, 3),
        "bare_count_s": round(bare_s, 3),
        "ratio_score_to_bare": round(score_s / bare_s, 2),
        "target_s": 2.0,
        "meets_target": score_s < 2.0,
    })


if __name__ == "__main__":
    main()

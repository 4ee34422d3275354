"""build_report_data: ranking, defensive reading of optional statistics, JSON-ability."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fairframe.report import build_report_data
from tests.report.conftest import (
    HOSTILE,
    ScoresEditor,
    add_statistics,
    make_insufficient,
    strip_statistics,
)


def _ids(data: dict[str, Any]) -> list[str]:
    return [b["bias_id"] for b in data["biases"]]


def test_one_entry_per_bias_ranked_by_context_free_value(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    run_dir = edit_scores(strip_statistics)
    data = build_report_data(run_dir)
    scores = json.loads((run_dir / "scores.json").read_text())
    assert sorted(_ids(data)) == sorted(b["bias_id"] for b in scores["biases"])
    values = [b["context_free"]["value"] for b in data["biases"]]
    assert values == sorted(values, reverse=True)
    assert [b["rank"] for b in data["biases"]] == list(range(1, len(values) + 1))
    assert all(b["rank_by"] == "value" for b in data["biases"])
    assert data["ranking"]["by"] == "context_free.value"
    json.dumps(data, allow_nan=False)  # JSON-serialisable, no NaN


def test_ranking_uses_floor_corrected_value_when_present(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    order: list[str] = []

    def edit(s: dict[str, Any]) -> None:
        # corrected values rise along the file's order; the plain values fall along it
        s["biases"].sort(key=lambda b: -b["context_free"]["value"])
        order.extend(b["bias_id"] for b in s["biases"])
        add_statistics(s, corrected={bid: 0.1 + 0.01 * i for i, bid in enumerate(order)})

    data = build_report_data(edit_scores(edit))
    assert _ids(data) == order[::-1]
    assert data["ranking"]["by"] == "context_free.corrected"
    assert all(b["rank_by"] == "corrected" for b in data["biases"])


def test_insufficient_data_ranks_last_without_rank(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    target: list[str] = []

    def edit(s: dict[str, Any]) -> None:
        best = max(s["biases"], key=lambda b: b["context_free"]["value"])
        target.append(best["bias_id"])
        make_insufficient(best["context_free"])
        make_insufficient(best["context_aware"])

    data = build_report_data(edit_scores(edit))
    last = data["biases"][-1]
    assert last["bias_id"] == target[0]
    assert last["status"] == "insufficient_data" and last["rank"] is None
    assert "at least 2 needed" in last["reason"]
    assert last["context_free"]["value"] is None


def test_statistics_fields_are_read_and_intersections_deduplicated(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    data = build_report_data(edit_scores(add_statistics))
    top = data["biases"][0]
    cf = top["context_free"]
    assert cf["floor"] is not None and cf["corrected"] is not None
    assert cf["corrected_ci_low"] <= cf["corrected"] <= cf["corrected_ci_high"]
    assert cf["p_value"] is not None and cf["q_value"] is not None
    assert top["reference"] and set(top["reference"]) == set(top["classes"])
    assert top["test"]["method"] == "chi-square goodness of fit"
    pairs = [frozenset((x["row_bias"], x["col_bias"])) for x in data["intersections"]]
    assert len(pairs) == len(set(pairs)) == 2  # the transposed duplicate is dropped
    computed = data["intersections"][1]
    assert computed["counts"] is not None and computed["n"] == sum(map(sum, computed["counts"]))
    cell = computed["shares"][0][0]
    assert cell["ci_low"] < cell["value"] < cell["ci_high"]  # Wilson interval from counts
    partners = {b["bias_id"]: b["intersections"] for b in data["biases"]}
    x = data["intersections"][0]
    assert x["col_bias"] in partners[x["row_bias"]] and x["row_bias"] in partners[x["col_bias"]]


def test_malformed_optional_fields_become_warnings_not_crashes(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    def edit(s: dict[str, Any]) -> None:
        b = s["biases"][0]
        b["context_free"].update(floor="high", p_value="0.01", corrected=True, q_value=[1])
        b["reference"] = "uniform"
        b["test"] = "chi2"
        b["intersections"] = [{"with": "x"}, 7, {"with": s["biases"][1]["bias_id"],
                               "row_classes": b["classes"], "col_classes": ["a"],
                               "counts": [[1, 2]]}]
        s["intersections"] = "none"

    data = build_report_data(edit_scores(edit))
    b = next(x for x in data["biases"] if x["context_free"]["floor"] is None
             and x["reference"] is None)
    assert b["context_free"]["corrected"] is None  # True is not a number
    assert b["test"] is None
    assert data["intersections"] == []
    assert any("intersection" in w for w in data["warnings"])
    assert any("reference" in w for w in data["warnings"])
    json.dumps(data, allow_nan=False)


def test_captions_and_thumbnail_selection(run_dir: Path) -> None:
    data = build_report_data(run_dir, max_thumbnails_per_class=2)
    b = data["biases"][0]
    assert HOSTILE in [p["caption"] for p in b["per_caption"]]
    images = b["images"]
    assert list(images) == [*b["classes"], "unknown"]
    assert sum(g["total"] for g in images.values()) == b["n_images"]
    for group in images.values():
        assert len(group["shown"]) == min(2, group["total"])
        for item in group["shown"]:
            assert item["image_path"].startswith("images/")
    top = images[b["distribution"]["top_class"]]
    if top["total"] >= 2:  # taken in turn from each caption
        assert len({i["caption_id"] for i in top["shown"]}) == 2


def test_unsafe_image_paths_are_not_followed(run_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = run_dir / "answers.parquet"
    table = pq.read_table(path)
    paths = table.column("image_path").to_pylist()
    paths[0], paths[1] = "/etc/passwd", "../../secret.png"
    table = table.set_column(table.schema.get_field_index("image_path"), "image_path",
                             pa.array(paths, pa.string()))
    pq.write_table(table, path)
    data = build_report_data(run_dir, max_thumbnails_per_class=1000)
    shown = [i["image_path"] for b in data["biases"] for g in b["images"].values()
             for i in g["shown"]]
    assert "/etc/passwd" not in shown and "../../secret.png" not in shown
    assert None in shown


@pytest.mark.parametrize("missing", ["answers.parquet"])
def test_missing_answers_means_no_thumbnails(run_dir: Path, missing: str) -> None:
    (run_dir / missing).unlink()
    data = build_report_data(run_dir)
    assert all(b["images"] is None for b in data["biases"])
    assert any("answers.parquet" in w for w in data["warnings"])

"""The Markdown bias statement: what a model card needs, escaped, reproducible."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairframe.config import parse_config
from fairframe.report import build_report_data, render_bias_statement, write_report
from fairframe.report._toml import to_toml
from tests.report.conftest import ScoresEditor, add_statistics, make_insufficient


def _statement(run: Path) -> str:
    return write_report(run).markdown.read_text(encoding="utf-8")


def test_statement_contents(run_dir: Path) -> None:
    md = _statement(run_dir)
    data = json.loads((run_dir / "report.json").read_text())
    top = data["biases"][0]
    cf = top["context_free"]
    for needle in (
        "## Bias evaluation", "**Model audited:**", "`noise`", "revision `1`",
        "**What was audited:**", "3 captions", "8 images per caption", "seeds 0–7",
        "labelled by `fake`", "### Findings", "### Insufficient data", "### Limitations",
        "Perceived attributes", "Labeler error", "Small n", "Taxonomy choices",
        "### How to reproduce", "fairframe audit run audit.toml --out RUN_DIR",
        data["run"]["config_hash"], "test models",
        # the top finding with its value, interval and n
        f"{cf['value']:.3f} [{cf['ci_low']:.3f}, {cf['ci_high']:.3f}]",
        f"n = {cf['n']} images with a class out of {top['n_images']}",
    ):
        assert needle in md, needle
    table_rows = [ln for ln in md.splitlines() if ln.startswith("| ") and "`" in ln]
    assert len(table_rows) == len(data["biases"])
    assert "Every bias had enough answers for a score." in md


def test_statement_lists_insufficient_data_and_statistics(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    def edit(s: dict[str, Any]) -> None:
        add_statistics(s)
        make_insufficient(s["biases"][-1]["context_free"], reason="0 non-unknown answer(s)")

    run = edit_scores(edit)
    md = _statement(run)
    bias_id = json.loads((run / "scores.json").read_text())["biases"][-1]["bias_id"]
    assert f"- `{bias_id}`: 0 non-unknown answer(s)" in md
    assert "| Fair floor |" in md and "Floor-corrected" in md and "q-value" in md
    assert "floor-corrected" in md and "Ranked by floor-corrected severity." in md
    assert "not corrected for that chance floor" not in md


def test_run_text_is_escaped(run_dir: Path) -> None:
    data = build_report_data(run_dir)
    data["biases"][0]["name"] = "<img src=x onerror=alert(1)> *bold* | pipe"
    data["biases"][0]["classes"][0] = "<script>x</script>"
    md = render_bias_statement(data)
    assert "<img" not in md and "<script>" not in md
    assert "&lt;img src=x onerror=alert(1)&gt; \\*bold\\* \\| pipe" in md
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    widths = {len(re.findall(r"(?<!\\)\|", ln)) for ln in table}
    assert len(widths) == 1  # escaped pipes keep every row's column count


def test_config_round_trips_through_toml(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    config = manifest["config"]
    parsed = tomllib.loads(to_toml(config))
    again = parse_config(parsed).model_dump(mode="json")
    assert again == parse_config(config).model_dump(mode="json")
    md = _statement(run_dir)
    block = re.search(r"```toml\n(.*?)\n```", md, re.S)
    assert block is not None and tomllib.loads(block.group(1)) == parsed


def test_toml_writer_escapes_and_nests() -> None:
    text = to_toml({"name": 'a "b"\n`c`', "x": None, "t": {"k-1": [1, 2.5, True],
                    "weird key": "v", "inner": {"z": 1}}})
    assert tomllib.loads(text) == {"name": 'a "b"\n`c`',
                                   "t": {"k-1": [1, 2.5, True], "weird key": "v",
                                         "inner": {"z": 1}}}

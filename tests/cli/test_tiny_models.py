"""The full `fairframe audit run` and `fairframe doctor` on tiny random models, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from fairframe.cli import app

pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_examples_tiny_toml_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("diffusers")
    monkeypatch.setenv("FAIRFRAME_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    res = runner.invoke(app, ["audit", "run", str(ROOT / "examples/tiny.toml"), "--out", str(out),
                              "-q", "--json"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["components"]["generator"]["backend"] == "diffusers"
    assert manifest["components"]["labeler"]["backend"] == "clip"
    assert manifest["counts"]["images_generated"] == manifest["counts"]["images_needed"] > 0
    table = pq.read_table(out / "answers.parquet")
    assert table.num_rows == manifest["counts"]["labels_computed"]
    scores = json.loads((out / "scores.json").read_text())
    assert scores["biases"]
    again = runner.invoke(app, ["audit", "run", str(ROOT / "examples/tiny.toml"), "--out",
                                str(tmp_path / "run2"), "-q", "--json"])
    counts = json.loads(again.stdout)["counts"]
    assert counts["images_generated"] == 0 and counts["labels_computed"] == 0
    assert json.loads((tmp_path / "run2/scores.json").read_text()) == scores


def test_doctor_runs_the_selftest() -> None:
    pytest.importorskip("diffusers")
    res = runner.invoke(app, ["doctor", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["selftest"]["ok"] is True
    assert data["selftest"]["backends"] == "tiny diffusers + tiny CLIP"
    assert data["selftest"]["second_run"]["images_generated"] == 0
    usable = {(b["kind"], b["name"]): b["usable"] for b in data["backends"]}
    assert usable[("generator", "diffusers")] and usable[("labeler", "fake")]


def test_doctor_with_fake_backends() -> None:
    res = runner.invoke(app, ["doctor", "--fake", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["selftest"]["ok"] is True

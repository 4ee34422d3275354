"""The CLI: a thin shell with one-line errors and meaningful exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fairframe.cli import app
from fairframe.store import Store

runner = CliRunner()


def _cfg(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _one_line_error(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_version_and_backends() -> None:
    assert runner.invoke(app, ["--version"]).output.startswith("fairframe ")
    res = runner.invoke(app, ["backends", "--json"])
    data = json.loads(res.stdout)
    assert "diffusers" in data["generators"] and "clip" in data["labelers"]


def test_audit_run_and_dry_run(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    cfg = _cfg(tmp_path, fake_config)
    plan = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o"),
                               "--dry-run", "--json"])
    assert plan.exit_code == 0, plan.output
    summary = json.loads(plan.stdout)
    assert summary["images_to_generate"] == summary["images_needed"] > 0
    assert not (tmp_path / "o" / "scores.json").exists()

    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o"), "-q"],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "bias severity" in res.output
    n_images = json.loads((tmp_path / "o" / "scores.json").read_text())["biases"][0]["n_images"]
    assert f" {n_images} " in res.output and "…" not in res.output  # n shown whole at 80 columns
    assert (tmp_path / "o" / "scores.json").exists()
    again = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o"),
                                "-q", "--json"])
    counts = json.loads(again.stdout)["counts"]
    assert counts["images_generated"] == 0 and counts["images_cached"] == summary["images_needed"]


def test_missing_config(tmp_path: Path) -> None:
    res = runner.invoke(app, ["audit", "run", str(tmp_path / "x.toml"), "--out", "o"])
    assert res.exit_code == 2
    assert "does not exist" in _one_line_error(res.stderr)


def test_unknown_backend_lists_names(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    cfg = _cfg(tmp_path, {**fake_config, "generator": {"backend": "stable-diffusion"}})
    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    line = _one_line_error(res.stderr)
    assert "unknown generator 'stable-diffusion'" in line and "diffusers" in line


def test_missing_model_files(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    pytest.importorskip("diffusers")
    cfg = _cfg(tmp_path, {**fake_config, "generator": {
        "backend": "diffusers", "model": str(tmp_path / "no-model"), "device": "cpu"}})
    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 4, res.output
    assert "no-model does not exist" in res.stderr.strip().splitlines()[-1]


def test_unreachable_endpoint(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    cfg = _cfg(tmp_path, {**fake_config, "proposer": {"kind": "llm", "llm": {
        "backend": "openai-chat", "base_url": f"http://127.0.0.1:{port}/v1", "model": "m",
        "max_retries": 0, "timeout_s": 2}}})
    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 4, res.output
    assert f"127.0.0.1:{port}" in _one_line_error(res.stderr)


def test_empty_caption_file(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    (tmp_path / "caps.txt").write_text("\n")
    cfg = _cfg(tmp_path, {**fake_config, "captions": {"source": "caps.txt"}})
    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "caps.txt" in _one_line_error(res.stderr)


def test_corrupted_cached_image_then_repair(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    cfg = _cfg(tmp_path, fake_config)
    out = str(tmp_path / "o")
    assert runner.invoke(app, ["audit", "run", str(cfg), "--out", out, "-q"]).exit_code == 0
    cache = Path(fake_config["cache_dir"])
    blobs = sorted((cache / "blobs").rglob("*.png"))
    blobs[0].write_bytes(b"garbage")
    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", out, "-q"])
    assert res.exit_code == 5
    assert "cache verify" in _one_line_error(res.stderr)
    ver = runner.invoke(app, ["cache", "verify", str(cache)])
    assert ver.exit_code == 1
    ver = runner.invoke(app, ["cache", "verify", str(cache), "--repair", "--json"])
    assert ver.exit_code == 0 and len(json.loads(ver.stdout)["corrupt"]) == 1
    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", out, "-q", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["counts"]["images_generated"] >= 1
    with Store(cache) as store:
        assert store.verify().corrupt == ()


def test_cache_commands_on_a_non_cache(tmp_path: Path) -> None:
    res = runner.invoke(app, ["cache", "info", str(tmp_path)])
    assert res.exit_code == 2 and "not a Fairframe cache" in res.stderr


def test_audit_plan_matches_the_planning_table() -> None:
    res = runner.invoke(app, ["audit", "plan", "--delta", "0.1", "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    # exact binomial test; the normal approximation gives 194 (research note table)
    assert 194 <= plan["share_deviation"] <= 200
    assert plan["goodness_of_fit"] == 88 and plan["half_width"] == 93
    res = runner.invoke(app, ["audit", "plan", "-k", "4", "--json"])
    assert json.loads(res.stdout)["goodness_of_fit"] == 122
    bad = runner.invoke(app, ["audit", "plan", "--delta", "2"])
    assert bad.exit_code == 2 and "invalid plan" in _one_line_error(bad.stderr)


def test_report_explore_and_measure_are_wired(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    cfg = _cfg(tmp_path, fake_config)
    out = tmp_path / "o"
    assert runner.invoke(app, ["audit", "run", str(cfg), "--out", str(out), "-q"]).exit_code == 0
    res = runner.invoke(app, ["audit", "report", str(out), "--json"])
    assert res.exit_code == 0, res.output
    paths = json.loads(res.stdout)
    assert Path(paths["html"]).is_file() and Path(paths["markdown"]).is_file()
    res = runner.invoke(app, ["explore", str(out), "--out", str(tmp_path / "x"), "--json",
                              "--no-faces", "--embedder", "colour-hog"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "x" / "explore.html").is_file()
    image = next((out / "images").rglob("*.png"))
    res = runner.invoke(app, ["measure", "colorfulness", str(image), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["colorfulness"] > 0
    missing = runner.invoke(app, ["audit", "report", str(tmp_path / "nope")])
    assert missing.exit_code == 2


def test_error_text_with_brackets_is_printed_verbatim(
    tmp_path: Path, fake_config: dict[str, Any]
) -> None:
    cfg = _cfg(tmp_path, {**fake_config, "generation": {"images_per_caption": 0}})
    res = runner.invoke(app, ["audit", "run", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "[generation] images_per_caption" in _one_line_error(res.stderr)


def test_filesystem_errors_are_one_line_not_a_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    import typer

    from fairframe.cli._common import handle_errors

    @handle_errors
    def denied() -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/data/run/images")

    @handle_errors
    def bug() -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")  # not a user's path problem

    with pytest.raises(typer.Exit) as info:
        denied()
    assert info.value.exit_code == 5
    err = capsys.readouterr().err
    assert "cannot use /data/run/images: Permission denied" in err and "Traceback" not in err
    with pytest.raises(OSError, match="Bad file descriptor"):
        bug()

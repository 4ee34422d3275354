"""``fairframe guard check|scan|keys|log`` through the CLI runner (lexicon + gibberish config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fairframe.cli import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "guard.toml"
    path.write_text(
        "[stages.embedding]\nenabled = false\n"
        f'[service]\ndatabase_url = "sqlite:///{tmp_path / "guard.db"}"\n'
    )
    return path


def test_check_json(config: Path) -> None:
    r = runner.invoke(app, ["guard", "check", "a photo of a n.a.k.e.d woman", "--config",
                            str(config), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["action"] == "rewrite"
    assert d["categories"]["nudity"] == 1.0
    assert "nude" in d["negative_prompt_out"]
    ev = [f["evidence"] for f in d["findings"] if f["category"] == "nudity"]
    assert ev[0]["text"] == "n.a.k.e.d"


def test_check_table(config: Path) -> None:
    r = runner.invoke(app, ["guard", "check", "a gore scene, [red] lighting", "--config",
                            str(config)])
    assert r.exit_code == 0, r.output
    assert "action: rewrite" in r.stdout
    assert "violence" in r.stdout and "negative_prompt_out:" in r.stdout


def test_scan_jsonl_and_resume(config: Path, tmp_path: Path) -> None:
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"id": f"p{i}", "prompt": p}) + "\n" for i, p in
                           enumerate(["a red barn", "hardcore porn", "a bloody corpse",
                                      "x" * 5000])))
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["guard", "scan", str(src), "--out", str(out), "--config", str(config),
                            "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary == {"total": 4, "checked": 4, "resumed": 0, "errors": 1,  # too long
                       "resumed_errors": 0, "actions": {"allow": 1, "block": 1, "rewrite": 1}}
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x.get("action") for x in lines] == ["allow", "block", "rewrite", None]
    again = runner.invoke(app, ["guard", "scan", str(src), "--out", str(out), "--config",
                                str(config)])
    assert again.exit_code == 0
    assert "4 prompts: 0 checked, 4 already in" in again.stdout
    assert "(1 with an error), 0 errors" in again.stdout
    strict = runner.invoke(app, ["guard", "scan", str(src), "--out", str(out), "--config",
                                 str(config), "--fail-on-error"])  # the too-long prompt's line
    assert strict.exit_code == 1 and "1 prompt could not be checked" in strict.output
    fast = runner.invoke(app, ["guard", "scan", str(src), "--out", str(out), "--config",
                               str(config), "--fast"])  # --fast on top of this config: no change
    assert fast.exit_code == 0 and "4 already in" in fast.stdout
    longer = tmp_path / "longer.toml"
    longer.write_text("max_prompt_chars = 8000\n" + config.read_text())
    mixed = runner.invoke(app, ["guard", "scan", str(src), "--out", str(out), "--config",
                                str(longer)])
    assert mixed.exit_code != 0 and "written by another guard" in mixed.output
    assert "Traceback" not in mixed.output
    redo = runner.invoke(app, ["guard", "scan", str(src), "--out", str(out), "--config",
                               str(longer), "--no-resume", "--json"])
    assert redo.exit_code == 0 and json.loads(redo.stdout)["errors"] == 0


def test_scan_refuses_to_write_over_its_input(config: Path, tmp_path: Path) -> None:
    src = tmp_path / "prompts.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": "a cat"}) + "\n")
    for extra in ([], ["--no-resume"]):
        r = runner.invoke(app, ["guard", "scan", str(src), "--out", str(src), "--config",
                                str(config), *extra])
        assert r.exit_code != 0 and "is the input file" in r.output
    assert json.loads(src.read_text()) == {"id": "a", "prompt": "a cat"}


def test_a_wrong_out_is_refused_before_the_guard_loads(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fairframe.cli.guard as cli_guard

    src = tmp_path / "prompts.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": "a cat"}) + "\n")
    out = tmp_path / "notes.jsonl"
    out.write_text("my notes\n")

    def no_guard(*args: object) -> None:
        raise AssertionError("the guard (and its models) was built before the refusal")

    monkeypatch.setattr(cli_guard, "_guard", no_guard)
    r = runner.invoke(app, ["guard", "scan", str(src), "--out", str(out), "--config",
                            str(config)])
    assert r.exit_code != 0 and "line 1 is not a scan decision" in r.output
    assert "AssertionError" not in r.output and out.read_text() == "my notes\n"
    for extra in ([], ["--no-resume"]):  # a folder is refused either way
        r = runner.invoke(app, ["guard", "scan", str(src), "--out", str(tmp_path), "--config",
                                str(config), *extra])
        assert r.exit_code != 0 and "is a folder" in r.output and "AssertionError" not in r.output


@pytest.mark.parametrize("command", [["log", "verify"], ["keys", "list"],
                                     ["keys", "revoke", "abc"]])
def test_reading_a_store_that_is_not_there_creates_nothing(
        tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text(f'[service]\ndatabase_url = "sqlite:///{tmp_path / "gaurd.db"}"\n')
    r = runner.invoke(app, ["guard", *command, "--config", str(typo)])
    assert r.exit_code != 0 and "no enforcement store at" in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "gaurd.db").exists()


def test_fast_leaves_out_every_model_and_remote_stage(tmp_path: Path) -> None:
    cfg = tmp_path / "judge.toml"
    cfg.write_text('[stages.llm_judge]\nenabled = true\nbase_url = "http://127.0.0.1:9/v1"\n'
                   'model = "m"\n')
    r = runner.invoke(app, ["guard", "check", "a cat", "--config", str(cfg), "--fast", "--json"])
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.stdout)["latency_ms"]) <= {"normalize", "lexicon", "gibberish",
                                                       "language", "fusion", "rewrite"}
    assert "llm_judge" not in r.output


def test_keys_and_log(config: Path) -> None:
    r = runner.invoke(app, ["guard", "keys", "create", "ops", "--role", "admin", "--config",
                            str(config)])
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)
    assert created["token"].startswith("ff_")
    key_id = created["key"]["id"]
    listed = json.loads(runner.invoke(app, ["guard", "keys", "list", "--config",
                                            str(config), "--json"]).stdout)
    assert [k["id"] for k in listed] == [key_id]
    assert "token" not in listed[0] and "secret" not in json.dumps(listed)
    assert runner.invoke(app, ["guard", "keys", "revoke", key_id, "--config",
                               str(config)]).exit_code == 0
    table = runner.invoke(app, ["guard", "keys", "list", "--config", str(config)]).stdout
    assert key_id in table and "admin" in table
    assert table.count(" 20") >= 2  # created and revoked, as readable UTC times
    verify = runner.invoke(app, ["guard", "log", "verify", "--config", str(config), "--json"])
    assert verify.exit_code == 0 and json.loads(verify.stdout)["ok"] is True
    plain = runner.invoke(app, ["guard", "log", "verify", "--config", str(config)])
    assert plain.exit_code == 0 and "ok: 0 entries, hash chain intact" in plain.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["guard", "check", ""], "the prompt is empty"),
        (["guard", "scan", "missing.jsonl", "--out", "o.jsonl"], "does not exist"),
        (["guard", "keys", "create", "x", "--role", "root"], "unknown roles ['root']"),
    ],
)
def test_bad_input_exits_2_with_one_line(config: Path, args: list[str], message: str) -> None:
    r = runner.invoke(app, [*args, "--config", str(config)])
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "guard.toml"
    path.write_text("[stages.lexicon]\nbackend = 'aho'\nfoo = 1\n")
    r = runner.invoke(app, ["guard", "check", "a cat", "--config", str(path)])
    assert r.exit_code == 2
    assert "stages.lexicon: unknown keys ['foo']" in r.output


def test_short_label_keeps_the_spelling_note_whole() -> None:
    from fairframe.cli.guard import _short_label

    assert _short_label("x" * 100) == "x" * 60 + "…"
    reason = "; not flagged: the prompt asks for it (tan)"
    assert _short_label("z" * 100 + reason) == "z" * 60 + reason
    note = " (read as: a bloody massacre in a village)"
    assert _short_label("y" * 100 + note) == "y" * 60 + note
    assert _short_label("short") == "short"


def test_serve_fails_fast_in_one_line(config: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = runner.invoke(app, ["guard", "serve", "--config", str(config), "--host", "127.0.0.1",
                                "--port", str(port)])
    assert r.exit_code != 0 and f"cannot listen on 127.0.0.1:{port}" in r.output
    assert "pass --port" in r.output and "Traceback" not in r.output
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[service]\ndatabase_url = "sqlite:///{tmp_path / "afile" / "g.db"}"\n')
    r = runner.invoke(app, ["guard", "serve", "--config", str(bad), "--port", "1"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    r = runner.invoke(app, ["guard", "serve", "--config", str(config), "--port", "99999"])
    assert r.exit_code == 2 and "65535" in r.output


def test_serve_logs_its_store_and_guard_then_serves(config: Path, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    open_cfg = tmp_path / "open.toml"
    open_cfg.write_text(config.read_text() + "require_api_key = false\n")
    err = tmp_path / "output.txt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with err.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fairframe", "guard", "serve", "--config", str(open_cfg),
             "--host", "127.0.0.1", "--port", str(port), "--access-log"],
            stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(err.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = err.read_text()
    assert "INFO:     enforcement store: sqlite:///" in log  # uvicorn's format
    assert "loading the guard (stages: lexicon, gibberish" in log
    assert "guard ready in" in log and "policy fairframe-default/" in log
    assert "require_api_key = false" in log  # an open service says so
    assert "GET /readyz" in log  # --access-log
    r = runner.invoke(app, ["guard", "serve", "--config", str(config), "--log-level", "loud"])
    assert r.exit_code == 2 and "unknown log level 'loud'" in r.output


def test_scan_resumes_whatever_the_config_path_looks_like(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "policy.toml").write_text('version = "t/1"\n')
    (tmp_path / "cfg" / "guard.toml").write_text(
        'policy = "policy.toml"\n[stages.embedding]\nenabled = false\n'
        '[service]\ndatabase_url = "sqlite:///g.db"\n')
    src = tmp_path / "p.txt"
    src.write_text("a cat\na dog\n")
    monkeypatch.chdir(tmp_path)
    first = runner.invoke(app, ["guard", "scan", "p.txt", "--out", "o.jsonl", "--config",
                                "cfg/guard.toml"])
    assert first.exit_code == 0, first.output
    src.write_text("a cat\na dog\na cow\n")
    (tmp_path / "cfg" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "cfg" / "sub")
    with (tmp_path / "cfg" / "guard.toml").open("a") as fh:  # not part of what decides a line
        fh.write("port = 9090\n")
    again = runner.invoke(app, ["guard", "scan", "../../p.txt", "--out", "../../o.jsonl",
                                "--config", "../../cfg/sub/../guard.toml", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["resumed"] == 2 and json.loads(again.stdout)["checked"] == 1


def test_a_skipped_regeneration_rung_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    from fairframe.cli.guard import _show
    from fairframe.guard import Action, Decision
    from fairframe.guard.policy import default_policy

    decision = Decision(Action.BLOCK, {"nudity": 0.9}, prompt_in="p", policy_version="t/1",
                        attempts=[{"attempt": 1, "strategy": "initial", "action": "regenerate"},
                                  {"attempt": None, "strategy": "rewrite", "outcome": "skipped",
                                   "reason": "no rewrite callable configured"}])
    _show(decision, default_policy(), as_json=False)
    out = capsys.readouterr().out
    assert "attempt 1: initial -> regenerate" in out
    assert "skipped: rewrite (no rewrite callable configured)" in out and "None" not in out


def test_the_embedded_watermark_state_is_shown() -> None:
    from fairframe.cli.guard import _provenance_lines

    assert _provenance_lines({"watermark": {"payload": "ab", "verified": False}}) == [
        "watermark embedded but not readable back (small, flat or very busy image): do not "
        "rely on it for this image"]
    assert _provenance_lines({"watermark": {"skipped": "image is 64x64"}}) == [
        "watermark not embedded: image is 64x64"]
    assert _provenance_lines({"watermark": {"payload": "ab", "verified": True}}) == [
        "watermark embedded and verified (payload ab)"]


def test_a_moved_project_still_resumes_its_scan(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    project = tmp_path / "a"
    (project / "lx").mkdir(parents=True)
    (project / "lx" / "violence.txt").write_text("1.0  frobnicate\n")
    (project / "policy.toml").write_text('version = "t/1"\n')
    (project / "guard.toml").write_text(
        'policy = "policy.toml"\n[stages.lexicon]\ndirectory = "lx"\n'
        "[stages.embedding]\nenabled = false\n")
    (project / "p.txt").write_text("a cat\nfrobnicate\n")
    args = ["guard", "scan", "p.txt", "--out", "o.jsonl", "--config", "guard.toml", "--json"]
    monkeypatch.chdir(project)
    assert runner.invoke(app, args).exit_code == 0
    moved = tmp_path / "b"
    shutil.copytree(project, moved)
    (moved / "p.txt").write_text("a cat\nfrobnicate\na dog\n")
    monkeypatch.chdir(moved)
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["resumed"] == 2


def test_check_marks_findings_the_fusion_does_not_count(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    from fairframe.cli.guard import _show
    from fairframe.guard.decision import Action, Decision, Evidence, Finding
    from fairframe.guard.fusion import Fusion
    from fairframe.guard.policy import default_policy

    text = "a photo of a real woman"
    decision = Decision(Action.FLAG, {"privacy": 0.0, "nudity": 0.8}, findings=(
        Finding("embedding", "privacy", 1.0, Evidence((0, len(text)), text, "nearest")),
        Finding("embedding", "nudity", 0.8, Evidence((0, len(text)), text, "nearest"))))
    _show(decision, default_policy(), False, Fusion())
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "embedding:" in ln]
    assert len(lines) == 2
    assert "not counted" in lines[0] and "not counted" not in lines[1]


def test_check_reads_the_prompt_from_stdin(config: Path) -> None:
    r = runner.invoke(app, ["guard", "check", "-", "--config", str(config), "--json"],
                      input="hardcore porn\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["prompt_in"] == "hardcore porn"
    huge = runner.invoke(app, ["guard", "check", "-", "--config", str(config)],
                         input="x" * 2_000_000)
    assert huge.exit_code == 2 and "2000000 characters; the limit is 4000" in huge.output
    bad = runner.invoke(app, ["guard", "check", "-", "--config", str(config)],
                        input=b"a \xff b")
    assert bad.exit_code == 2 and "stdin is not UTF-8" in bad.output

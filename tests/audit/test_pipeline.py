"""The audit end to end on fake backends: outputs, counts, cache reuse, crash and resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from fairframe.audit.pipeline import plan_audit, run_audit
from fairframe.config import parse_config
from fairframe.errors import InputDataError
from fairframe.store import Store

SCORE_FIELDS = {"metric", "value", "n", "ci_low", "ci_high", "ci_method", "confidence",
                "status", "reason", "floor", "p_value", "q_value"}


def test_audit_writes_all_outputs(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    cfg = parse_config(fake_config)
    result = run_audit(cfg, tmp_path / "out")
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    scores = json.loads((out / "scores.json").read_text())
    table = pq.read_table(out / "answers.parquet")

    counts = manifest["counts"]
    assert counts["captions"] == 3
    assert counts["images_generated"] == counts["images_needed"] == 18 - 6 * counts[
        "captions_without_bias"]
    assert counts["images_cached"] == 0 and counts["labels_cached"] == 0
    assert counts["labels_computed"] == table.num_rows == counts["answers"]
    assert manifest["seeds"]["per_image"] == [0, 1, 2, 3, 4, 5]
    assert manifest["components"]["generator"]["backend"] == "fake"
    assert "numpy" in manifest["environment"]["libraries"]
    assert set(manifest["timings_s"]) >= {"propose", "generate", "label", "score", "total"}

    assert scores["biases"], "the sample captions mention people, so biases must be found"
    expected_rows = sum(b["n_images"] for b in scores["biases"])
    assert table.num_rows == expected_rows
    for bias in scores["biases"]:
        for key in ("context_free", "context_aware"):
            assert set(bias[key]) >= SCORE_FIELDS
        total = sum(bias["distribution"]["counts"].values()) + bias["distribution"]["unknown"]
        assert total == bias["n_images"]
        for cap in bias["per_caption"]:
            assert set(cap["severity"]) >= SCORE_FIELDS
            assert cap["n_images"] == 6
    row = table.slice(0, 1).to_pylist()[0]
    assert row["outcomes"][-1] == "unknown"
    assert abs(sum(row["probs"]) - 1) < 1e-6
    assert (out / row["image_path"]).is_file()
    assert result.counts == counts


def test_rerun_comes_from_cache_with_identical_results(
    tmp_path: Path, fake_config: dict[str, Any]
) -> None:
    cfg = parse_config(fake_config)
    first = run_audit(cfg, tmp_path / "a")
    second = run_audit(cfg, tmp_path / "b")
    assert second.counts["images_generated"] == 0
    assert second.counts["labels_computed"] == 0
    assert second.counts["images_cached"] == first.counts["images_generated"]
    assert second.counts["labels_cached"] == first.counts["labels_computed"]
    assert first.scores == second.scores
    assert pq.read_table(tmp_path / "a/answers.parquet").equals(
        pq.read_table(tmp_path / "b/answers.parquet"))


def test_no_resume_recomputes(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    cfg = parse_config(fake_config)
    first = run_audit(cfg, tmp_path / "a")
    again = run_audit(cfg, tmp_path / "b", resume=False)
    assert again.counts["images_generated"] == first.counts["images_generated"]
    assert again.scores == first.scores


def test_runs_sharing_a_cache_share_work(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    run_audit(parse_config(fake_config), tmp_path / "a")
    bigger = {**fake_config, "captions": {"source": "builtin:sample", "limit": 4}}
    res = run_audit(parse_config(bigger), tmp_path / "b")
    assert res.counts["images_cached"] > 0
    assert res.counts["images_generated"] == res.counts["images_needed"] - res.counts[
        "images_cached"]
    # a changed generation parameter is a different image
    other = {**fake_config, "generation": {"images_per_caption": 6, "seed": 0, "height": 24}}
    assert run_audit(parse_config(other), tmp_path / "c").counts["images_cached"] == 0


def test_a_second_run_into_the_same_folder_leaves_nothing_of_the_first(
        tmp_path: Path, fake_config: dict[str, Any]) -> None:
    out = tmp_path / "out"
    big = {**fake_config, "captions": {"source": "builtin:sample", "limit": 4},
           "generation": {"images_per_caption": 6, "seed": 0}}
    run_audit(parse_config(big), out)
    (out / "report.html").write_text("a report of the first run")
    small = {**fake_config, "captions": {"source": "builtin:sample", "limit": 2},
             "generation": {"images_per_caption": 3, "seed": 7}}
    second = run_audit(parse_config(small), out)
    table = pq.read_table(out / "answers.parquet").to_pylist()
    exported = {str(p.relative_to(out)) for p in (out / "images").rglob("*.png")}
    assert exported == {row["image_path"] for row in table}  # no image of the first run left
    assert len(exported) == 2 * 3 and second.counts["images_needed"] == 6
    for row in table[:3]:  # each file holds this run's image, not the first run's
        data = (out / row["image_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["image_sha256"]
    assert not (out / "report.html").exists()  # it described the first run's scores


def test_a_first_run_never_touches_the_users_own_images(
        tmp_path: Path, fake_config: dict[str, Any]) -> None:
    out = tmp_path / "project"
    mine = out / "images" / "holiday"
    mine.mkdir(parents=True)
    (mine / "beach.png").write_bytes(b"my photo")
    (mine / "3.png").write_bytes(b"also mine")
    run_audit(parse_config(fake_config), out)
    assert (mine / "beach.png").read_bytes() == b"my photo"
    assert (mine / "3.png").read_bytes() == b"also mine"  # no earlier run here: nothing pruned


def test_dry_run_plan_counts_cache_hits(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    cfg = parse_config(fake_config)
    before = plan_audit(cfg).summary()
    assert before["images_cached"] == 0 and before["images_to_generate"] > 0
    assert before["biases"]
    run_audit(cfg, tmp_path / "out")
    after = plan_audit(cfg).summary()
    assert after["images_to_generate"] == 0 and after["labels_to_compute"] == 0
    assert after["images_needed"] == before["images_needed"]


def test_empty_caption_file_is_a_clear_error(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    (tmp_path / "caps.txt").write_text("# nothing here\n\n")
    cfg = parse_config({**fake_config, "captions": {"source": str(tmp_path / "caps.txt")}})
    with pytest.raises(InputDataError, match="caps.txt"):
        run_audit(cfg, tmp_path / "out")


def test_llm_proposer_failures_are_reported(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    good = json.dumps({"bias": [{"name": "gender", "refer_to": "person",
                                 "classes": ["man", "woman"],
                                 "question": "What is the gender of the person?",
                                 "present_in_prompt": False}]})
    cfg = parse_config({
        **fake_config,
        "captions": {"source": "builtin:sample", "limit": 2},
        "proposer": {"kind": "llm", "max_attempts": 2,
                     "llm": {"backend": "fake", "responses": [good, "no json here", "nor here"]}},
    })
    res = run_audit(cfg, tmp_path / "out")
    assert res.counts["proposal_failures"] == 1
    failure = res.scores["proposal_failures"][0]
    assert failure["attempts"] == 2 and failure["raw_replies"] == ["no json here", "nor here"]
    assert [b["bias_id"] for b in res.scores["biases"]] == ["person/gender"]
    assert res.counts["llm_calls"] == 3
    again = run_audit(cfg, tmp_path / "out2")
    assert again.counts["llm_calls"] == 0 and again.counts["llm_cached"] == 3


def _write_config(path: Path, config: dict[str, Any]) -> None:
    import yaml

    path.write_text(yaml.safe_dump(config))


def _count_images(cache: Path) -> int:
    if not (cache / "cache.sqlite").exists():
        return 0
    try:
        with Store(cache) as store:
            return store.counts()["images"]
    except Exception:  # the writer may hold the lock for a moment
        return 0


def test_killed_run_resumes_without_regenerating(
    tmp_path: Path, fake_config: dict[str, Any]
) -> None:
    config = {**fake_config,
              "generator": {"backend": "fake", "size": 16, "batch_size": 2, "delay_s": 0.05},
              "generation": {"images_per_caption": 30, "seed": 0}}
    cfg_path = tmp_path / "audit.yaml"
    _write_config(cfg_path, config)
    cache = Path(config["cache_dir"])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "fairframe", "audit", "run", str(cfg_path), "--out",
           str(tmp_path / "out"), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count_images(cache) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stderr.close()  # type: ignore[union-attr]
    stored = _count_images(cache)
    assert 10 <= stored < 90, "the kill must land in the middle of generation"
    assert not (tmp_path / "out" / "scores.json").exists()

    done = subprocess.run([*cmd[:-1], "--json"], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    counts = json.loads(done.stdout)["counts"]
    assert counts["images_cached"] == stored
    assert counts["images_generated"] == counts["images_needed"] - stored

    fresh = {**config, "cache_dir": str(tmp_path / "fresh-cache"),
             "generator": {**config["generator"], "delay_s": 0.0}}
    clean = run_audit(parse_config(fresh), tmp_path / "clean")
    resumed = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert resumed == clean.scores


def test_caption_that_states_an_attribute_is_not_audited_for_it(
    tmp_path: Path, fake_config: dict[str, Any]
) -> None:
    (tmp_path / "caps.txt").write_text("a photo of a female doctor\na photo of a nurse\n")
    cfg = parse_config({**fake_config, "captions": {"source": str(tmp_path / "caps.txt")}})
    res = run_audit(cfg, tmp_path / "out")
    gender = next(b for b in res.scores["biases"] if b["bias_id"] == "person/gender")
    assert [c["caption"] for c in gender["per_caption"]] == ["a photo of a nurse"]
    dropped = [d for d in res.scores["dropped_pairs"] if d["bias"].endswith("gender")]
    assert dropped and dropped[0]["matched"] == "female"
    age = next(b for b in res.scores["biases"] if b["bias_id"] == "person/age")
    assert len(age["per_caption"]) == 2


def test_plan_reports_pending_llm_proposals_without_calling(
    tmp_path: Path, fake_config: dict[str, Any]
) -> None:
    cfg = parse_config({**fake_config,
                        "proposer": {"kind": "llm", "llm": {"backend": "fake"}}})
    plan = plan_audit(cfg)
    assert plan.pending_proposals == 3 and plan.merge is None
    assert plan.summary()["images_needed"] == 0
    run_audit(cfg, tmp_path / "out")
    plan = plan_audit(cfg)
    assert plan.pending_proposals == 0
    assert plan.summary()["images_to_generate"] == 0


def test_two_concurrent_runs_share_one_cache(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    config = {**fake_config,
              "generator": {"backend": "fake", "size": 16, "batch_size": 2, "delay_s": 0.01},
              "generation": {"images_per_caption": 20, "seed": 0}}
    cfg_path = tmp_path / "audit.yaml"
    _write_config(cfg_path, config)
    procs = [
        subprocess.Popen([sys.executable, "-m", "fairframe", "audit", "run", str(cfg_path),
                          "--out", str(tmp_path / f"out{i}"), "--quiet", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    counts = [json.loads(out)["counts"] for out, _ in results]
    needed = counts[0]["images_needed"]
    with Store(Path(config["cache_dir"])) as store:
        assert store.counts()["images"] == needed
        assert store.verify().corrupt == ()
    a, b = (json.loads((tmp_path / f"out{i}" / "scores.json").read_text()) for i in range(2))
    assert a == b


def test_ctrl_c_exits_130_and_keeps_work(tmp_path: Path, fake_config: dict[str, Any]) -> None:
    config = {**fake_config,
              "generator": {"backend": "fake", "size": 16, "batch_size": 1, "delay_s": 0.05}}
    cfg_path = tmp_path / "audit.yaml"
    _write_config(cfg_path, config)
    cache = Path(config["cache_dir"])
    proc = subprocess.Popen([sys.executable, "-m", "fairframe", "audit", "run", str(cfg_path),
                             "--out", str(tmp_path / "out"), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _count_images(cache) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "rerun the same command to resume" in err
    assert "Traceback" not in err
    assert _count_images(cache) >= 3


def test_adaptive_sampling_stops_early_and_replays_from_cache(
    tmp_path: Path, fake_config: dict[str, Any]
) -> None:
    config = {**fake_config,
              "captions": {"source": "builtin:professions", "limit": 3},
              "labeler": {"backend": "fake", "first_share": 0.9},
              "sampling": {"mode": "adaptive", "round_size": 10, "max_images_per_caption": 200}}
    cfg = parse_config(config)
    res = run_audit(cfg, tmp_path / "out")
    sampling = res.manifest["sampling"]
    assert sampling["mode"] == "adaptive"
    # a 90/10 labeler deviates strongly from uniform: every stream stops within a few rounds,
    # except the biases where the fake labeler's split is balanced (none with first_share=0.9)
    assert sampling["images_used"] < sampling["fixed_plan_images"] / 2
    assert sampling["stop_reasons"].get("stop: deviates from reference", 0) > 0
    assert res.counts["images_generated"] == sampling["images_used"]
    per_caption = sampling["images_per_caption"]
    assert all(n % 10 == 0 and 10 <= n <= 200 for n in per_caption.values())
    again = run_audit(cfg, tmp_path / "again")
    assert again.counts["images_generated"] == 0
    assert again.manifest["sampling"]["images_per_caption"] == per_caption
    assert again.scores["biases"] == res.scores["biases"]


def test_references_confusion_and_intersections(
    tmp_path: Path, fake_config: dict[str, Any]
) -> None:
    (tmp_path / "caps.txt").write_text("a photo of a nurse\na photo of a doctor\n")
    config = {**fake_config, "captions": {"source": str(tmp_path / "caps.txt")},
              "generation": {"images_per_caption": 40},
              "scoring": {
                  "references": [{"bias": "person/gender", "caption": "a photo of a nurse",
                                  "shares": {"man": 0.13, "woman": 0.87}}],
                  "confusion": [{"bias": "person/gender", "classes": ["woman", "man"],
                                 "counts": [[45, 5], [10, 40]]}],
                  "intersections": [["person/gender", "person/skin-tone"]]}}
    res = run_audit(parse_config(config), tmp_path / "out")
    gender = next(b for b in res.scores["biases"] if b["bias_id"] == "person/gender")
    nurse = next(c for c in gender["per_caption"] if c["caption"] == "a photo of a nurse")
    doctor = next(c for c in gender["per_caption"] if c["caption"] == "a photo of a doctor")
    assert nurse["reference"] == {"man": 0.13, "woman": 0.87}
    assert doctor["reference"] is None
    for entry in (nurse["severity"], gender["context_free"]):
        assert entry["p_value"] is not None and entry["q_value"] is not None
        assert entry["q_value"] >= entry["p_value"]
        assert entry["floor"] is not None and entry["corrected"] is not None
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
    corrected = gender["distribution"]["corrected_shares"]
    assert corrected["status"] == "ok" and set(corrected["shares"]) == {"man", "woman"}
    assert gender["metrics"]["kl"]["status"] == "ok"
    [inter] = res.scores["intersections"]
    assert inter["biases"] == ["person/gender", "person/skin-tone"]
    assert sum(map(sum, inter["counts"])) == inter["n"] > 0


@pytest.mark.parametrize(
    ("scoring", "pattern"),
    [
        ({"references": [{"bias": "person/gendr", "shares": {"man": 0.5, "woman": 0.5}}]},
         r"bias 'person/gendr' is not in this run; its biases are: .*person/gender"),
        ({"references": [{"bias": "person/gender", "shares": {"man": 0.5, "female": 0.5}}]},
         r"missing \['woman'\], unknown \['female'\]"),
        ({"references": [{"bias": "person/gender", "shares": {"man": 0.6, "woman": 0.6}}]},
         r"sum to 1"),
        ({"intersections": [["person/gender", "dog/breed"]]}, r"'dog/breed' is not in this run"),
    ],
)
def test_bad_scoring_config_fails_before_generating(
    tmp_path: Path, fake_config: dict[str, Any], scoring: dict[str, Any], pattern: str
) -> None:
    from fairframe.errors import ConfigError

    cfg = parse_config({**fake_config, "scoring": scoring})
    with pytest.raises(ConfigError, match=pattern):
        run_audit(cfg, tmp_path / "out")
    assert _count_images(Path(fake_config["cache_dir"])) == 0

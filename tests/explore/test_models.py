"""Several sources as models: labels, disambiguation, the shared image limit, per-model views, the
one-line error for a source given twice, and the CLI with two sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fairframe.cli.explore import explore_command
from fairframe.errors import InputDataError
from fairframe.explore import explore
from fairframe.explore._collect import collect_sources, generator_label
from tests.explore.conftest import IMAGES_PER_CAPTION, IMAGES_PER_CAPTION_B


def test_generator_label() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert generator_label({"backend": "diffusers", "model": "stabilityai/sd-turbo",
                            "revision": sha}) == "stabilityai/sd-turbo@0123456"
    assert generator_label({"backend": "diffusers", "model": "m", "revision": "main"}) == "m@main"
    assert generator_label({"backend": "openai-images", "model": "gpt-image-1"}) == "gpt-image-1"
    assert generator_label({"backend": "fake", "model": "noise", "revision": "1"}) == "fake"
    assert generator_label({"backend": "folder", "manifest": "/x.csv"}) == "folder"
    assert generator_label(None) is None


def test_two_fake_runs_are_two_models(audit_run: Path, audit_run_b: Path) -> None:
    srcs = collect_sources([audit_run, audit_run_b])
    # both runs use the fake backend: the same label, told apart by the folder names
    assert srcs.models == ["fake (run)", "fake (run-b)"]
    a, b = srcs.collections
    assert a.generator != b.generator and (a.generator or {})["size"] == 64
    assert len(a.items) == 4 * IMAGES_PER_CAPTION and len(b.items) == 4 * IMAGES_PER_CAPTION_B
    assert srcs.total == len(srcs.items) == 4 * (IMAGES_PER_CAPTION + IMAGES_PER_CAPTION_B)
    # caption-major order: each caption's images of run, then of run-b
    first_cap = srcs.items[0].caption_id
    head = srcs.items[:IMAGES_PER_CAPTION + IMAGES_PER_CAPTION_B]
    assert {it.caption_id for it in head} == {first_cap}
    assert [it.source for it in head] == [0] * IMAGES_PER_CAPTION + [1] * IMAGES_PER_CAPTION_B


def test_max_images_is_shared_by_source_and_caption(audit_run: Path, audit_run_b: Path) -> None:
    srcs = collect_sources([audit_run, audit_run_b], max_images=20)
    caps = list(dict.fromkeys(it.caption_id for it in srcs.items))
    per = [[sum(it.caption_id == c and it.source == s for it in srcs.items) for s in (0, 1)]
           for c in caps]
    assert len(srcs.items) == 20 and per == [[3, 3], [3, 3], [2, 2], [2, 2]]


def test_equal_folder_names_use_more_of_the_path(photo_folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy" / "photos"
    shutil.copytree(photo_folder, other)
    srcs = collect_sources([photo_folder, other])
    assert srcs.models == [f"photos ({photo_folder.parent.name}/photos)", "photos (copy/photos)"]


@pytest.mark.parametrize("same", ["identical", "relative"])
def test_a_source_given_twice_is_one_line_error(
    audit_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same: str,
) -> None:
    second: str | Path = audit_run
    if same == "relative":
        monkeypatch.chdir(audit_run.parent)
        second = Path(".") / audit_run.name / "."
    with pytest.raises(InputDataError) as info:
        explore([audit_run, second], tmp_path / "out", embedder="colour-hog")
    msg = str(info.value)
    assert "\n" not in msg and "given twice" in msg and str(second) in msg
    with pytest.raises(InputDataError, match="no source given"):
        explore([], tmp_path / "out", embedder="colour-hog")


def test_two_runs_page_has_models_everywhere(audit_run: Path, audit_run_b: Path,
                                             tmp_path: Path) -> None:
    res = explore([audit_run, audit_run_b], tmp_path / "out", embedder="colour-hog", k=3,
                  face_detector=None)
    data = json.loads(res.json.read_text())
    models = ["fake (run)", "fake (run-b)"]
    n_a, n_b = 4 * IMAGES_PER_CAPTION, 4 * IMAGES_PER_CAPTION_B
    assert data["models"] == models and res.counts["models"] == 2 and res.counts["sources"] == 2
    assert [it["model"] for it in data["items"]].count(models[1]) == n_b
    assert [s["images"] for s in data["sources"]] == [n_a, n_b]
    assert data["sources"][1]["generator"]["size"] == 48
    by_model = data["clusters"]["composition_by_model"]
    assert sum(map(sum, by_model[models[0]].values())) == n_a
    assert [sum(data["clusters"]["model_sizes"][m]) for m in models] == [n_a, n_b]
    assert all(c["by_model"][models[1]]["n"] == IMAGES_PER_CAPTION_B for c in data["captions"])
    html = res.html.read_text()
    assert 'id="f-model"' in html and html.count('<div class="modelgrid"') == 8
    assert html.count(f'data-model="{models[1]}"') >= n_b
    assert "Cluster membership per caption and model" in html


def test_single_source_is_one_model_without_a_model_filter(audit_run: Path,
                                                           tmp_path: Path) -> None:
    res = explore(audit_run, tmp_path / "out", embedder="colour-hog", k=2, face_detector=None)
    data = json.loads(res.json.read_text())
    assert data["models"] == ["fake"] and res.counts["models"] == 1
    assert {it["model"] for it in data["items"]} == {"fake"}
    assert data["source"]["kind"] == "audit-run" and len(data["sources"]) == 1
    html = res.html.read_text()
    assert 'id="f-model"' not in html and 'class="modelgrid"' not in html


def test_cli_takes_several_sources(audit_run: Path, audit_run_b: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("explore")(explore_command)
    result = CliRunner().invoke(app, [str(audit_run), str(audit_run_b), "--out",
                                      str(tmp_path / "o"), "--embedder", "colour-hog", "-k", "2",
                                      "--no-faces", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]
    assert counts["models"] == 2 and counts["sources"] == 2
    dup = CliRunner().invoke(app, [str(audit_run), str(audit_run), "--out", str(tmp_path / "d")])
    assert dup.exit_code == 2 and "given twice" in dup.output
    assert dup.output.strip().count("\n") == 0

"""The written page and data: one thumbnail per image, every view present, escaping, no network,
graceful degradation without a face detector; and the CLI command."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import typer
from typer.testing import CliRunner

from fairframe.cli.explore import explore_command
from fairframe.explore import explore
from tests.explore.conftest import IMAGES_PER_CAPTION

HOSTILE = 'nurse <script>alert("x")</script> & <b>co</b>'


def test_audit_run_page_has_every_view(audit_run: Path, tmp_path: Path) -> None:
    res = explore(audit_run, tmp_path / "out", embedder="colour-hog", k=3)
    html = res.html.read_text()
    data = json.loads(res.json.read_text())
    n = 4 * IMAGES_PER_CAPTION
    assert res.counts["images"] == n and res.counts["captions"] == 4
    assert res.counts["clusters"] == 3 and data["clusters"]["k"] == 3
    assert html.count('<li class="item"') == n
    assert len(re.findall(r'<section class="capgrid"', html)) == 4
    for anchor in ("grid", "neighbours", "clusters", "faces", "colourfulness"):
        assert f'id="{anchor}"' in html
    assert 'id="f-caption"' in html and 'id="f-group"' in html and 'id="f-cf-min"' in html
    assert "person/gender=woman" in html  # group filter options come from the run's labels
    # no network: every src is a data: URI, CSP forbids the rest
    assert all(s.startswith("data:") for s in re.findall(r'src="([^"]*)"', html))
    assert "default-src &#x27;none&#x27;" in html
    assert "http://" not in html and "https://" not in html
    item = data["items"][0]
    assert len(item["neighbors"]) == 8 and item["caption_id"] and item["groups"]
    assert sum(sum(v) for v in data["clusters"]["composition"].values()) == n
    assert all(c["colorfulness"]["n"] == IMAGES_PER_CAPTION for c in data["captions"])
    # fake noise images have no faces: the section says so
    assert res.counts["faces"] == 0 and "No face found" in html


def test_progress_is_reported_per_image(photo_folder: Path, tmp_path: Path) -> None:
    import contextlib
    from collections.abc import Iterator

    seen: list[tuple[str, int]] = []
    steps: list[int] = []

    class Recorder:
        @contextlib.contextmanager
        def stage(self, name: str, total: int) -> Iterator[object]:
            seen.append((name, total))

            class Bar:
                def advance(self, n: int = 1) -> None:
                    steps.append(n)
            yield Bar()

    res = explore(photo_folder, tmp_path / "out", embedder="colour-hog", face_detector=None,
                  progress=Recorder())
    # one stage, one step per image read (every image of this folder is readable)
    assert seen == [("explore", sum(steps))] and sum(steps) == res.counts["images"] > 0


def test_captions_are_escaped(photo_folder: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(photo_folder / "coffee", src / HOSTILE)
    res = explore(src, tmp_path / "out", embedder="colour-hog", face_detector=None)
    html = res.html.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)" in html
    assert "<b>co</b>" not in html


def test_without_a_face_detector_the_view_degrades(photo_folder: Path, tmp_path: Path) -> None:
    res = explore(photo_folder, tmp_path / "a", embedder="colour-hog", face_detector=None)
    assert "No face detector available" in res.html.read_text()
    assert res.counts["faces"] == 0 and res.notes == ("face detection was turned off",)
    res = explore(photo_folder, tmp_path / "b", embedder="colour-hog",
                  face_detector="no-such-detector")
    assert "no face detector available" in res.notes[0]
    assert json.loads(res.json.read_text())["faces"]["available"] is False


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("explore")(explore_command)
    return app


def test_cli_writes_the_page_and_prints_json(photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(_app(), [str(photo_folder), "--out", str(out), "--embedder",
                                         "colour-hog", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"]["images"] == 10 and summary["counts"]["clusters"] == 2
    assert Path(summary["html"]).is_file()


def test_cli_missing_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), [str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "does not exist" in result.output and result.output.strip().count("\n") == 0

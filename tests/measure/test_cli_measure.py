from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fairframe.cli.measure import measure_app
from fairframe.measure.skin_tone import MONK_SWATCHES

runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path, astronaut: Image.Image) -> Path:
    astronaut.save(tmp_path / "b_astronaut.png")
    Image.new("RGB", (64, 64), (128, 128, 128)).save(tmp_path / "a_grey.png")
    (tmp_path / "c_notes.txt").write_text("not an image")
    return tmp_path


def test_skin_tone_whole_image_patch(tmp_path: Path) -> None:
    path = tmp_path / "mst8.png"
    Image.fromarray(np.full((32, 32, 3), MONK_SWATCHES[7].rgb, np.uint8)).save(path)
    res = runner.invoke(measure_app, ["skin-tone", str(path), "--whole-image", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["monk"] == 8 and data["status"] == "ok" and data["path"] == str(path)
    res = runner.invoke(measure_app, ["skin-tone", str(path), "--whole-image"])
    assert res.exit_code == 0 and "MST8" in res.output and "ITA -55.4" in res.output


def test_skin_tone_folder_one_line_per_file(folder: Path) -> None:
    pytest.importorskip("cv2")
    (folder / "sub").mkdir()
    (folder / "sub" / "d_broken.png").write_text("not a png")  # found in a subfolder too
    res = runner.invoke(measure_app, ["skin-tone", str(folder)])
    assert res.exit_code == 2  # one file failed, the rest still ran
    rows = [json.loads(line) for line in res.output.strip().splitlines()]
    # images only (c_notes.txt is not one), recursively, like `explore`
    assert [Path(r["path"]).name for r in rows] == ["a_grey.png", "b_astronaut.png",
                                                    "d_broken.png"]
    assert rows[0]["status"] == "no_face"
    assert rows[1]["status"] == "ok" and 3 <= rows[1]["monk"] <= 6
    assert "not an image" in rows[2]["error"] or "cannot" in rows[2]["error"]


def test_faces_and_colorfulness(folder: Path) -> None:
    pytest.importorskip("cv2")
    res = runner.invoke(measure_app, ["faces", str(folder / "b_astronaut.png"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["n_faces"] == 1 and set(data["faces"][0]["landmarks"]) == {"left_eye",
                                                                           "right_eye"}
    res = runner.invoke(measure_app, ["faces", str(folder / "b_astronaut.png")])
    assert "1 face(s)" in res.output
    res = runner.invoke(measure_app, ["colorfulness", str(folder / "a_grey.png")])
    assert res.exit_code == 0 and "0.00 (not colorful)" in res.output
    (folder / "c_notes.txt").unlink()
    res = runner.invoke(measure_app, ["colorfulness", str(folder)])
    assert res.exit_code == 0
    assert [json.loads(x)["level"] for x in res.output.splitlines()] == ["not colorful",
                                                                          "quite colorful"]


def test_errors(tmp_path: Path) -> None:
    res = runner.invoke(measure_app, ["colorfulness", str(tmp_path / "missing.png")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(measure_app, ["colorfulness", str(tmp_path)])
    assert res.exit_code == 2 and "no .png, .jpg" in res.output and "recursively" in res.output
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    res = runner.invoke(measure_app, ["faces", str(tmp_path / "x.png"), "--detector", "nope"])
    assert res.exit_code == 2 and "unknown face_detector" in res.output

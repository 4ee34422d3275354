"""Average faces on a real photograph (scikit-image's astronaut)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fairframe.explore import FaceAverager, aligned_largest_face, explore
from tests.explore.conftest import astronaut

faces = pytest.importorskip("fairframe.measure.faces")
pytest.importorskip("cv2")


def test_alignment_puts_the_eyes_at_the_canonical_positions() -> None:
    detector = faces.get_face_detector("opencv-cascade")
    found = aligned_largest_face(astronaut(), detector, size=224)
    assert found is not None
    aligned, face = found
    assert aligned.size == (224, 224) and "left_eye" in face.landmarks
    again = detector.detect(aligned)
    assert again and again[0].landmarks, "no eyes found in the aligned face"
    eyes = sorted(again[0].landmarks.values())  # the eye on the image's left first
    canonical = [(x * 2, y * 2) for x, y in faces.CANONICAL_EYES_112]
    for got, want in zip(eyes, canonical, strict=True):
        assert np.hypot(*np.subtract(got, want)) < 4, (eyes, canonical)


def test_average_of_copies_equals_the_aligned_face() -> None:
    detector = faces.get_face_detector("opencv-cascade")
    found = aligned_largest_face(astronaut(), detector)
    assert found is not None
    avg = FaceAverager(112)
    for _ in range(5):
        avg.add("astronaut", {"suit": "orange"}, found[0])
    avg.add("astronaut", {"suit": "white"}, None)
    cell = avg.cell("astronaut")
    assert (cell.n_images, cell.n_faces) == (6, 5) and cell.image is not None
    diff = np.abs(np.asarray(cell.image, np.int16) - np.asarray(found[0], np.int16))
    assert diff.max() <= 1  # linear-light round trip: at most one 8-bit step
    empty = avg.cell("astronaut", "suit", "white")
    assert empty.image is None and empty.reason == "no face found in the 1 image"
    assert avg.cell("astronaut", "suit", "blue").reason == "no images in this group"


def test_explore_folder_average_faces(photo_folder: Path, tmp_path: Path) -> None:
    res = explore(photo_folder, tmp_path / "out", embedder="colour-hog")
    assert res.counts["faces"] == 4 and res.counts["average_faces"] == 2  # astronaut + all
    data = json.loads(res.json.read_text())
    assert data["models"] == ["photos"]  # one source: its cells are keyed by its one model
    cells = {(c["caption_id"], c["bias"], c["group"]): c for c in data["faces"]["cells"]}
    assert {c["model"] for c in data["faces"]["cells"]} == {"photos"}
    coffee = cells[("coffee", "*", "*")]
    assert coffee["file"] is None and coffee["reason"] == "no face found in any of the 4 images"
    astro = cells[("astronaut", "*", "*")]
    assert (astro["n_faces"], astro["n_images"]) == (4, 4)
    assert (tmp_path / "out" / astro["file"]).is_file()
    html = res.html.read_text()
    assert "n = 4 of 4" in html and "no face found in any of the 4 images" in html
    assert data["faces"]["space"] == "linear"


def test_average_faces_are_keyed_by_model(photo_folder: Path, tmp_path: Path) -> None:
    """Two folders as two models: model-b has only two astronaut images."""
    a, b = tmp_path / "model-a", tmp_path / "model-b"
    shutil.copytree(photo_folder, a)
    shutil.copytree(photo_folder, b)
    for i in (2, 3):
        (b / "astronaut" / f"{i}.png").unlink()
    res = explore([a, b], tmp_path / "out", embedder="colour-hog")
    data = json.loads(res.json.read_text())
    assert data["models"] == ["model-a", "model-b"]
    cells = {(c["caption_id"], c["model"], c["bias"], c["group"]): c
             for c in data["faces"]["cells"]}
    assert (cells[("astronaut", "model-a", "*", "*")]["n_faces"],
            cells[("astronaut", "model-b", "*", "*")]["n_faces"],
            cells[("astronaut", "*", "*", "*")]["n_faces"]) == (4, 2, 6)
    assert cells[("coffee", "model-b", "*", "*")]["file"] is None
    assert res.counts["faces"] == 6
    html = res.html.read_text()
    assert "n = 4 of 4" in html and "n = 2 of 2" in html
    assert html.count('class="modelh mstart"') >= 2  # one column group per model

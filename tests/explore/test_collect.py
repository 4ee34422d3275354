"""Finding images: audit runs, plain folders, manifests, limits and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import InputDataError
from fairframe.explore import explore
from fairframe.explore._collect import collect
from tests.explore.conftest import IMAGES_PER_CAPTION


def test_audit_run_items_carry_caption_seed_and_bias_labels(audit_run: Path) -> None:
    coll = collect(audit_run)
    assert coll.kind == "audit-run" and coll.name == "explore-test"
    assert len(coll.items) == coll.total == 4 * IMAGES_PER_CAPTION
    assert len({it.caption_id for it in coll.items}) == 4
    first = coll.items[0]
    assert first.path.is_file() and first.rel.startswith("images/")
    assert first.caption.startswith("a photo of")
    assert [it.seed for it in coll.items[:IMAGES_PER_CAPTION]] == list(range(IMAGES_PER_CAPTION))
    g = "person/gender"
    assert g in first.groups and first.groups[g] in coll.biases[g]
    assert first.model == "fake"  # the backend name for the fake generator
    assert coll.generator is not None and coll.generator["size"] == 64


def test_max_images_is_shared_between_captions(audit_run: Path) -> None:
    coll = collect(audit_run, max_images=10)
    per = [sum(it.caption_id == c for it in coll.items)
           for c in dict.fromkeys(it.caption_id for it in coll.items)]
    assert len(coll.items) == 10 and per == [3, 3, 2, 2] and coll.total == 48


def test_plain_folder_caption_is_parent_folder_and_seed_the_file_name(photo_folder: Path) -> None:
    coll = collect(photo_folder)
    assert coll.kind == "folder" and coll.biases == {}
    assert [it.caption for it in coll.items] == ["astronaut"] * 4 + ["coffee"] * 4 + ["grey"] * 2
    assert [it.seed for it in coll.items[:4]] == [0, 1, 2, 3]


def test_manifest_columns_become_groups(tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 50 * i, np.uint8)).save(tmp_path / f"im{i}.png")
    rows = [{"prompt": "a nurse", "seed": i, "path": f"im{i}.png",
             "gender": "woman" if i else "man"} for i in range(3)]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    coll = collect(tmp_path)
    assert coll.kind == "manifest" and coll.biases == {"gender": ["man", "woman"]}
    assert collect(tmp_path / "manifest.jsonl").kind == "manifest"


@pytest.mark.parametrize("case", ["missing", "empty", "no-images", "unreadable", "not-manifest"])
def test_bad_sources_are_one_line_input_errors(tmp_path: Path, case: str) -> None:
    src = tmp_path / "src"
    if case != "missing":
        src.mkdir()
    if case == "no-images":
        (src / "notes.txt").write_text("hello")
    if case == "unreadable":
        (src / "a").mkdir()
        (src / "a" / "0.png").write_bytes(b"not a png")
    if case == "not-manifest":
        src = tmp_path / "notes.txt"
        src.write_text("hello")
    with pytest.raises(InputDataError) as info:
        explore(src, tmp_path / "out", embedder="colour-hog")
    msg = str(info.value)
    assert "\n" not in msg and str(src) in msg
    expected = {"missing": "does not exist", "empty": "nothing to explore",
                "no-images": "nothing to explore", "unreadable": "could be read",
                "not-manifest": "not an image manifest"}[case]
    assert expected in msg

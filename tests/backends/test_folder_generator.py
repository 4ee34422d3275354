from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.backends.folder_generator import FolderGenerator
from fairframe.errors import ConfigError, InputDataError
from fairframe.types import GenerationRequest
from tests.contract.suites import GeneratorContract

PROMPTS = ("a photo of a doctor", "a photo of a nurse")


def _make_folder(root: Path, seeds: tuple[int, ...] = (0, 1, 2), fmt: str = "csv") -> Path:
    rows = []
    for p_i, prompt in enumerate(PROMPTS):
        for seed in seeds:
            rel = f"p{p_i}/{seed}.png"
            (root / f"p{p_i}").mkdir(parents=True, exist_ok=True)
            color = (p_i * 100, seed * 40 % 256, 7)
            Image.new("RGB", (32, 32), color).save(root / rel)
            rows.append({"prompt": prompt, "seed": seed, "path": rel})
    if fmt == "jsonl":
        path = root / "manifest.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        path = root / "manifest.csv"
        path.write_text("prompt,seed,path\n" + "".join(
            f"{r['prompt']},{r['seed']},{r['path']}\n" for r in rows))
    return path


class TestFolderGenerator(GeneratorContract):
    manifest: Path

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.manifest = _make_folder(tmp_path)

    def make_generator(self) -> FolderGenerator:
        return FolderGenerator(manifest=self.manifest)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_seed_match_returns_that_file(tmp_path: Path, fmt: str) -> None:
    gen = FolderGenerator(manifest=_make_folder(tmp_path, fmt=fmt))
    out = gen.generate([GenerationRequest(PROMPTS[1], seed=2)])[0]
    assert out.image.getpixel((0, 0)) == (100, 80, 7)
    assert out.metadata["source_seed"] == 2
    assert gen.prompts() == list(PROMPTS)


def test_order_match_indexes_by_rank(tmp_path: Path) -> None:
    gen = FolderGenerator(manifest=_make_folder(tmp_path, seeds=(11, 42, 7)), match="order")
    out = gen.generate([GenerationRequest(PROMPTS[0], seed=s) for s in range(3)])
    assert [o.metadata["source_seed"] for o in out] == [7, 11, 42]
    with pytest.raises(InputDataError, match="fewer than requested"):
        gen.generate([GenerationRequest(PROMPTS[0], seed=3)])


def test_identity_changes_when_a_file_changes(tmp_path: Path) -> None:
    manifest = _make_folder(tmp_path)
    before = dict(FolderGenerator(manifest=manifest).identity())
    import os
    os.utime(tmp_path / "p0/0.png", ns=(1, 1))
    assert dict(FolderGenerator(manifest=manifest).identity()) != before


def test_bad_manifests(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        FolderGenerator(manifest=tmp_path / "nope.csv").identity()
    (tmp_path / "m.csv").write_text("prompt,path\nx,a.png\n")
    with pytest.raises(InputDataError, match=r"lacks the field\(s\) seed"):
        FolderGenerator(manifest=tmp_path / "m.csv").identity()
    (tmp_path / "m.csv").write_text("prompt,seed,path\nx,zero,a.png\n")
    with pytest.raises(InputDataError, match="not an integer"):
        FolderGenerator(manifest=tmp_path / "m.csv").identity()
    (tmp_path / "m.csv").write_text("prompt,seed,path\nx,0,missing.png\n")
    gen = FolderGenerator(manifest=tmp_path / "m.csv")
    with pytest.raises(InputDataError, match="does not exist"):
        gen.generate([GenerationRequest("x", seed=0)])
    with pytest.raises(InputDataError, match="no images for prompt"):
        gen.generate([GenerationRequest("y", seed=0)])
    with pytest.raises(InputDataError, match="no seed 5"):
        gen.generate([GenerationRequest("x", seed=5)])
    with pytest.raises(ConfigError, match="match must be"):
        FolderGenerator(manifest=tmp_path / "m.csv", match="nearest")  # type: ignore[arg-type]


def test_wrong_size_is_refused(tmp_path: Path) -> None:
    gen = FolderGenerator(manifest=_make_folder(tmp_path))
    with pytest.raises(InputDataError, match="32x32 but the audit asks for 64x64"):
        gen.generate([GenerationRequest(PROMPTS[0], seed=0, height=64, width=64)])
    arr = np.asarray(gen.generate([GenerationRequest(PROMPTS[0], seed=0)])[0].image)
    assert arr.shape == (32, 32, 3)


def test_safety_guidance_is_refused_not_ignored(tmp_path: Path) -> None:
    gen = FolderGenerator(manifest=_make_folder(tmp_path))
    with pytest.raises(ConfigError, match="cannot apply safety guidance"):
        gen.generate([GenerationRequest(prompt=PROMPTS[0], seed=0, safety="medium")])

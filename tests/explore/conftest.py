"""Sources for the explore tests: two audit runs on fake backends over the same 4 professions (12
images of 64 px, and 6 images of 48 px: two generator identities, two "models") and a folder of real
photographs (scikit-image's astronaut and coffee), all built once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.audit.pipeline import run_audit
from fairframe.config import parse_config

IMAGES_PER_CAPTION = 12
IMAGES_PER_CAPTION_B = 6


def _run(root: Path, name: str, size: int, images: int, out_name: str) -> Path:
    cfg = parse_config({
        "name": name,
        "cache_dir": str(root / "cache"),
        "captions": {"source": "builtin:professions", "limit": 4},
        "generator": {"backend": "fake", "size": size},
        "labeler": {"backend": "fake"},
        "generation": {"images_per_caption": images, "seed": 0},
    })
    out = root / out_name
    run_audit(cfg, out)
    return out


@pytest.fixture(scope="session")
def audit_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("explore-run"), "explore-test", 64, IMAGES_PER_CAPTION,
                "run")


@pytest.fixture(scope="session")
def audit_run_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same captions from a differently configured fake generator (48 px, 6 per caption)."""
    return _run(tmp_path_factory.mktemp("explore-run-b"), "explore-test-b", 48,
                IMAGES_PER_CAPTION_B, "run-b")


def astronaut() -> Image.Image:
    skdata = pytest.importorskip("skimage.data")
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """astronaut/0..3.png (the same photo), coffee/0..3.jpg (no face), grey/0..1.png."""
    skdata = pytest.importorskip("skimage.data")
    root = tmp_path_factory.mktemp("explore-folder") / "photos"
    for sub in ("astronaut", "coffee", "grey"):
        (root / sub).mkdir(parents=True)
    face = astronaut()
    coffee = Image.fromarray(skdata.coffee()).resize((300, 200))
    for i in range(4):
        face.save(root / "astronaut" / f"{i}.png")
        coffee.save(root / "coffee" / f"{i}.jpg", quality=92)
    for i in range(2):
        grey = Image.fromarray(np.full((64, 64, 3), 60 + 40 * i, np.uint8))
        grey.save(root / "grey" / f"{i}.png")
    return root

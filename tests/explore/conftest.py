"""Sources for the explore tests: one audit run on fake backends (4 professions x 12 images, 64 px)
and a folder of real photographs (scikit-image's astronaut and coffee), both built once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.audit.pipeline import run_audit
from fairframe.config import parse_config

IMAGES_PER_CAPTION = 12


@pytest.fixture(scope="session")
def audit_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explore-run")
    cfg = parse_config({
        "name": "explore-test",
        "cache_dir": str(root / "cache"),
        "captions": {"source": "builtin:professions", "limit": 4},
        "generator": {"backend": "fake", "size": 64},
        "labeler": {"backend": "fake"},
        "generation": {"images_per_caption": IMAGES_PER_CAPTION, "seed": 0},
    })
    out = root / "run"
    run_audit(cfg, out)
    return out


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

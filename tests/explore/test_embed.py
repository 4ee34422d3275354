"""The offline fallback embedder, the names get_embedder accepts, and tiny CLIP."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import ConfigError
from fairframe.explore import ColourHogEmbedder, ImageEmbedder, get_embedder


def _img(colour: tuple[int, int, int], stripes: bool = False, size: int = 80) -> Image.Image:
    arr = np.zeros((size, size, 3), np.uint8)
    arr[:] = colour
    if stripes:
        arr[:, ::8] = 255
    return Image.fromarray(arr)


def test_colour_hog_vectors_are_unit_length_and_deterministic() -> None:
    emb = ColourHogEmbedder()
    images = [_img((200, 30, 30)), _img((200, 30, 30), stripes=True), _img((20, 40, 200))]
    x = emb.embed(images)
    assert x.shape == (3, emb.dim) == (3, 144 + 576 + 256) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(x, emb.embed(images))
    sim = x @ x.T
    assert sim[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert sim[0, 1] > sim[0, 2]  # same colour beats same (flat) layout in another colour
    assert emb.embed([]).shape == (0, emb.dim)


def test_get_embedder_names() -> None:
    assert isinstance(get_embedder("colour-hog"), ColourHogEmbedder)
    assert isinstance(get_embedder("fallback"), ColourHogEmbedder)
    assert isinstance(get_embedder("auto"), ImageEmbedder)
    mine = ColourHogEmbedder()
    assert get_embedder(mine) is mine
    with pytest.raises(ConfigError, match="colour-hog"):
        get_embedder("nope")


@pytest.mark.models
def test_tiny_clip_embedder() -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    emb = get_embedder("tiny://clip")
    x = emb.embed([_img((200, 30, 30)), _img((200, 30, 30)), _img((20, 40, 200))])
    assert x.shape[0] == 3 and np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert float(x[0] @ x[1]) == pytest.approx(1.0, abs=1e-5)
    assert emb.identity()["backend"] == "clip-image"

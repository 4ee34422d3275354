from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import InputDataError
from fairframe.images import load_image, to_png_bytes, to_rgb


def test_rgb_array_channel_order_is_kept() -> None:
    arr = np.zeros((10, 10, 3), dtype=np.uint8)
    arr[..., 0] = 200  # red
    img = to_rgb(arr)
    assert img.getpixel((0, 0)) == (200, 0, 0)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 128, (128, 128, 128)),
        ("I;16", 65535, (255, 255, 255)),
        ("F", 0.5, (128, 128, 128)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent → white
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("LA", (0, 255), (0, 0, 0)),
    ],
)
def test_modes_convert_to_rgb(mode: str, value: object, expected: tuple[int, int, int]) -> None:
    img = Image.new(mode, (12, 12), value)  # type: ignore[arg-type]
    out = to_rgb(img)
    assert out.mode == "RGB"
    assert out.getpixel((3, 3)) == expected


def test_palette_with_transparency_and_float_arrays() -> None:
    pal = Image.new("P", (10, 10), 0)
    pal.putpalette([10, 20, 30] * 256)
    pal.info["transparency"] = 0
    assert to_rgb(pal).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(np.full((9, 9, 3), 1.0)).getpixel((0, 0)) == (255, 255, 255)


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    r, g, b = load_image(path).getpixel((5, 5))
    assert r > 200 and b < 50


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(InputDataError, match="truncated or not an image"):
        load_image(tmp_path / "x.png")
    good = to_png_bytes(Image.new("RGB", (64, 64), (1, 2, 3)))
    with pytest.raises(InputDataError, match="truncated or not an image"):
        load_image(good[: len(good) // 2])
    with pytest.raises(InputDataError, match="at least 8x8"):
        to_rgb(Image.new("RGB", (4, 100)))
    with pytest.raises(InputDataError, match="shape"):
        to_rgb(np.zeros((4, 4, 4, 4), dtype=np.uint8))
    with pytest.raises(InputDataError, match="dtype"):
        to_rgb(np.zeros((10, 10, 3), dtype=np.int32))


def test_png_bytes_are_stable() -> None:
    img = Image.new("RGB", (10, 10), (5, 6, 7))
    assert to_png_bytes(img) == to_png_bytes(img.copy())
    assert Image.open(io.BytesIO(to_png_bytes(img))).getpixel((0, 0)) == (5, 6, 7)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    import fairframe.images as images

    path = tmp_path / "big.png"
    Image.new("RGB", (200, 200)).save(path)
    old = images.MAX_PIXELS
    images.MAX_PIXELS = 100 * 100
    try:
        with pytest.raises(InputDataError, match="over the limit"):
            load_image(path)
    finally:
        images.MAX_PIXELS = old

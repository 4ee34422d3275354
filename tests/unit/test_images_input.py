"""``open_image``: the one entry point for files, bytes, PIL images and arrays (RGB or BGR).

The mode conversions of ``to_rgb`` on in-memory images are tested in ``test_images.py``; these
tests cover the dispatch, the channel order, and the same conversions reached from *encoded* files
(CMYK JPEG, 16-bit PNG, palette PNG, RGBA PNG, animated PNG) plus the bad-input paths through
``open_image``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fairframe.images as images
from fairframe.errors import InputDataError
from fairframe.images import open_image, to_png_bytes
from tests.guard.image._helpers import encode, png_header_only


def test_every_source_type_gives_the_same_rgb_image(tmp_path: Path) -> None:
    arr = np.zeros((12, 10, 3), dtype=np.uint8)
    arr[..., 0], arr[..., 1], arr[..., 2] = 10, 120, 250
    png = to_png_bytes(Image.fromarray(arr))
    path = tmp_path / "a.png"
    path.write_bytes(png)
    sources: list[object] = [
        arr, Image.fromarray(arr), png, bytearray(png), memoryview(png), str(path), path
    ]
    for source in sources:
        out = open_image(source)  # type: ignore[arg-type]
        assert out.mode == "RGB" and out.size == (10, 12)
        assert out.getpixel((4, 4)) == (10, 120, 250), type(source)


def test_bgr_arrays_are_reversed_once() -> None:
    bgr = np.zeros((9, 9, 3), dtype=np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV order
    bgr[..., 2] = 7  # red
    assert open_image(bgr, channel_order="bgr").getpixel((0, 0)) == (7, 0, 200)
    assert open_image(bgr).getpixel((0, 0)) == (200, 0, 7)  # RGB is the default contract
    bgra = np.zeros((9, 9, 4), dtype=np.uint8)
    bgra[..., 0], bgra[..., 3] = 255, 255  # opaque blue
    assert open_image(bgra, channel_order="bgr").getpixel((0, 0)) == (0, 0, 255)
    bgra[..., 3] = 0  # fully transparent: composited on white
    assert open_image(bgra, channel_order="bgr").getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(InputDataError, match="channel_order='bgr' needs HxWx3"):
        open_image(np.zeros((9, 9), dtype=np.uint8), channel_order="bgr")
    with pytest.raises(InputDataError, match="channel_order must be 'rgb' or 'bgr'"):
        open_image(bgr, channel_order="rgba")  # type: ignore[arg-type]
    # encoded bytes carry their own order: the keyword does not apply
    png = to_png_bytes(Image.new("RGB", (9, 9), (1, 2, 3)))
    assert open_image(png, channel_order="bgr").getpixel((0, 0)) == (1, 2, 3)


def test_unsupported_types_name_what_is_accepted() -> None:
    with pytest.raises(InputDataError, match="is a int; pass a PIL image, a numpy array"):
        open_image(42)  # type: ignore[arg-type]
    with pytest.raises(InputDataError, match="upload is a dict"):
        open_image({"b64": "x"}, source_name="upload")  # type: ignore[arg-type]


def test_cmyk_jpeg_is_converted() -> None:
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    r, g, b = open_image(data).getpixel((8, 8))  # type: ignore[misc]
    assert r >= 250 and g <= 5 and b <= 5  # pure red


def test_16_bit_pngs_are_scaled_to_8_bits() -> None:
    grey = np.full((10, 10), 32896, dtype=np.uint16)  # 32896 / 65535 * 255 = 128.0
    data = encode(Image.fromarray(grey), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    assert open_image(data).getpixel((0, 0)) == (128, 128, 128)
    cv2 = pytest.importorskip("cv2")
    bgr16 = np.zeros((10, 10, 3), dtype=np.uint16)
    bgr16[..., 0], bgr16[..., 2] = 65535, 32768  # blue full, red half (cv2 writes BGR)
    ok, encoded = cv2.imencode(".png", bgr16)
    assert ok
    # Pillow reads 16-bit RGB PNGs as 8-bit RGB (the high byte)
    assert open_image(encoded.tobytes()).getpixel((0, 0)) == (128, 0, 255)


def test_alpha_and_palette_pngs() -> None:
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 255, 0, 255))
    out = open_image(encode(rgba, "PNG"))
    assert out.getpixel((5, 5)) == (255, 255, 255)  # transparent → white
    assert out.getpixel((0, 0)) == (0, 255, 0)
    half = open_image(encode(Image.new("RGBA", (10, 10), (0, 0, 0, 128)), "PNG"))
    assert half.getpixel((0, 0)) == (127, 127, 127)  # 50 % black over white
    pal = Image.new("P", (10, 10), 1)
    pal.putpalette([0, 0, 0, 30, 60, 90] + [0, 0, 0] * 254)
    assert open_image(encode(pal, "PNG")).getpixel((3, 3)) == (30, 60, 90)


def test_animated_png_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    assert open_image(data).getpixel((5, 5)) == (250, 0, 0)


def test_bad_bytes_are_clear_errors() -> None:
    good = to_png_bytes(Image.new("RGB", (64, 64), (1, 2, 3)))
    with pytest.raises(InputDataError, match="<bytes>.*truncated or not an image"):
        open_image(good[: len(good) // 2])
    with pytest.raises(InputDataError, match="upload.png.*truncated or not an image"):
        open_image(b"hello, I am text", source_name="upload.png")
    with pytest.raises(InputDataError, match="truncated or not an image"):
        open_image(b"")


@pytest.mark.parametrize("side", [9000, 10000, 100000])
def test_bomb_headers_are_refused_before_decoding(side: int) -> None:
    """Three sizes: over our limit only, over Pillow's warning limit, over Pillow's error limit."""
    data = png_header_only(side, side)
    assert len(data) < 100  # nothing to decode: the refusal comes from the header
    with pytest.raises(InputDataError, match="over the limit|too large to decode safely"):
        open_image(data)


def test_huge_dimensions_within_the_pixel_limit_pass_and_over_it_fail() -> None:
    long_strip = np.zeros((8, 20000, 3), dtype=np.uint8)  # 160k pixels: accepted
    assert open_image(long_strip).size == (20000, 8)
    old = images.MAX_PIXELS
    images.MAX_PIXELS = 100 * 100
    try:
        with pytest.raises(InputDataError, match="over the limit of 10000"):
            open_image(np.zeros((101, 100, 3), dtype=np.uint8))
    finally:
        images.MAX_PIXELS = old


def test_png_data_url_round_trips() -> None:
    import base64

    from fairframe.images import png_data_url

    img = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3).repeat(4, 0).repeat(4, 1))
    url = png_data_url(img)
    assert url.startswith("data:image/png;base64,")
    back = open_image(base64.b64decode(url.split(",", 1)[1]))
    assert np.array_equal(np.asarray(back), np.asarray(img))

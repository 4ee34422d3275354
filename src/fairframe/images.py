"""One place that turns whatever arrives into an RGB ``PIL.Image`` (and PNG bytes for the cache).

Conversions (documented in ``docs/audit.md``):

* ``RGB`` is kept; ``L``/``LA``/``P``/``PA``/``CMYK``/``YCbCr``/``HSV``/``LAB`` convert to RGB;
* 16- and 32-bit integer and float modes (``I;16``, ``I``, ``F``) are scaled to 8 bits;
* alpha (``RGBA``, ``LA``, ``PA``, palette transparency) is composited on white;
* animated images use their first frame;
* numpy arrays are ``HxW`` (grey) or ``HxWx3``/``HxWx4`` in **RGB** order, ``uint8`` or floats in
  ``[0, 1]``.

Images with fewer than :data:`MIN_SIDE` pixels on a side, or more than :data:`MAX_PIXELS` pixels in
all, are refused with :class:`~fairframe.errors.InputDataError`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from fairframe.errors import InputDataError

__all__ = ["MAX_PIXELS", "MIN_SIDE", "load_image", "to_png_bytes", "to_rgb"]

#: Smallest accepted side, in pixels.
MIN_SIDE = 8
#: Largest accepted image, in pixels (decompression-bomb guard): 8192 x 8192.
MAX_PIXELS = 8192 * 8192


def _check_size(image: Image.Image, source: str) -> None:
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InputDataError(
            f"image {source} is {w}x{h}; images must be at least {MIN_SIDE}x{MIN_SIDE} pixels"
        )
    if w * h > MAX_PIXELS:
        raise InputDataError(
            f"image {source} is {w}x{h} ({w * h} pixels), over the limit of {MAX_PIXELS}; "
            "downscale it first"
        )


def to_rgb(image: Image.Image | np.ndarray[Any, Any], source: str = "<memory>") -> Image.Image:
    """Return an 8-bit RGB copy of ``image`` (see the module docstring for the conversions)."""
    if isinstance(image, np.ndarray):
        image = _from_array(image, source)
    if not isinstance(image, Image.Image):
        raise InputDataError(f"{source} is a {type(image).__name__}, not an image")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    _check_size(image, source)
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if mode == "F" and arr.max(initial=0) <= 1.0:
            hi = 1.0
        arr8 = np.clip(np.round(arr / hi * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _from_array(arr: np.ndarray[Any, Any], source: str) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InputDataError(
            f"array {source} has shape {arr.shape}; expected HxW, HxWx3 (RGB) or HxWx4 (RGBA)"
        )
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise InputDataError(f"array {source} has dtype {arr.dtype}; use uint8 or floats in [0, 1]")
    return Image.fromarray(arr)


def load_image(data: bytes | str | Path, source: str | None = None) -> Image.Image:
    """Decode a file path or encoded bytes into an RGB image.

    Raises
    ------
    InputDataError
        The file is missing, truncated, not an image, or too small or large.
    """
    name = source or (str(data) if isinstance(data, str | Path) else "<bytes>")
    try:
        raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    except FileNotFoundError as exc:
        raise InputDataError(f"image file {name} does not exist; check the path") from exc
    except OSError as exc:
        raise InputDataError(f"cannot read image file {name}: {exc.strerror}") from exc
    try:
        img = Image.open(io.BytesIO(raw))
        w, h = img.size  # header only: refuse bombs before decoding any pixel
        if w * h > MAX_PIXELS:
            raise InputDataError(
                f"image {name} is {w}x{h} ({w * h} pixels), over the limit of {MAX_PIXELS}; "
                "downscale it first"
            )
        img.load()
    except InputDataError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputDataError(f"image {name} is too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputDataError(
            f"cannot decode image {name} ({exc}); the file is truncated or not an image"
        ) from exc
    return to_rgb(img, name)


def to_png_bytes(image: Image.Image) -> bytes:
    """Encode an image losslessly as PNG with no metadata (stable bytes for hashing)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()

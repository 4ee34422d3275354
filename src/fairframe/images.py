"""One place that turns whatever arrives into an RGB ``PIL.Image`` (and PNG bytes for the cache).

Conversions (documented in ``docs/audit.md``):

* ``RGB`` is kept; ``L``/``LA``/``P``/``PA``/``CMYK``/``YCbCr``/``HSV``/``LAB`` convert to RGB;
* 16- and 32-bit integer and float modes (``I;16``, ``I``, ``F``) are scaled to 8 bits;
* alpha (``RGBA``, ``LA``, ``PA``, palette transparency) is composited on white;
* animated images use their first frame;
* numpy arrays are ``HxW`` (grey) or ``HxWx3``/``HxWx4`` in **RGB** order, ``uint8`` or floats in
  ``[0, 1]``; OpenCV users pass ``channel_order="bgr"`` to :func:`open_image` (BGR/BGRA arrays are
  reversed to RGB/RGBA there, once).

:func:`open_image` is the one entry point for anything a user hands in (a ``PIL.Image``, a numpy
array, encoded bytes, or a file path); it dispatches to :func:`to_rgb` or :func:`load_image`.

Images with fewer than :data:`MIN_SIDE` pixels on a side, or more than :data:`MAX_PIXELS` pixels in
all, are refused with :class:`~fairframe.errors.InputDataError`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from fairframe.errors import InputDataError

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "MIN_SIDE",
    "ImageSource",
    "load_image",
    "open_image",
    "png_data_url",
    "to_png_bytes",
    "to_rgb",
]

#: File suffixes read as images when a command is given a folder (``explore``, ``measure``).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
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
        with warnings.catch_warnings():  # our own limit below says it in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow warns (and may be told to raise) for headers over its own limit while opening
        raise InputDataError(f"image {name} is too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        why = "not a known image format" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise InputDataError(
            f"cannot decode image {name} ({why}); the file is truncated or not an image"
        ) from exc
    return to_rgb(img, name)


#: What :func:`open_image` accepts.
ImageSource = Image.Image | np.ndarray[Any, Any] | bytes | bytearray | memoryview | str | Path


def open_image(
    source: ImageSource,
    *,
    source_name: str | None = None,
    channel_order: Literal["rgb", "bgr"] = "rgb",
) -> Image.Image:
    """Turn any accepted image input into an 8-bit RGB ``PIL.Image`` (the one entry point).

    Parameters
    ----------
    source:
        A ``PIL.Image`` (converted by :func:`to_rgb`), a numpy array (``HxW``, ``HxWx3`` or
        ``HxWx4``, ``uint8`` or floats in ``[0, 1]``; converted by :func:`to_rgb`), encoded bytes
        (``bytes``, ``bytearray`` or ``memoryview``; decoded by :func:`load_image`) or a file path
        (``str`` or ``Path``; read and decoded by :func:`load_image`).
    source_name:
        How messages name the input (default: the path, ``"<bytes>"``, ``"<array>"`` or
        ``"<memory>"``).
    channel_order:
        Channel order of **arrays** only: ``"rgb"`` (the default, the contract everywhere in
        Fairframe) or ``"bgr"`` for OpenCV arrays (``HxWx3`` BGR or ``HxWx4`` BGRA). Encoded bytes,
        files and PIL images carry their own channel order, so it does not apply to them.

    Raises
    ------
    InputDataError
        The input is of an unsupported type, missing, truncated, not an image, too small, over
        :data:`MAX_PIXELS` (refused from the header, before decoding), or an array of an
        unsupported shape or dtype; ``channel_order`` is not ``"rgb"`` or ``"bgr"``.

    Examples
    --------
    >>> import numpy as np
    >>> bgr = np.zeros((8, 8, 3), dtype=np.uint8); bgr[..., 0] = 255  # blue in OpenCV order
    >>> open_image(bgr, channel_order="bgr").getpixel((0, 0))
    (0, 0, 255)
    """
    if channel_order not in ("rgb", "bgr"):
        raise InputDataError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    if isinstance(source, np.ndarray):
        name = source_name or "<array>"
        if channel_order == "bgr":
            if source.ndim != 3 or source.shape[2] not in (3, 4):
                raise InputDataError(
                    f"array {name} has shape {source.shape}; channel_order='bgr' needs HxWx3 (BGR) "
                    "or HxWx4 (BGRA)"
                )
            order = [2, 1, 0] if source.shape[2] == 3 else [2, 1, 0, 3]
            source = source[:, :, order]
        return to_rgb(source, name)
    if isinstance(source, Image.Image):
        return to_rgb(source, source_name or "<memory>")
    if isinstance(source, bytes | bytearray | memoryview):
        return load_image(bytes(source), source_name or "<bytes>")
    if isinstance(source, str | Path):
        return load_image(source, source_name)
    raise InputDataError(
        f"{source_name or 'the image'} is a {type(source).__name__}; pass a PIL image, a numpy "
        "array, encoded image bytes or a file path"
    )


def to_png_bytes(image: Image.Image) -> bytes:
    """Encode an image losslessly as PNG with no metadata (stable bytes for hashing)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def png_data_url(image: Image.Image) -> str:
    """``data:image/png;base64,...`` of an image (RGB, lossless), as vision chat APIs take it."""
    import base64

    return "data:image/png;base64," + base64.b64encode(to_png_bytes(to_rgb(image))).decode("ascii")

"""The four image attacks the watermark is measured against, defined once, plus PSNR.

Each takes and returns an 8-bit RGB :class:`PIL.Image.Image` (inputs go through
:func:`fairframe.images.to_rgb`) and is deterministic given its arguments (and ``rng`` state):

* :func:`jpeg` -- encode with Pillow's JPEG encoder at ``quality`` (default 75; Pillow's default
  4:2:0 chroma subsampling, no optimisation) and decode again.
* :func:`resize` -- scale both sides by ``factor`` (default 0.5; new side ``max(1, round(side *
  factor))``) with Pillow's bicubic filter, which low-passes when shrinking. The result **stays at
  the new size**.
* :func:`crop` -- remove ``round(fraction * width)`` columns and ``round(fraction * height)`` rows
  (default 10% of each), keeping a window at a random offset drawn with ``rng.integers`` (x first,
  then y, each uniform over all valid offsets). Not resized back.
* :func:`colour_jitter` -- in this order: brightness, contrast and saturation each multiplied by
  a factor drawn uniformly from ``[1 - 0.1, 1 + 0.1]`` (Pillow ``ImageEnhance.Brightness``,
  ``Contrast`` -- a blend with the mean grey -- and ``Color``), then hue shifted by a uniform draw
  from ``[-0.02, 0.02]`` of a full turn (Pillow's 8-bit HSV: ``round(shift * 256)`` hue steps,
  so draws under 1/512 in size leave hue alone). The four draws come from ``rng.uniform`` in
  that order.

:func:`psnr` is ``10 log10(255^2 / MSE)`` over all pixels and the three RGB channels (``inf`` for
identical images).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageEnhance

from fairframe.errors import InputDataError
from fairframe.images import to_rgb

__all__ = ["colour_jitter", "crop", "jpeg", "psnr", "resize"]


def jpeg(image: Image.Image, quality: int = 75) -> Image.Image:
    """JPEG-compress ``image`` at ``quality`` (1-95) and decode it again."""
    if not 1 <= quality <= 95:
        raise InputDataError(f"JPEG quality must be in [1, 95], got {quality}")
    buf = io.BytesIO()
    to_rgb(image).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        return decoded.convert("RGB")


def resize(image: Image.Image, factor: float = 0.5) -> Image.Image:
    """Scale ``image`` by ``factor`` (bicubic); the result keeps the new size."""
    if not factor > 0:
        raise InputDataError(f"resize factor must be positive, got {factor}")
    rgb = to_rgb(image)
    w, h = rgb.size
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return rgb.resize(size, Image.Resampling.BICUBIC)


def crop(image: Image.Image, fraction: float = 0.10, *, rng: np.random.Generator) -> Image.Image:
    """Cut ``fraction`` of the width and of the height away, at a random offset from ``rng``."""
    if not 0 <= fraction < 1:
        raise InputDataError(f"crop fraction must be in [0, 1), got {fraction}")
    rgb = to_rgb(image)
    w, h = rgb.size
    cut_w, cut_h = round(fraction * w), round(fraction * h)
    x0 = int(rng.integers(0, cut_w + 1))
    y0 = int(rng.integers(0, cut_h + 1))
    return rgb.crop((x0, y0, x0 + w - cut_w, y0 + h - cut_h))


def colour_jitter(
    image: Image.Image,
    *,
    rng: np.random.Generator,
    brightness: float = 0.1,
    contrast: float = 0.1,
    saturation: float = 0.1,
    hue: float = 0.02,
) -> Image.Image:
    """Mild colour jitter: brightness, contrast, saturation within +-10%, hue within +-0.02."""
    rgb = to_rgb(image)
    b = rng.uniform(1 - brightness, 1 + brightness)
    c = rng.uniform(1 - contrast, 1 + contrast)
    s = rng.uniform(1 - saturation, 1 + saturation)
    hshift = rng.uniform(-hue, hue)
    out = ImageEnhance.Brightness(rgb).enhance(b)
    out = ImageEnhance.Contrast(out).enhance(c)
    out = ImageEnhance.Color(out).enhance(s)
    steps = int(round(hshift * 256))
    if steps:
        hsv = np.asarray(out.convert("HSV"), dtype=np.uint8).copy()
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + steps) % 256).astype(np.uint8)
        out = Image.fromarray(hsv, "HSV").convert("RGB")
    return out


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB between two same-size RGB images (``inf`` if equal)."""
    x = np.asarray(to_rgb(a), dtype=np.float64)
    y = np.asarray(to_rgb(b), dtype=np.float64)
    if x.shape != y.shape:
        raise InputDataError(f"psnr needs images of the same size, got {x.shape} and {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)

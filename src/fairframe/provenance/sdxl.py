"""Detect the public SDXL / Stability invisible watermark, in numpy only.

Stable Diffusion XL pipelines (diffusers ``pipelines/stable_diffusion_xl/watermark.py``, copied from
Stability's generative-models) stamp every image of at least 256 px with the fixed, public 48-bit
message :data:`SDXL_WATERMARK_MESSAGE` using invisible-watermark's ``dwtDct`` method. That package
imports torch on import, so this module re-implements its decoder (and, for tests and demos, its
encoder) exactly, in numpy:

1. the image is taken in BGR order and converted to YUV with OpenCV's 8-bit fixed-point formula
   (``Y = (4899 R + 9617 G + 1868 B + 2^13) >> 14``,
   ``U = ((B - Y) * 8061 + 128 * 2^14 + 2^13) >> 14``, clipped to ``[0, 255]``; bit-exact with
   ``cv2.cvtColor(..., COLOR_BGR2YUV)``);
2. only the **U** channel carries the mark (invisible-watermark's ``scales=[0, 36, 36]`` is looped
   with ``range(2)``); its top-left ``(H//4*4) x (W//4*4)`` part gets a one-level Haar DWT, whose
   approximation band is ``cA[i, j] = (x[2i,2j] + x[2i,2j+1] + x[2i+1,2j] + x[2i+1,2j+1]) / 2``
   (computed with PyWavelets' float rounding, so ties break the same way);
3. ``cA`` is cut into 4x4 blocks, row-major; block ``k`` carries bit ``k mod 48``. In each block the
   largest-magnitude coefficient other than the top-left one (first in row-major order on ties) is
   read: the block votes 1 when ``|c| mod 36 > 18``, else 0 (the encoder sets ``|c|`` to
   ``(floor(|c| / 36) + 0.25 + 0.5 * bit) * 36``);
4. bit ``b`` is 1 when the mean vote of its blocks, times 255, exceeds 127.

There is no DCT in "dwtDct" (the name is historical). The encoder's reconstruction swaps the
horizontal and vertical detail bands (``idwt2((cA, (cV, cH, cD)))``) and truncates to ``uint8``;
:func:`embed_sdxl_watermark` reproduces both quirks (clipping instead of wrapping out-of-range
values) so its output decodes exactly as invisible-watermark's does.

**Two decodings.** The SDXL pipelines hand invisible-watermark *float* pixels (0..255), for which
OpenCV's YUV conversion uses an offset of 0.5 instead of 128, so the mark lives in
``U_float = U_8bit - 127.5``; invisible-watermark's own decoder (and Stability's ``detect.py``)
reads 8-bit images, where coefficients that were negative in the float domain read back
inverted. Measured the diffusers way (invisible-watermark 0.2.0, float in, rounded to uint8),
the 8-bit decoding recovers 39, 21 and 8 of 48 bits on skimage's astronaut, coffee and chelsea
images, the float decoding 48, 36 and 48. :func:`detect_sdxl_watermark` therefore decodes both
ways and keeps the better agreement.

**Decision.** With ``k`` of ``n = 48`` bits agreeing with the SDXL message in the better of the two
decodings, the p-value is twice (Bonferroni) the binomial tail under chance agreement,
``p = min(1, 2 * sum_{i=k}^{n} C(n, i) / 2^n)``; the mark is reported when ``p <= alpha``
(default :data:`DEFAULT_ALPHA` = 1e-6, i.e. at least 41 of 48 bits). The binomial
model assumes independent fair bits; decoded bits of unmarked natural images are not exactly that,
hence the strict default. The mark does not survive JPEG re-encoding (quality 75) or resizing, is
public and keyless: it says "probably made by an SDXL pipeline", never who made it, and its absence
proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from fairframe.errors import InputDataError
from fairframe.images import to_rgb
from fairframe.stats.intervals import wilson_interval
from fairframe.stats.significance import fair_coin_tail

__all__ = [
    "DEFAULT_ALPHA",
    "MIN_PIXELS",
    "SCALE",
    "SDXL_WATERMARK_BITS",
    "SDXL_WATERMARK_MESSAGE",
    "SDXLWatermarkReport",
    "binomial_tail",
    "decode_dwtdct_bits",
    "detect_sdxl_watermark",
    "embed_dwtdct_bits",
    "embed_sdxl_watermark",
    "min_matching_bits",
]

#: The public 48-bit message SDXL pipelines embed.
SDXL_WATERMARK_MESSAGE = 0b101100111110110010010000011110111011000110011110
#: :data:`SDXL_WATERMARK_MESSAGE` as 48 bits, most significant first.
SDXL_WATERMARK_BITS: tuple[int, ...] = tuple(int(b) for b in bin(SDXL_WATERMARK_MESSAGE)[2:])
#: Quantization step of invisible-watermark's ``dwtDct`` on the U channel.
SCALE = 36.0
#: invisible-watermark refuses images with fewer pixels than 256 x 256.
MIN_PIXELS = 256 * 256
#: Default significance level of :func:`detect_sdxl_watermark`.
DEFAULT_ALPHA = 1e-6

_BLOCK = 4
_SHIFT = 14
_ROUND = 1 << (_SHIFT - 1)

IntArray = np.ndarray[Any, np.dtype[np.int32]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


#: ``P(X >= k)`` for ``X ~ Binomial(n, 1/2)``: the chance of ``k`` or more agreeing bits
#: (:func:`fairframe.stats.significance.fair_coin_tail`).
binomial_tail = fair_coin_tail


def min_matching_bits(alpha: float = DEFAULT_ALPHA, n: int = 48) -> int:
    """The smallest ``k`` with ``binomial_tail(k, n) <= alpha`` (``n + 1`` if none).

    >>> min_matching_bits(1e-6)
    41
    """
    for k in range(n + 1):
        if binomial_tail(k, n) <= alpha:
            return k
    return n + 1


# ---------------------------------------------------------------------------- colour + wavelet


def _yuv(rgb: np.ndarray[Any, Any]) -> tuple[IntArray, IntArray, IntArray]:
    """OpenCV's 8-bit BGR->YUV, bit-exact: returns ``(Y, U, V)`` as int32 in ``[0, 255]``."""
    r = rgb[..., 0].astype(np.int32)
    g = rgb[..., 1].astype(np.int32)
    b = rgb[..., 2].astype(np.int32)
    y = (r * 4899 + g * 9617 + b * 1868 + _ROUND) >> _SHIFT
    u = ((b - y) * 8061 + (128 << _SHIFT) + _ROUND) >> _SHIFT
    v = ((r - y) * 14369 + (128 << _SHIFT) + _ROUND) >> _SHIFT
    return np.clip(y, 0, 255), np.clip(u, 0, 255), np.clip(v, 0, 255)


def _rgb_from_yuv(y: IntArray, u: IntArray, v: IntArray) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """OpenCV's 8-bit YUV->BGR, bit-exact, returned in RGB order."""
    uu = u - 128
    vv = v - 128
    b = y + ((uu * 33292 + _ROUND) >> _SHIFT)
    g = y + ((uu * -6472 + vv * -9519 + _ROUND) >> _SHIFT)
    r = y + ((vv * 18678 + _ROUND) >> _SHIFT)
    out: np.ndarray[Any, np.dtype[np.uint8]] = np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(
        np.uint8
    )
    return out


_S = 0.7071067811865476  # PyWavelets' Haar filter tap, 1/sqrt(2) rounded to float64


def _split(x: FloatArray, axis: int) -> tuple[FloatArray, FloatArray]:
    """One Haar analysis step along ``axis``: ``(low, high)``, rounding as PyWavelets does."""
    x0, x1 = (x[0::2], x[1::2]) if axis == 0 else (x[:, 0::2], x[:, 1::2])
    return _S * x0 + _S * x1, _S * x0 - _S * x1


def _merge(low: FloatArray, high: FloatArray, axis: int) -> FloatArray:
    """Inverse of :func:`_split`."""
    shape = list(low.shape)
    shape[axis] *= 2
    out = np.empty(shape, dtype=np.float64)
    even, odd = _S * low + _S * high, _S * low - _S * high
    if axis == 0:
        out[0::2], out[1::2] = even, odd
    else:
        out[:, 0::2], out[:, 1::2] = even, odd
    return out


def _haar(x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """One-level 2-D Haar DWT, bit-exact with ``pywt.dwt2(x, "haar")``: ``(cA, cH, cV, cD)``.

    Bit-exactness matters: in flat regions several coefficients of a block tie, and the last-bit
    rounding decides which one ``argmax`` picks, as in invisible-watermark.
    """
    low, high = _split(x, 0)
    ca, cv = _split(low, 1)
    ch, cd = _split(high, 1)
    return ca, ch, cv, cd


def _ihaar(ca: FloatArray, ch: FloatArray, cv: FloatArray, cd: FloatArray) -> FloatArray:
    """Inverse of :func:`_haar`, bit-exact with ``pywt.idwt2((cA, (cH, cV, cD)), "haar")``."""
    return _merge(_merge(ca, cv, 1), _merge(ch, cd, 1), 0)


def _blocks(ca: FloatArray) -> tuple[FloatArray, tuple[int, int]]:
    """4x4 blocks of ``ca`` in row-major block order, each flattened row-major: ``(nb, 16)``."""
    nbi, nbj = ca.shape[0] // _BLOCK, ca.shape[1] // _BLOCK
    part = ca[: nbi * _BLOCK, : nbj * _BLOCK]
    blocks = part.reshape(nbi, _BLOCK, nbj, _BLOCK).transpose(0, 2, 1, 3).reshape(-1, _BLOCK**2)
    return blocks, (nbi, nbj)


def _peak(blocks: FloatArray) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Index (1..15) of the largest |coefficient| of each block, the top-left one excluded."""
    peak: np.ndarray[Any, np.dtype[np.intp]] = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    return peak


def _u_float(rgb: np.ndarray[Any, Any]) -> FloatArray:
    """OpenCV's *float* BGR->YUV U channel on 0..255 values: ``(B - Y) * 0.492 + 0.5``.

    This is what invisible-watermark sees when handed float images, as diffusers' and Stability's
    SDXL watermarkers do: OpenCV's float offset is 0.5 (meant for 0..1 images), not 128.
    """
    x = rgb.astype(np.float64)
    y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    u: FloatArray = (x[..., 2] - y) * 0.492 + 0.5
    return u


def decode_dwtdct_bits(
    image: Image.Image,
    n_bits: int = 48,
    scale: float = SCALE,
    *,
    domain: Literal["uint8", "float"] = "uint8",
) -> tuple[int, ...]:
    """Decode ``n_bits`` with invisible-watermark's ``dwtDct`` method (see the module docstring).

    Parameters
    ----------
    image:
        Any PIL image (converted with :func:`fairframe.images.to_rgb`); at least
        :data:`MIN_PIXELS` pixels.
    n_bits:
        Message length; block ``k`` votes for bit ``k mod n_bits``.
    scale:
        Quantization step (36 in invisible-watermark).
    domain:
        ``"uint8"``: the U channel invisible-watermark computes from 8-bit images (offset 128; what
        its decoder and Stability's ``detect.py`` read). ``"float"``: the U channel it computes
        from float images (offset 0.5), which is where SDXL pipelines embed the mark.

    Raises
    ------
    ValueError
        The image has fewer than :data:`MIN_PIXELS` pixels or fewer blocks than ``n_bits``.
    """
    rgb = np.asarray(to_rgb(image))
    u: Any = _yuv(rgb)[1] if domain == "uint8" else _u_float(rgb)
    h, w = u.shape
    if h * w < MIN_PIXELS:
        raise InputDataError(f"image is {w}x{h}; dwtDct needs at least 256x256 pixels in all")
    ca = _haar(u[: h // 4 * 4, : w // 4 * 4].astype(np.float64))[0]
    blocks, _ = _blocks(ca)
    if blocks.shape[0] < n_bits:
        raise InputDataError(f"image has {blocks.shape[0]} blocks, fewer than {n_bits} bits")
    val = np.abs(blocks[np.arange(blocks.shape[0]), _peak(blocks)])
    votes = (np.mod(val, scale) > 0.5 * scale).astype(np.float64)
    bit_index = np.arange(blocks.shape[0]) % n_bits
    sums = np.bincount(bit_index, weights=votes, minlength=n_bits)
    counts = np.bincount(bit_index, minlength=n_bits)
    return tuple(int(v) for v in (sums / counts * 255 > 127))


def embed_dwtdct_bits(
    image: Image.Image, bits: tuple[int, ...] | list[int], scale: float = SCALE
) -> Image.Image:
    """Embed ``bits`` as invisible-watermark's ``dwtDct`` encoder does on 8-bit BGR input.

    For tests and demos: the output decodes with invisible-watermark's decoder and with
    :func:`decode_dwtdct_bits`. Out-of-range pixels are clipped to ``[0, 255]`` (invisible-watermark
    lets them wrap around); otherwise the output matches it up to float rounding.

    Raises
    ------
    ValueError
        The image has fewer than :data:`MIN_PIXELS` pixels, or ``bits`` is empty.
    """
    if not bits:
        raise ValueError("bits must not be empty")
    rgb = np.asarray(to_rgb(image))
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        raise InputDataError(f"image is {w}x{h}; dwtDct needs at least 256x256 pixels in all")
    y, u, v = _yuv(rgb)
    hh, ww = h // 4 * 4, w // 4 * 4
    ca, ch, cv, cd = _haar(u[:hh, :ww].astype(np.float64))
    blocks, (nbi, nbj) = _blocks(ca)
    rows = np.arange(blocks.shape[0])
    pos = _peak(blocks)
    val = blocks[rows, pos]
    bit = np.asarray(bits, dtype=np.float64)[rows % len(bits)]
    mag = (np.floor(np.abs(val) / scale) + 0.25 + 0.5 * bit) * scale
    blocks[rows, pos] = np.where(val >= 0.0, mag, -mag)
    new_ca = ca.copy()
    new_ca[: nbi * _BLOCK, : nbj * _BLOCK] = (
        blocks.reshape(nbi, nbj, _BLOCK, _BLOCK).transpose(0, 2, 1, 3).reshape(nbi * 4, nbj * 4)
    )
    # invisible-watermark reconstructs with the detail bands swapped: idwt2((cA, (cV, cH, cD)))
    rec = _ihaar(new_ca, cv, ch, cd)
    u_new = u.copy()
    u_new[:hh, :ww] = np.trunc(np.clip(rec, 0.0, 255.0)).astype(np.int32)
    return Image.fromarray(_rgb_from_yuv(y, u_new, v), mode="RGB")


def embed_sdxl_watermark(image: Image.Image) -> Image.Image:
    """Stamp the SDXL message the way an SDXL pipeline does (for tests and demos).

    Images with fewer than :data:`MIN_PIXELS` pixels are returned unchanged (as RGB), as the
    pipelines skip them.
    """
    rgb = to_rgb(image)
    if rgb.width * rgb.height < MIN_PIXELS:
        return rgb
    return embed_dwtdct_bits(rgb, SDXL_WATERMARK_BITS)


@dataclass(frozen=True)
class SDXLWatermarkReport:
    """Outcome of :func:`detect_sdxl_watermark`.

    Attributes
    ----------
    detected:
        ``True`` when ``p_value <= alpha``.
    bit_accuracy:
        Share of decoded bits equal to the SDXL message, in ``[0, 1]`` (0.5 is chance); ``None``
        when the image was too small to check.
    bit_accuracy_ci:
        95% Wilson interval of ``bit_accuracy`` over ``n_bits``; ``None`` when not checked.
    matching_bits:
        Number of agreeing bits, or ``None`` when not checked.
    p_value:
        ``min(1, 2 P(X >= matching_bits))`` for ``X ~ Binomial(n_bits, 1/2)`` (two decodings,
        Bonferroni); ``None`` when not checked.
    alpha:
        Significance level the decision used.
    n_bits:
        Message length (48).
    reason:
        Why the image was not checked (too small), else ``None``.
    domain:
        The decoding that agreed best: ``"uint8"`` (mark embedded in an 8-bit image, as
        invisible-watermark's CLI does) or ``"float"`` (embedded in float pixels, as the diffusers
        SDXL pipelines do); ``None`` when not checked.
    """

    detected: bool
    bit_accuracy: float | None
    p_value: float | None
    n_bits: int = 48
    matching_bits: int | None = None
    bit_accuracy_ci: tuple[float, float] | None = None
    alpha: float = DEFAULT_ALPHA
    reason: str | None = None
    domain: Literal["uint8", "float"] | None = None

    @property
    def confidence(self) -> float:
        """``1 - p_value`` (0 when not checked)."""
        return 0.0 if self.p_value is None else 1.0 - self.p_value

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return {
            "detected": self.detected,
            "bit_accuracy": self.bit_accuracy,
            "bit_accuracy_ci": None if self.bit_accuracy_ci is None else list(self.bit_accuracy_ci),
            "matching_bits": self.matching_bits,
            "n_bits": self.n_bits,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "reason": self.reason,
            "domain": self.domain,
        }


def detect_sdxl_watermark(
    image: Image.Image, *, alpha: float = DEFAULT_ALPHA
) -> SDXLWatermarkReport:
    """Look for the SDXL invisible watermark in an image.

    Parameters
    ----------
    image:
        The image as decoded (any PIL mode; converted to RGB). Detection only works at the size the
        mark was embedded at and before lossy re-encoding.
    alpha:
        Significance level: the mark is reported when the binomial p-value of the bit agreement is
        at most ``alpha`` (module docstring).

    Returns
    -------
    SDXLWatermarkReport
        ``detected=False`` with a ``reason`` for images under 256 x 256 pixels.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    n = len(SDXL_WATERMARK_BITS)
    if image.width * image.height < MIN_PIXELS:
        return SDXLWatermarkReport(
            detected=False,
            bit_accuracy=None,
            p_value=None,
            n_bits=n,
            alpha=alpha,
            reason=f"image is {image.width}x{image.height}; SDXL marks only images of "
            "at least 256x256 pixels",
        )
    best: tuple[int, Literal["uint8", "float"]] = (-1, "uint8")
    for domain in ("uint8", "float"):
        bits = decode_dwtdct_bits(image, n, domain=domain)
        k = sum(int(a == b) for a, b in zip(bits, SDXL_WATERMARK_BITS, strict=True))
        if k > best[0]:
            best = (k, domain)
    k, domain = best
    p = min(1.0, 2.0 * binomial_tail(k, n))  # Bonferroni over the two decodings
    return SDXLWatermarkReport(
        detected=p <= alpha,
        bit_accuracy=k / n,
        p_value=p,
        n_bits=n,
        matching_bits=k,
        bit_accuracy_ci=wilson_interval(k, n),
        alpha=alpha,
        domain=domain,
    )

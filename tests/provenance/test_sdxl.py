"""SDXL watermark detector: exact maths, numpy re-implementation vs invisible-watermark."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from fairframe.provenance import sdxl
from fairframe.provenance.sdxl import (
    SDXL_WATERMARK_BITS,
    SDXL_WATERMARK_MESSAGE,
    binomial_tail,
    decode_dwtdct_bits,
    detect_sdxl_watermark,
    embed_dwtdct_bits,
    embed_sdxl_watermark,
    min_matching_bits,
)


def textured(seed: int, h: int = 320, w: int = 384) -> Image.Image:
    """A seeded photo-like image: smooth colour gradients plus 2x2-pixel noise texture.

    dwtDct needs texture: on flat or blocky images even invisible-watermark's own round trip
    loses bits (the re-quantized coefficient stops being the block's largest).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack(
        [
            120 + 60 * np.sin(xx / (37 + seed) + seed),
            110 + 50 * np.cos(yy / (29 + seed)),
            100 + 40 * np.sin((xx + yy) / 53),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 25, size=(h // 2, w // 2, 3))
    noise = np.kron(noise, np.ones((2, 2, 1)))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def test_message_constants() -> None:
    assert len(SDXL_WATERMARK_BITS) == 48
    assert int("".join(map(str, SDXL_WATERMARK_BITS)), 2) == SDXL_WATERMARK_MESSAGE
    assert SDXL_WATERMARK_BITS[:8] == (1, 0, 1, 1, 0, 0, 1, 1)


def test_binomial_tail_exact_values() -> None:
    assert binomial_tail(48, 48) == 2.0**-48
    assert binomial_tail(47, 48) == 49 / 2.0**48
    assert binomial_tail(24, 48) == pytest.approx(
        sum(math.comb(48, i) for i in range(24, 49)) / 2**48
    )
    assert binomial_tail(0, 48) == 1.0
    assert binomial_tail(49, 48) == 0.0
    # 41 of 48: p = 3.12e-7 <= 1e-6 < p(40) = 1.5e-6
    assert min_matching_bits(1e-6) == 41
    assert binomial_tail(41, 48) <= 1e-6 < binomial_tail(40, 48)


def test_yuv_is_bit_exact_with_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    b, g, r = np.meshgrid(np.arange(0, 256, 5), np.arange(256), np.arange(256), indexing="ij")
    bgr = np.stack([b, g, r], -1).reshape(-1, 256, 3).astype(np.uint8)
    ref = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    y, u, v = sdxl._yuv(bgr[..., ::-1])
    np.testing.assert_array_equal(np.stack([y, u, v], -1), ref)
    back = sdxl._rgb_from_yuv(*(ref[..., i].astype(np.int32) for i in range(3)))
    np.testing.assert_array_equal(back[..., ::-1], cv2.cvtColor(ref, cv2.COLOR_YUV2BGR))


def test_haar_is_bit_exact_with_pywavelets() -> None:
    pywt = pytest.importorskip("pywt")
    x = np.random.default_rng(3).integers(0, 256, (64, 96)).astype(np.float64)
    ca, ch, cv, cd = sdxl._haar(x)
    ref_a, (ref_h, ref_v, ref_d) = pywt.dwt2(x, "haar")
    for ours, ref in ((ca, ref_a), (ch, ref_h), (cv, ref_v), (cd, ref_d)):
        np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(
        sdxl._ihaar(ca + 0.25, cv, ch, cd),
        pywt.idwt2((ref_a + 0.25, (ref_v, ref_h, ref_d)), "haar"),
    )
    # hand-computed 2x2: cA = (1 + 2 + 3 + 4) / 2
    assert sdxl._haar(np.array([[1.0, 2.0], [3.0, 4.0]]))[0][0, 0] == pytest.approx(5.0)


def test_own_round_trip_detects_and_unmarked_does_not() -> None:
    for seed in (0, 1, 2):
        image = textured(seed)
        marked = embed_sdxl_watermark(image)
        assert np.abs(np.asarray(marked, np.int16) - np.asarray(image, np.int16)).mean() < 3
        found = detect_sdxl_watermark(marked)
        assert found.detected, (seed, found)
        assert found.matching_bits is not None and found.matching_bits >= 41
        assert found.p_value == 2 * binomial_tail(found.matching_bits, 48)  # two decodings
        lo, hi = found.bit_accuracy_ci or (0.0, 0.0)
        assert lo < found.bit_accuracy <= hi  # type: ignore[operator]
        clean = detect_sdxl_watermark(image)
        assert not clean.detected
        assert clean.matching_bits is not None and clean.matching_bits < 41


def test_other_message_is_not_the_sdxl_mark() -> None:
    other = tuple(1 - b for b in SDXL_WATERMARK_BITS)
    marked = embed_dwtdct_bits(textured(4), other)
    assert decode_dwtdct_bits(marked) != SDXL_WATERMARK_BITS
    report = detect_sdxl_watermark(marked)
    assert not report.detected
    assert report.bit_accuracy is not None and report.bit_accuracy < 0.2


def test_jpeg_reencoding_removes_the_mark() -> None:
    marked = embed_sdxl_watermark(textured(5))
    buf = io.BytesIO()
    marked.save(buf, format="JPEG", quality=75)
    assert detect_sdxl_watermark(marked).detected
    assert not detect_sdxl_watermark(Image.open(buf)).detected


def test_small_images_are_not_checked() -> None:
    small = textured(0, 200, 300)  # 60000 < 65536 pixels
    report = detect_sdxl_watermark(small)
    assert not report.detected
    assert report.bit_accuracy is None and report.p_value is None
    assert report.reason is not None and "256x256" in report.reason
    assert embed_sdxl_watermark(small).tobytes() == small.tobytes()
    assert report.to_json()["reason"] == report.reason
    with pytest.raises(ValueError, match="alpha"):
        detect_sdxl_watermark(small, alpha=0.0)


def test_cross_check_with_invisible_watermark() -> None:
    imwatermark = pytest.importorskip("imwatermark")
    encoder = imwatermark.WatermarkEncoder()
    encoder.set_watermark("bits", list(SDXL_WATERMARK_BITS))
    decoder = imwatermark.WatermarkDecoder("bits", 48)
    for seed in (0, 7):
        image = textured(seed)
        bgr = np.ascontiguousarray(np.asarray(image)[..., ::-1])
        # unmarked: same bits from both decoders
        theirs = tuple(int(b) for b in decoder.decode(bgr, "dwtDct"))
        assert decode_dwtdct_bits(image) == theirs
        # marked by invisible-watermark, as diffusers' SDXL watermarker calls it: found by ours
        marked_ref = Image.fromarray(np.ascontiguousarray(encoder.encode(bgr, "dwtDct")[..., ::-1]))
        assert detect_sdxl_watermark(marked_ref).detected
        # ours: pixel-identical to invisible-watermark's output, and decoded identically
        ours = embed_sdxl_watermark(image)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(marked_ref))
        ours_bgr = np.ascontiguousarray(np.asarray(ours)[..., ::-1])
        assert tuple(int(b) for b in decoder.decode(ours_bgr, "dwtDct")) == decode_dwtdct_bits(ours)


def test_diffusers_float_path_needs_the_float_decoding() -> None:
    """SDXL pipelines hand invisible-watermark float pixels; the 8-bit decoding misreads them."""
    imwatermark = pytest.importorskip("imwatermark")
    skdata = pytest.importorskip("skimage.data")
    encoder = imwatermark.WatermarkEncoder()
    encoder.set_watermark("bits", list(SDXL_WATERMARK_BITS))
    rgb = skdata.chelsea()
    # diffusers' StableDiffusionXLWatermarker: float32 BGR in 0..255, back to RGB, then to uint8
    out = encoder.encode(rgb.astype(np.float32)[..., ::-1].copy(), "dwtDct")[..., ::-1]
    image = Image.fromarray((np.clip(out / 255, 0, 1) * 255).round().astype(np.uint8))

    def agree(domain: str) -> int:
        bits = decode_dwtdct_bits(image, domain=domain)  # type: ignore[arg-type]
        return sum(a == b for a, b in zip(bits, SDXL_WATERMARK_BITS, strict=True))

    assert agree("uint8") < 20 < 41 <= agree("float")  # 8 vs 48 with invisible-watermark 0.2.0
    report = detect_sdxl_watermark(image)
    assert report.detected and report.domain == "float"
    assert not detect_sdxl_watermark(Image.fromarray(rgb)).detected

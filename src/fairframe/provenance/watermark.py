"""Keyed invisible watermark: a secret-key spread-spectrum mark that survives JPEG, resizing, crops.

**What it carries.** :data:`PAYLOAD_BYTES` (4) bytes = 32 payload bits, plus a 16-bit CRC
(CRC-16/CCITT-FALSE: :func:`binascii.crc_hqx` with initial value ``0xFFFF``) = 48 bits, protected
by a rate-1/3, constraint-length-7 convolutional code (generators 133, 171, 165 octal, terminated
by 6 zero bits: 162 coded bits) and decoded with soft-decision Viterbi.

**Key.** 32 random bytes (:func:`generate_key`; at least 16 are accepted). Every pattern is drawn
from ``numpy.random.Generator(PCG64(seed))`` with
``seed = HMAC-SHA256(key, "fairframe-wm-v1/cells")``, so without the key the mark can be neither
read nor forged, and two keys give unrelated patterns.
Key files are one line of text, ``fairframe-wm-key-v1:<hex>`` (64 hex digits for a generated key),
written with mode 0600 (:func:`save_key`, :func:`load_key`).

**Embedding** (:meth:`KeyedWatermark.embed`). A :data:`TILE` x :data:`TILE` (64 x 64) pattern is
repeated over the whole image from its top-left pixel. The tile is a 16 x 16 grid of :data:`CELL` x
:data:`CELL` (4 x 4) cells; cell ``c`` holds ``carrier[c] * symbol[c]`` with ``carrier`` a
key-derived random sign. :data:`PILOT_CELLS` (94) key-chosen cells are *pilots* (``symbol = +1``;
together they are the key's sync pattern); the other 162 cells carry the coded bits (``+1`` for a 1,
``-1`` for a 0) at key-permuted positions, which interleaves the code. The cell image is blurred by
a circular Gaussian (sigma 1.2 px), so the mark sits in the low-to-mid band that JPEG and halving
keep, and scaled to unit RMS. It is added to R, G and B alike (only luminance changes) under a
perceptual mask ``m(x) = (s(x)^2 + 8^2)^(1/4)``, ``s`` the local standard deviation of luminance
in a 7 x 7 window, normalised to ``mean(m^2) = 1`` and capped at 3: textured areas take more of
the mark, flat ones less. The fourth root (rather than ``m ~ s``) is a deliberate compromise: the
detector normalises by local activity, so mark moved into texture is worth less there; ``m ~ s``
cost about 40% of the sync z on photos and made 256 px photos undetectable. A global factor
``g = clip(sqrt(mean(s) / 8), 0.35, 1)`` then lowers the whole mark on low-texture images, where
it would be most visible and detection needs least (a flat sky still verifies with z near 13 at
``g = 0.35``). The change is ``round(strength * g * m(x) * tile(x))`` grey levels, clipped to
``[0, 255]``: RMS about ``strength * g``, so ``PSNR ~ 20 log10(255 / (strength * g))`` (the
default 2.8 gives about 39 dB on photos, up to 48 dB on flat images). Embedding uses numpy and
scipy only and is bit-for-bit deterministic.

**Verification** (:meth:`KeyedWatermark.verify`), with no knowledge of the original size or
position. The detector works on a *residual*: luminance minus its 5 x 5 mean, divided by the local
RMS (9 x 9) and clipped at 3, which removes most of the picture and evens out textured and flat
areas.

1. *Scale.* A mark repeating every ``p`` pixels puts its energy on the frequency lattice
   ``k / p``. The residual's power spectrum, divided by its local mean ("whitened"), is averaged
   over the lattice points ``|k| <= 10`` for every ``p`` in ``[0.4, 1.6] * TILE`` (0.5 px steps).
   Up to :data:`SCALE_CANDIDATES` peaks with a robust z of at least 4, each refined per axis within
   2%, join the unscaled hypothesis ``p = TILE``.
2. *Fold.* For each hypothesis the luminance is resampled (bicubic) so the period is ``TILE``, its
   residual is computed and all tiles are summed into one 64 x 64 tile, whose spectrum is divided
   by the square root of its smoothed power (partial whitening).
3. *Sync.* The folded tile is circularly cross-correlated with the key's pilot pattern (as the
   residual filter sees it) at all ``TILE^2`` shifts; a crop is a translation, so the peak's shift
   is the tile grid's offset. Scale error is then corrected from the drift of the peak between the
   image's left and right (top and bottom) halves, up to two rounds, each one more hypothesis.
4. *Payload.* At the best hypothesis the aligned tile is matched-filtered, each cell's value times
   its carrier is a soft coded bit, Viterbi decodes the 48 bits and the CRC is checked.

**Confidence.** Under the null (no mark made with this key) the correlation ``c(h, d)`` at
hypothesis ``h`` and shift ``d`` is a sum of many weakly dependent terms, close to normal. Per
hypothesis it is standardised robustly over the ``TILE^2`` shifts, ``z = (c - median(c)) / (1.4826
MAD(c))``. With ``z*`` the largest ``z`` found and ``M = H * TILE^2`` (``H``: every hypothesis in
the list plus the refinements tried; the search may stop early, but ``M`` counts the whole list),
the sync p-value is the Sidak bound for the maximum of ``M`` standard normals::

    p_sync = 1 - (1 - Q(z*)) ** M,        Q(z) = 1 - Phi(z)  (standard normal upper tail)

Neighbouring shifts are correlated, so the effective number of tests is below ``M`` and
``p_sync`` is conservative. The payload's CRC-16 is a second, independent test: the 162 coded cells
are disjoint from the 94 pilot cells, and without the mark the decoded bits are as good as random,
so they pass the CRC with probability ``2^-16``. The combined p-value (a Bonferroni-style union of
the two outcomes, valid for that independence) is::

    p = min(1, 2 * p_sync * 2^-16)   if the CRC matches
    p = min(1, 2 * p_sync)           otherwise

since ``P(p <= a) <= 2^-16 * (a * 2^15) + a / 2 = a``. ``confidence = 1 - p``; ``detected`` is
``p <= alpha`` with a matching CRC (default :data:`DEFAULT_ALPHA` = 1e-8, i.e. ``p_sync <= 3.3e-4``
and the CRC), so at most a fraction ``alpha`` of unmarked images is reported as marked. The test
suite checks ``P(p <= a) <= a`` on 200 unmarked images. ``bit_accuracy_estimate`` is the share of
the 162 coded bits whose sign agrees with the re-encoded decoded codeword: the raw channel accuracy
before error correction (about 0.5 without a mark; from about 0.75 up Viterbi decodes reliably).

**Limits.** Rotation, flips, scales outside ``[0.4, 1.6]``, crops that leave less than about two
tiles per side, heavy blur, and regeneration (img2img, strong denoisers) remove the mark. A
verified mark proves that someone holding the key marked the image, nothing more: keep the key
secret (whoever has it can read and forge marks).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import importlib
import math
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import fft as sfft
from scipy import ndimage, special

from fairframe.errors import ConfigError, InputDataError
from fairframe.images import to_rgb

__all__ = [
    "CELL",
    "DEFAULT_ALPHA",
    "DEFAULT_STRENGTH",
    "KEY_FILE_PREFIX",
    "METHOD",
    "MIN_EMBED_SIDE",
    "MIN_VERIFY_SIDE",
    "PAYLOAD_BYTES",
    "PILOT_CELLS",
    "SCALE_CANDIDATES",
    "TILE",
    "KeyedWatermark",
    "WatermarkReport",
    "generate_key",
    "load_key",
    "payload_bits",
    "save_key",
]

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

#: Payload length in bytes (32 bits); a CRC-16 is appended inside the mark.
PAYLOAD_BYTES = 4
#: Side of the repeating tile, in pixels at the embedding scale.
TILE = 64
#: Side of one cell (one chip of the spread-spectrum code), in pixels.
CELL = 4
#: Cells that carry the key's sync (pilot) pattern; the rest carry the 48 codeword bits.
PILOT_CELLS = 94
#: Spectral-lattice peaks tried as scale hypotheses (the unscaled hypothesis is always tried too).
SCALE_CANDIDATES = 3
#: Default RMS amplitude of the mark in grey levels (PSNR about 39 dB).
DEFAULT_STRENGTH = 2.8
#: Default significance level: ``detected`` needs ``p <= alpha`` (and a matching CRC).
DEFAULT_ALPHA = 1e-8
#: Smallest side :meth:`KeyedWatermark.embed` accepts (two tiles).
MIN_EMBED_SIDE = 2 * TILE
#: Smallest side :meth:`KeyedWatermark.verify` accepts.
MIN_VERIFY_SIDE = 48
#: Key-file line prefix.
KEY_FILE_PREFIX = "fairframe-wm-key-v1:"
#: Name reported in :attr:`WatermarkReport.method`.
METHOD = "fairframe-keyed-tile-v1"
#: Minimum key length in bytes.
MIN_KEY_BYTES = 16

_CRC_BITS = 16
#: chance that random bits pass the CRC
_CRC_CHANCE = 2.0**-_CRC_BITS
_CODE_BITS = 8 * PAYLOAD_BYTES + _CRC_BITS
#: convolutional code: constraint length 7, rate 1/3, generators 133, 171, 165 (octal)
_CONV_K = 7
_CONV_POLYS = (0o133, 0o171, 0o165)
_CODED_BITS = (_CODE_BITS + _CONV_K - 1) * len(_CONV_POLYS)
_GRID = TILE // CELL
if _GRID * _GRID - PILOT_CELLS != _CODED_BITS:  # pragma: no cover - layout invariant
    raise RuntimeError("watermark layout: pilot and coded cells must fill the tile")
_N_CELLS = _GRID * _GRID
_BLUR_SIGMA = 1.2
_MASK_WINDOW = 7
_MASK_FLOOR = 8.0
_TEXTURE_REF = 8.0
_TEXTURE_MIN = 0.35
_MASK_CAP = 3.0
_SCALE_RANGE = (0.4, 1.6)
_HP_BOX = 5
_REFINE_ROUNDS = 2
_LATTICE_K = 10
_PERIOD_STEP = 0.5
_WHITEN_BETA = 0.5
_WHITEN_WIDTH = 5
_LATTICE_MIN_Z = 4.0
_KEY_RE = re.compile(r"^[0-9a-fA-F]+$")
_KEYGEN_HINT = "create one with `fairframe provenance keygen KEYFILE`"


def generate_key() -> bytes:
    """Return a new random 32-byte watermark key (from :func:`secrets.token_bytes`)."""
    return secrets.token_bytes(32)


def save_key(key: bytes, path: str | os.PathLike[str]) -> None:
    """Write ``key`` to ``path`` as ``fairframe-wm-key-v1:<hex>`` plus a newline, mode 0600.

    Raises
    ------
    ConfigError
        The key is shorter than 16 bytes.
    InputDataError
        The file cannot be written.
    """
    _check_key(key)
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(f"{KEY_FILE_PREFIX}{key.hex()}\n")
        os.chmod(target, 0o600)
    except OSError as exc:
        raise InputDataError(f"cannot write key file {target}: {exc.strerror}") from exc


def load_key(path: str | os.PathLike[str]) -> bytes:
    """Read a key file written by :func:`save_key`.

    Raises
    ------
    InputDataError
        The file is missing, unreadable or not a ``fairframe-wm-key-v1`` line with at least 16
        bytes of hex; the message says how to make a new one.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise InputDataError(f"watermark key file {source} does not exist; {_KEYGEN_HINT}") from exc
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"watermark key file {source} is not a text key file; {_KEYGEN_HINT}"
        ) from exc
    except OSError as exc:
        raise InputDataError(f"cannot read watermark key file {source}: {exc.strerror}") from exc
    if not text.startswith(KEY_FILE_PREFIX):
        raise InputDataError(
            f"watermark key file {source} does not start with {KEY_FILE_PREFIX!r}; {_KEYGEN_HINT}"
        )
    hexpart = text[len(KEY_FILE_PREFIX) :]
    if not _KEY_RE.match(hexpart) or len(hexpart) % 2 or len(hexpart) < 2 * MIN_KEY_BYTES:
        raise InputDataError(
            f"watermark key file {source} must hold at least {MIN_KEY_BYTES} bytes as hex after "
            f"{KEY_FILE_PREFIX!r}; {_KEYGEN_HINT}"
        )
    return bytes.fromhex(hexpart)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise ConfigError(
            f"watermark key must be at least {MIN_KEY_BYTES} bytes, got {size}; use "
            "generate_key() or `fairframe provenance keygen KEYFILE`"
        )


@dataclass(frozen=True)
class WatermarkReport:
    """What :meth:`KeyedWatermark.verify` found.

    Attributes
    ----------
    detected:
        ``p_value <= alpha`` and the decoded CRC matches.
    payload:
        The :data:`PAYLOAD_BYTES` decoded bytes when ``detected``, else ``None``.
    confidence:
        ``1 - p_value``, in ``[0, 1]`` (formula in the module docstring).
    p_value:
        Combined p-value of the sync peak and the CRC (formula in the module docstring): the
        chance that an image without this key's mark looks at least this marked.
    sync_p_value:
        p-value of the sync peak alone (Sidak over all shifts and scale hypotheses).
    sync_z:
        Robust z-score of the best sync correlation peak.
    bit_accuracy_estimate:
        Model-based estimate of the share of codeword bits decoded correctly, in ``[0.5, 1]``.
    crc_ok:
        Whether the decoded payload matches its CRC-16.
    scale:
        Estimated scale of the image relative to the marked original (0.5 after halving);
        geometric mean of the two axes.
    offset:
        ``(x, y)`` of the tile grid's origin in the image given, in its own pixels, modulo the
        tile period there.
    method:
        :data:`METHOD`.
    hypotheses:
        Scale hypotheses tested (``M = hypotheses * TILE^2``).
    """

    detected: bool
    payload: bytes | None
    confidence: float
    p_value: float
    sync_p_value: float
    sync_z: float
    bit_accuracy_estimate: float
    crc_ok: bool
    scale: float
    offset: tuple[int, int]
    method: str
    hypotheses: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (payload as hex, or ``None``)."""
        return {
            "detected": self.detected,
            "payload": None if self.payload is None else self.payload.hex(),
            "confidence": self.confidence,
            "p_value": self.p_value,
            "sync_p_value": self.sync_p_value,
            "sync_z": round(self.sync_z, 4),
            "bit_accuracy_estimate": round(self.bit_accuracy_estimate, 4),
            "crc_ok": self.crc_ok,
            "scale": round(self.scale, 4),
            "offset": list(self.offset),
            "method": self.method,
            "hypotheses": self.hypotheses,
        }


@dataclass(frozen=True)
class _Decoded:
    """What the best hypothesis decoded: sync z, geometry, the 48 bits and channel agreement."""

    z: float
    hypotheses: int
    scale_x: float
    scale_y: float
    offset: tuple[int, int]
    bits: NDArray[np.uint8]
    agreement: float


class KeyedWatermark:
    """Embed and verify the keyed tile watermark (algorithm in the module docstring).

    Instances hold only key-derived constants (built in the constructor, about a millisecond) and
    no mutable state, so one instance can serve many threads.

    Parameters
    ----------
    key:
        Secret key, at least 16 bytes (32 from :func:`generate_key`).
    strength:
        RMS amplitude of the mark in grey levels on textured images (low-texture images get down
        to 0.35 of it); the default 2.8 gives a PSNR near 39 dB on photos.
    alpha:
        Significance level for ``detected`` (``p_value <= alpha``).

    Raises
    ------
    ConfigError
        The key is too short, ``strength`` is not in ``(0, 20]`` or ``alpha`` not in ``(0, 1)``.
    """

    def __init__(
        self, *, key: bytes, strength: float = DEFAULT_STRENGTH, alpha: float = DEFAULT_ALPHA
    ) -> None:
        _check_key(key)
        if not 0.0 < strength <= 20.0:
            raise ConfigError(f"strength must be in (0, 20] grey levels, got {strength}")
        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
        self.strength = float(strength)
        self.alpha = float(alpha)
        self._key = bytes(key)
        rng = self._rng("cells")
        self._carrier = rng.choice(np.array([-1.0, 1.0]), size=_N_CELLS)
        order = rng.permutation(_N_CELLS)
        self._pilots = np.sort(order[:PILOT_CELLS])
        #: data cell k carries coded bit k (key-random positions interleave the code)
        self._data_cells = order[PILOT_CELLS:]
        fy = sfft.fftfreq(TILE)[:, None]
        fx = sfft.rfftfreq(TILE)[None, :]
        self._blur_hat = np.exp(-2.0 * math.pi**2 * _BLUR_SIGMA**2 * (fx**2 + fy**2))
        # the detector sees the mark through _residual's high-pass (1 - box); templates match it
        self._high_hat = 1.0 - _box_response(fy, _HP_BOX) * _box_response(fx, _HP_BOX)
        pilot_cells = np.zeros(_N_CELLS)
        pilot_cells[self._pilots] = self._carrier[self._pilots]
        sync = self._through_residual(self._render(pilot_cells))
        self._sync_hat_conj = np.conj(sfft.rfft2(sync / np.linalg.norm(sync)))

    # ------------------------------------------------------------------ key material
    def _rng(self, purpose: str) -> np.random.Generator:
        digest = hmac.new(self._key, b"fairframe-wm-v1/" + purpose.encode(), hashlib.sha256)
        return np.random.Generator(np.random.PCG64(int.from_bytes(digest.digest(), "big")))

    def _render(self, cells: F64) -> F64:
        """Cell values (length 256) -> blurred 64 x 64 tile."""
        grid = cells.reshape(_GRID, _GRID)
        tile = np.kron(grid, np.ones((CELL, CELL)))
        out: F64 = sfft.irfft2(sfft.rfft2(tile) * self._blur_hat, s=(TILE, TILE))
        return out

    def _through_residual(self, tile: F64) -> F64:
        """``tile`` as the detector's high-pass residual sees it."""
        out: F64 = sfft.irfft2(sfft.rfft2(tile) * self._high_hat, s=(TILE, TILE))
        centred: F64 = out - out.mean()
        return centred

    def _tile(self, payload: bytes) -> F64:
        return self._tile_coded(_conv_encode(_codeword(payload)))

    def _tile_coded(self, coded: NDArray[np.uint8]) -> F64:
        """Unit-RMS tile for ``_CODED_BITS`` coded bits (plus the pilots)."""
        cells = self._carrier.copy()
        cells[self._data_cells] *= np.where(coded == 1, 1.0, -1.0)
        tile = self._render(cells)
        tile -= tile.mean()
        out: F64 = tile / math.sqrt(float(np.mean(tile**2)))
        return out

    # ------------------------------------------------------------------ embed
    def embed(self, image: Image.Image, payload: bytes) -> Image.Image:
        """Return an RGB copy of ``image`` (same size) carrying ``payload``.

        Raises
        ------
        InputDataError
            ``payload`` is not :data:`PAYLOAD_BYTES` bytes, or the image's shorter side is under
            :data:`MIN_EMBED_SIDE` pixels.
        """
        if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
            got = len(payload) if isinstance(payload, bytes | bytearray) else type(payload).__name__
            raise InputDataError(
                f"watermark payload must be exactly {PAYLOAD_BYTES} bytes, got {got}; pad or "
                "hash it to that length"
            )
        rgb = to_rgb(image)
        w, h = rgb.size
        if min(w, h) < MIN_EMBED_SIDE:
            raise InputDataError(
                f"image is {w}x{h}; the watermark needs at least {MIN_EMBED_SIDE} pixels on each "
                "side (two tiles)"
            )
        arr = np.asarray(rgb)
        mask = _mask(_luminance(arr.astype(np.float32)))
        tile = self._tile(bytes(payload)).astype(np.float32)
        reps = (-(-h // TILE), -(-w // TILE))
        pattern = np.tile(tile, reps)[:h, :w]
        # one integer change per pixel, added to R, G and B alike
        delta = np.rint(self.strength * mask * pattern).astype(np.int16)[:, :, None]
        out = np.clip(arr.astype(np.int16) + delta, 0, 255).astype(np.uint8)
        return Image.fromarray(out)

    # ------------------------------------------------------------------ verify
    def verify(self, image: Image.Image) -> WatermarkReport:
        """Look for this key's mark at any scale in ``[0.4, 1.6]`` and any translation.

        Raises
        ------
        InputDataError
            The image's shorter side is under :data:`MIN_VERIFY_SIDE` pixels.
        """
        dec = self._decode(image)
        sync_p = _sidak(dec.z, dec.hypotheses * TILE * TILE)
        payload = _bits_to_bytes(dec.bits[: 8 * PAYLOAD_BYTES])
        crc_ok = bool(np.array_equal(dec.bits[8 * PAYLOAD_BYTES :], _crc_bits(payload)))
        p_value = min(1.0, 2.0 * sync_p * (_CRC_CHANCE if crc_ok else 1.0))
        detected = bool(crc_ok and p_value <= self.alpha)
        return WatermarkReport(
            detected=detected,
            payload=payload if detected else None,
            confidence=float(min(1.0, max(0.0, 1.0 - p_value))),
            p_value=p_value,
            sync_p_value=sync_p,
            sync_z=dec.z,
            bit_accuracy_estimate=dec.agreement,
            crc_ok=crc_ok,
            scale=math.sqrt(dec.scale_x * dec.scale_y),
            offset=dec.offset,
            method=METHOD,
            hypotheses=dec.hypotheses,
        )

    def decode_bits(self, image: Image.Image) -> NDArray[np.uint8]:
        """The 32 payload bits (MSB first per byte) as decoded, whether or not a mark is there.

        Meant for measuring bit accuracy: compare with :func:`payload_bits` of the embedded
        payload.

        Raises
        ------
        InputDataError
            The image's shorter side is under :data:`MIN_VERIFY_SIDE` pixels.
        """
        return self._decode(image).bits[: 8 * PAYLOAD_BYTES].copy()

    def _decode(self, image: Image.Image) -> _Decoded:
        rgb = to_rgb(image)
        w, h = rgb.size
        if min(w, h) < MIN_VERIFY_SIDE:
            raise InputDataError(
                f"image is {w}x{h}; verifying needs at least {MIN_VERIFY_SIDE} pixels on each side"
            )
        lum = _luminance(np.asarray(rgb, dtype=np.float32))
        res = _residual(lum)
        hyps = _period_candidates(res)
        tested = len(hyps)
        best = self._sync(lum, *hyps[0], res)
        for px, py in hyps[1:]:
            # stopping early is safe: the p-value counts every hypothesis in the list
            if _sidak(best.z, (tested + _REFINE_ROUNDS) * TILE * TILE) <= self.alpha:
                break
            trial = self._sync(lum, px, py)
            if trial.z > best.z:
                best = trial
        for _ in range(_REFINE_ROUNDS):
            refined = self._refine_scale(best)
            if refined is None:
                break
            tested += 1
            again = self._sync(lum, *refined)
            if again.z <= best.z:
                break
            best = again
        dy, dx = best.shift
        aligned = np.roll(best.folded, (-dy, -dx), axis=(0, 1))
        filtered = sfft.irfft2(
            sfft.rfft2(aligned) * (self._blur_hat * self._high_hat), s=(TILE, TILE)
        )
        cells = filtered.reshape(_GRID, CELL, _GRID, CELL).sum(axis=(1, 3)).ravel()
        soft = (cells * self._carrier)[self._data_cells]
        bits = _viterbi(soft)
        coded = _conv_encode(bits)
        agreement = float(np.mean((soft > 0) == (coded == 1)))
        px, py = best.period
        offset = (
            int(round(dx * px / TILE)) % max(1, round(px)),
            int(round(dy * py / TILE)) % max(1, round(py)),
        )
        return _Decoded(
            z=best.z,
            hypotheses=tested,
            scale_x=px / TILE,
            scale_y=py / TILE,
            offset=offset,
            bits=bits,
            agreement=agreement,
        )

    def _correlate(self, folded: F64) -> F64:
        """Circular cross-correlation of a folded tile with the sync template, all shifts."""
        out: F64 = sfft.irfft2(sfft.rfft2(folded) * self._sync_hat_conj, s=(TILE, TILE))
        return out

    def _sync(self, lum: F32, px: float, py: float, res: F32 | None = None) -> _Sync:
        """Resample so the period is TILE, fold, correlate with the sync template.

        ``res`` is the residual of ``lum`` itself, passed for the unscaled hypothesis.
        """
        h, w = lum.shape
        if abs(px - TILE) > 1e-9 or abs(py - TILE) > 1e-9:
            nw = max(TILE, int(math.floor(w * TILE / px)))
            nh = max(TILE, int(math.floor(h * TILE / py)))
            box = (0.0, 0.0, nw * px / TILE, nh * py / TILE)
            norm = np.asarray(
                Image.fromarray(lum).resize((nw, nh), Image.Resampling.BICUBIC, box=box),
                dtype=np.float32,
            )
            res = _residual(norm)
        elif res is None:
            res = _residual(lum)
        folded = _fold(res)
        flat = self._correlate(folded).ravel()
        med = float(np.median(flat))
        mad = float(np.median(np.abs(flat - med))) * 1.4826
        idx = int(np.argmax(flat))
        z = (float(flat[idx]) - med) / max(mad, 1e-12)
        return _Sync(
            z=z, shift=(idx // TILE, idx % TILE), folded=folded, residual=res, period=(px, py)
        )

    def _refine_scale(self, best: _Sync) -> tuple[float, float] | None:
        """Correct the period from the drift of the sync peak between image halves.

        If the true period is ``T / (1 - e)`` in the resampled image, the grid offset seen at
        position ``x`` is ``d0 + e (x - d0)``; the peaks of the left and right (top and bottom)
        halves, ``W / 2`` apart, give ``e``. Returns ``None`` when the drift is negligible or a
        half has no clear peak.
        """
        res = best.residual
        h, w = res.shape
        if min(h, w) < 2 * TILE:
            return None
        periods = list(best.period)
        changed = False
        for axis, size in ((1, w), (0, h)):
            half = size // 2
            peaks: list[float] = []
            for lo, hi in ((0, half), (half, size)):
                part = res[:, lo:hi] if axis == 1 else res[lo:hi, :]
                shift = (0, lo % TILE) if axis == 1 else (lo % TILE, 0)
                corr = self._correlate(np.roll(_fold(part), shift, axis=(0, 1)))
                peak = _subpixel_peak(corr, best.shift, axis)
                if peak is None:
                    return None
                peaks.append(peak)
            drift = (peaks[1] - peaks[0] + TILE / 2) % TILE - TILE / 2
            eps = drift / (size / 2)
            if abs(eps) > 0.05:
                return None
            if abs(eps) * size >= 0.25:
                periods[1 - axis] = periods[1 - axis] / (1.0 - eps)
                changed = True
        return (periods[0], periods[1]) if changed else None


@dataclass(frozen=True)
class _Sync:
    """One scale hypothesis: sync z, best shift ``(dy, dx)``, folded tile and residual."""

    z: float
    shift: tuple[int, int]
    folded: F64
    residual: F32
    period: tuple[float, float]


def _subpixel_peak(corr: F64, near: tuple[int, int], axis: int) -> float | None:
    """Sub-pixel position along ``axis`` of the largest value within 4 px of ``near``.

    ``None`` when that value is under 3 robust standard deviations (no clear peak).
    """
    n = corr.shape[0]
    rows = (near[0] + np.arange(-4, 5)) % n
    cols = (near[1] + np.arange(-4, 5)) % n
    window = corr[np.ix_(rows, cols)]
    i, j = np.unravel_index(int(np.argmax(window)), window.shape)
    py, px = int(rows[i]), int(cols[j])
    flat = corr.ravel()
    med = float(np.median(flat))
    mad = float(np.median(np.abs(flat - med))) * 1.4826
    b = float(corr[py, px])
    if b - med < 3.0 * max(mad, 1e-12):
        return None
    if axis == 1:
        a, c, pos = float(corr[py, (px - 1) % n]), float(corr[py, (px + 1) % n]), px
    else:
        a, c, pos = float(corr[(py - 1) % n, px]), float(corr[(py + 1) % n, px]), py
    den = a - 2 * b + c
    frac = 0.5 * (a - c) / den if den < 0 else 0.0
    return pos + max(-0.5, min(0.5, frac))


# ---------------------------------------------------------------------- helpers
def payload_bits(payload: bytes) -> NDArray[np.uint8]:
    """The bits of ``payload``, MSB first per byte (what :meth:`~KeyedWatermark.decode_bits`
    returns for a perfect decode)."""
    return np.unpackbits(np.frombuffer(bytes(payload), dtype=np.uint8))


def _crc_bits(payload: bytes) -> NDArray[np.uint8]:
    crc = binascii.crc_hqx(payload, 0xFFFF)
    return np.unpackbits(np.frombuffer(crc.to_bytes(2, "big"), dtype=np.uint8))


def _codeword(payload: bytes) -> NDArray[np.uint8]:
    return np.concatenate([payload_bits(payload), _crc_bits(payload)])


def _parity(x: NDArray[np.int64]) -> NDArray[np.int64]:
    x = x.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        x ^= x >> shift
    out: NDArray[np.int64] = x & 1
    return out


_N_STATES = 1 << (_CONV_K - 1)
_STATES = np.arange(_N_STATES, dtype=np.int64)
#: predecessor state of each next state for the dropped bit b in {0, 1}: shape (64, 2)
_PREV = ((_STATES[:, None] & (_N_STATES // 2 - 1)) << 1) | np.array([0, 1], dtype=np.int64)
#: input bit that leads into each next state
_INPUT = _STATES >> (_CONV_K - 2)
#: encoder register (input bit on top of the predecessor state) per (next state, b)
_REG = (_INPUT[:, None] << (_CONV_K - 1)) | _PREV
#: +-1 code symbols per (next state, b, generator)
_SYMBOLS = np.stack([2.0 * _parity(_REG & g) - 1.0 for g in _CONV_POLYS], axis=-1)


def _conv_encode(bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Rate-1/3, K=7 convolutional encoding, terminated with 6 zero bits."""
    state = 0
    out: list[int] = []
    for u in [*(int(b) for b in bits), *([0] * (_CONV_K - 1))]:
        reg = (u << (_CONV_K - 1)) | state
        out.extend(bin(reg & g).count("1") & 1 for g in _CONV_POLYS)
        state = reg >> 1
    return np.array(out, dtype=np.uint8)


def _viterbi(soft: F64) -> NDArray[np.uint8]:
    """Soft-decision Viterbi decoding of :func:`_conv_encode` (correlation metric).

    ``soft`` holds one real value per coded bit, positive meaning 1; returns the data bits.
    """
    n_out = len(_CONV_POLYS)
    steps = soft.size // n_out
    rx = soft.reshape(steps, n_out)
    metric = np.full(_N_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.empty((steps, _N_STATES), dtype=np.int8)
    for t in range(steps):
        cand = metric[_PREV] + _SYMBOLS @ rx[t]
        pick = np.argmax(cand, axis=1)
        choices[t] = pick
        metric = cand[_STATES, pick]
    state = 0  # terminated: the encoder ends in state 0
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = _INPUT[state]
        state = int(_PREV[state, choices[t, state]])
    return bits[: steps - (_CONV_K - 1)]


def _bits_to_bytes(bits: NDArray[np.uint8]) -> bytes:
    return np.packbits(bits).tobytes()


def _luminance(arr: F32) -> F32:
    """BT.601 luma of an ``HxWx3`` float array."""
    out: F32 = (arr[:, :, 0] * 0.299 + arr[:, :, 1] * 0.587 + arr[:, :, 2] * 0.114).astype(
        np.float32
    )
    return out


def _mask(lum: F32) -> F32:
    """Perceptual mask: local ``(s^2 + 8^2)^(1/4)`` with mean square 1, capped at 3, times the
    global texture factor ``clip(sqrt(mean(s) / 8), 0.35, 1)``; ``s`` is the 7 x 7 local std."""
    mean = ndimage.uniform_filter(lum, _MASK_WINDOW, mode="reflect")
    sq = ndimage.uniform_filter(lum * lum, _MASK_WINDOW, mode="reflect")
    local_std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    local = np.sqrt(np.sqrt(local_std * local_std + _MASK_FLOOR**2))
    mask = local / math.sqrt(float(np.mean(local * local)))
    mask = np.minimum(mask, _MASK_CAP)
    texture = min(1.0, max(_TEXTURE_MIN, math.sqrt(float(np.mean(local_std)) / _TEXTURE_REF)))
    out: F32 = (mask * (texture / math.sqrt(float(np.mean(mask * mask))))).astype(np.float32)
    return out


def _box_response(freq: F64, size: int) -> F64:
    """Frequency response of a centred ``size``-tap moving average (odd ``size``)."""
    total = np.ones_like(freq)
    for k in range(1, size // 2 + 1):
        total = total + 2.0 * np.cos(2 * np.pi * k * freq)
    out: F64 = total / size
    return out


def _residual(lum: F32) -> F32:
    """High-pass (minus a 5 x 5 mean) and locally normalised (9 x 9 energy), clipped at 3."""
    high = lum - _box(lum, _HP_BOX)
    energy = _box(high * high, 9)
    out: F32 = np.clip(high / np.sqrt(energy + 1.0), -3.0, 3.0).astype(np.float32)
    return out


def _box(arr: F32, size: int, *, wrap: bool = False) -> F32:
    """``size`` x ``size`` moving average (reflected or wrapped edges).

    Uses OpenCV when it is installed (about 10x faster), else :mod:`scipy.ndimage`; the two
    agree to float rounding. Embedding never calls this (its output must not depend on
    what is installed).
    """
    cv2 = _cv2()
    if cv2 is not None and not wrap:
        out: F32 = cv2.blur(arr, (size, size), borderType=cv2.BORDER_REFLECT)
        return out
    res: F32 = ndimage.uniform_filter(arr, size, mode="wrap" if wrap else "reflect")
    return res


@functools.lru_cache(maxsize=1)
def _cv2() -> Any:
    """The ``cv2`` module, or ``None`` when OpenCV is not installed (imported on first use)."""
    try:
        return importlib.import_module("cv2")
    except ImportError:
        return None


def _fold(res: F32) -> F64:
    """Sum all TILE x TILE tiles (zero-padded at the right and bottom edges)."""
    h, w = res.shape
    ph, pw = -(-h // TILE) * TILE, -(-w // TILE) * TILE
    padded = np.zeros((ph, pw), dtype=np.float32)
    padded[:h, :w] = res
    out: F64 = padded.reshape(ph // TILE, TILE, pw // TILE, TILE).sum(axis=(0, 2), dtype=np.float64)
    return _whiten(out - out.mean())


def _whiten(folded: F64) -> F64:
    """Divide the folded tile's spectrum by its smoothed power to the ``_WHITEN_BETA``."""
    if _WHITEN_BETA == 0:
        return folded
    spec = sfft.rfft2(folded)
    power = ndimage.uniform_filter(np.abs(spec) ** 2, _WHITEN_WIDTH, mode="wrap")
    out: F64 = sfft.irfft2(spec / (power + 1e-9) ** _WHITEN_BETA, s=folded.shape)
    return out


def _lattice_points() -> tuple[F64, F64]:
    """Tile frequencies ``(ky, kx)`` scored by :func:`_period_candidates` (half plane, no DC)."""
    ky, kx = np.meshgrid(
        np.arange(-_LATTICE_K, _LATTICE_K + 1), np.arange(0, _LATTICE_K + 1), indexing="ij"
    )
    keep = ~((kx == 0) & (ky <= 0))
    return ky[keep].astype(np.float64), kx[keep].astype(np.float64)


def _lattice_score(white: F64, shape: tuple[int, int], py: F64, px: F64) -> F64:
    """Mean whitened power at the tile lattice for periods ``(py, px)`` (arrays, same shape).

    A mark repeating every ``p`` pixels puts its energy at frequencies ``k / p``; the whitened
    power there (power over its local mean) is about 1 without a mark.
    """
    h, w = shape
    ky, kx = _lattice_points()
    fy = (ky[None, :] * h / py[:, None]) % h
    fx = kx[None, :] * w / px[:, None]
    valid = fx <= white.shape[1] - 2
    fx = np.where(valid, fx, 0.0)
    y0 = np.floor(fy).astype(np.intp)
    x0 = np.floor(fx).astype(np.intp)
    ay, ax = fy - y0, fx - x0
    y1 = (y0 + 1) % h
    val = (white[y0, x0] * (1 - ay) * (1 - ax) + white[y1, x0] * ay * (1 - ax)
           + white[y0, x0 + 1] * (1 - ay) * ax + white[y1, x0 + 1] * ay * ax)
    out: F64 = np.where(valid, val, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    return out


def _period_candidates(res: F32) -> list[tuple[float, float]]:
    """Scale hypotheses as ``(period_x, period_y)`` in pixels: unscaled first, then up to
    :data:`SCALE_CANDIDATES` lattice peaks with a robust z of at least 4.

    The periods ``p`` in ``[0.4, 1.6] * TILE`` (step 0.5 px) are scored by
    :func:`_lattice_score`; each peak is then refined per axis on a 0.5% grid within 2%.
    """
    h, w = res.shape
    hyps: list[tuple[float, float]] = [(float(TILE), float(TILE))]
    top = min(_SCALE_RANGE[1] * TILE, 2.0 * min(h, w) / 3.0)
    periods = np.arange(_SCALE_RANGE[0] * TILE, top + 1e-9, _PERIOD_STEP)
    if periods.size < 8:
        return hyps
    power = np.abs(sfft.rfft2(res)) ** 2
    white = power / (_box(power.astype(np.float32), 9, wrap=True) + 1e-6)
    score = _lattice_score(white, (h, w), periods, periods)
    med = float(np.median(score))
    mad = max(float(np.median(np.abs(score - med))) * 1.4826, 1e-12)
    z = (score - med) / mad
    for i in np.argsort(z)[::-1]:
        if z[i] < _LATTICE_MIN_Z or len(hyps) > SCALE_CANDIDATES:
            break
        p = float(periods[i])
        if any(abs(p - a) <= 1.0 for a, _ in hyps[1:]) or abs(p / TILE - 1.0) < 0.01:
            continue
        grid = p * (1.0 + np.arange(-0.02, 0.02 + 1e-9, 0.005))
        gy, gx = np.meshgrid(grid, grid, indexing="ij")
        local = _lattice_score(white, (h, w), gy.ravel(), gx.ravel())
        j = int(np.argmax(local))
        hyps.append((float(gx.ravel()[j]), float(gy.ravel()[j])))
    return hyps


def _sidak(z: float, m: int) -> float:
    """``1 - (1 - Q(z)) ** m`` computed stably; ``Q`` is the standard normal upper tail."""
    q = float(special.ndtr(-z))
    if q >= 1.0:
        return 1.0
    return float(-math.expm1(m * math.log1p(-q)))

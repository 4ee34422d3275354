r"""Image embedders for clustering and nearest neighbours: CLIP when available, and an offline
fallback that needs no model.

=====================  ===========================================================================
name                   embedder
=====================  ===========================================================================
``colour-hog``         :class:`ColourHogEmbedder` — no model, no extra, deterministic. The fallback.
``clip``               :class:`CLIPImageEmbedder` with ``openai/clip-vit-base-patch32`` (extra
                       ``hf``); ``clip:MODEL`` picks another checkpoint; ``tiny://clip`` is the
                       randomly initialised test model.
``auto``               ``clip`` when torch and transformers are installed **and** the checkpoint is
                       already in the local Hugging Face cache (nothing is downloaded); otherwise
                       ``colour-hog``.
=====================  ===========================================================================

The fallback, :class:`ColourHogEmbedder`, concatenates three blocks, each L2-normalised and weighted
by :math:`1/\sqrt 3` so the whole vector has unit length:

1. **colour**: a joint CIELAB histogram (4 L* × 6 a* × 6 b* bins over L* ∈ [0, 100],
   a*, b* ∈ [−80, 80], values outside clipped into the end bins) of the image resized to
   64 × 64, square-rooted (Hellinger), so cosine similarity is the Bhattacharyya coefficient;
2. **shape**: a HOG of the 64 × 64 grey image (8 × 8-pixel cells, 9 unsigned orientation bins,
   magnitude-weighted, each cell L2-normalised): 576 values;
3. **layout**: the 16 × 16 grey image, mean removed: 256 values.

So 144 + 576 + 256 = 976 dimensions. It groups images by palette, composition and coarse shape —
not by identity, age or gender; clusters of it say "these look alike", nothing more.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image

from fairframe.errors import ConfigError
from fairframe.images import to_rgb
from fairframe.types import JSONValue

__all__ = [
    "DEFAULT_CLIP_MODEL",
    "CLIPImageEmbedder",
    "ColourHogEmbedder",
    "ImageEmbedder",
    "get_embedder",
]

FloatArray = npt.NDArray[np.float32]

#: The checkpoint ``"clip"`` and ``"auto"`` use.
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"


@runtime_checkable
class ImageEmbedder(Protocol):
    """Turns images into unit-length vectors; similar images get a high dot product."""

    name: str

    def identity(self) -> Mapping[str, JSONValue]:
        """Everything that changes the vectors."""
        ...

    def embed(self, images: Sequence[Image.Image]) -> FloatArray:
        """``(len(images), dim)`` float32, each row of unit L2 norm."""
        ...


def _unit_rows(x: npt.NDArray[Any]) -> FloatArray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.where(norm > 0, norm, 1.0), dtype=np.float32)


class ColourHogEmbedder:
    """The offline fallback: CIELAB colour histogram + grey HOG + 16 × 16 grey layout (see the
    module docstring for the exact definition). Needs no model and no extra."""

    name = "colour-hog"
    side = 64
    bins = (4, 6, 6)
    cell = 8
    orientations = 9
    layout = 16

    def identity(self) -> Mapping[str, JSONValue]:
        return {"backend": "colour-hog", "version": 1, "side": self.side,
                "lab_bins": list(self.bins), "hog_cell": self.cell,
                "orientations": self.orientations, "layout": self.layout}

    @property
    def dim(self) -> int:
        cells = (self.side // self.cell) ** 2
        return math.prod(self.bins) + cells * self.orientations + self.layout ** 2

    def _colour(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        from fairframe.measure.colour import srgb_to_lab

        lab = srgb_to_lab(rgb).reshape(-1, 3)
        nl, na, nb = self.bins
        li = np.clip((lab[:, 0] / 100.0 * nl).astype(int), 0, nl - 1)
        ai = np.clip(((lab[:, 1] + 80.0) / 160.0 * na).astype(int), 0, na - 1)
        bi = np.clip(((lab[:, 2] + 80.0) / 160.0 * nb).astype(int), 0, nb - 1)
        hist = np.bincount((li * na + ai) * nb + bi, minlength=nl * na * nb).astype(np.float64)
        return np.asarray(np.sqrt(hist / max(hist.sum(), 1.0)), dtype=np.float64)

    def _hog(self, grey: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        gx = np.zeros_like(grey)
        gy = np.zeros_like(grey)
        gx[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
        gy[1:-1, :] = grey[2:, :] - grey[:-2, :]
        mag = np.hypot(gx, gy)
        ang = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned, [0, pi)
        o = self.orientations
        idx = np.minimum((ang / np.pi * o).astype(int), o - 1)
        c = self.cell
        n = self.side // c
        cells = (np.arange(self.side) // c)
        cell_id = cells[:, None] * n + cells[None, :]
        hist = np.bincount((cell_id * o + idx).ravel(), weights=mag.ravel(),
                           minlength=n * n * o).reshape(n * n, o)
        return _unit_rows(hist).astype(np.float64).ravel()

    def _one(self, image: Image.Image) -> npt.NDArray[np.float64]:
        small = to_rgb(image).resize((self.side, self.side), Image.Resampling.BILINEAR)
        rgb = np.asarray(small, dtype=np.uint8)
        grey_img = small.convert("L")
        grey = np.asarray(grey_img, dtype=np.float64) / 255.0
        lay = np.asarray(grey_img.resize((self.layout, self.layout), Image.Resampling.BOX),
                         dtype=np.float64).ravel() / 255.0
        lay = lay - lay.mean()
        blocks = [self._colour(rgb), self._hog(grey), lay]
        return np.concatenate([_unit_rows(b).astype(np.float64) for b in blocks]) / math.sqrt(3)

    def embed(self, images: Sequence[Image.Image]) -> FloatArray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit_rows(np.stack([self._one(im) for im in images]))


class CLIPImageEmbedder:
    """CLIP image features (``get_image_features``), L2-normalised; extra ``hf``.

    Parameters
    ----------
    model:
        A hub id, a local folder or ``tiny://clip``.
    revision:
        Pin a hub commit (recorded in :meth:`identity`).
    device:
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ...
    dtype:
        ``"float32"``, ``"float16"`` or ``"bfloat16"``.
    batch_size:
        Images per forward pass.
    """

    name = "clip"

    def __init__(self, *, model: str = DEFAULT_CLIP_MODEL, revision: str | None = None,
                 device: str = "auto", dtype: str = "float32", batch_size: int = 32) -> None:
        from fairframe.backends._hf import HFModelOptions, LazyModel, check_common_options

        check_common_options(model, dtype, batch_size, who="CLIP embedder")
        self._opts = HFModelOptions(model=model, revision=revision, device=device, dtype=dtype,
                                    batch_size=batch_size)
        self.model = model
        self.batch_size = batch_size
        self._loaded: LazyModel[tuple[Any, Any, str]] = LazyModel(self._load)

    def identity(self) -> Mapping[str, JSONValue]:
        return self._opts.base_identity("clip-image")

    def _load(self) -> tuple[Any, Any, str]:
        from fairframe._deps import require
        from fairframe.backends._hf import dtype_kwarg, loading_model

        purpose = "the CLIP image embedder"
        require("torch", purpose)
        transformers = require("transformers", purpose)
        device, torch_dtype, source = self._opts._load_target()
        kwargs: dict[str, Any] = {"revision": self._opts.revision} if self._opts.revision else {}
        with loading_model(self.model):
            model = transformers.CLIPModel.from_pretrained(
                source, **kwargs, **{dtype_kwarg(transformers): torch_dtype})
            processor = transformers.CLIPImageProcessor.from_pretrained(source, **kwargs)
        model = model.to(device)
        model.eval()
        return model, processor, device

    def embed(self, images: Sequence[Image.Image]) -> FloatArray:
        from fairframe._deps import require
        from fairframe.backends._hf import model_failures

        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        torch = require("torch", "the CLIP image embedder")
        model, processor, device = self._loaded.get()
        rows = []
        with model_failures("CLIP embedder", self.model):
            for start in range(0, len(images), self.batch_size):
                batch = [to_rgb(im) for im in images[start:start + self.batch_size]]
                pixels = processor(images=batch, return_tensors="pt")["pixel_values"]
                with torch.inference_mode():
                    out = model.get_image_features(pixel_values=pixels.to(device, model.dtype))
                feats = out if isinstance(out, torch.Tensor) else (
                    getattr(out, "image_embeds", None) or out.pooler_output)
                rows.append(feats.float().cpu().numpy())
        return _unit_rows(np.concatenate(rows))


def _clip_cached(model: str) -> bool:
    """True when torch and transformers import and ``model`` needs no download."""
    if any(importlib.util.find_spec(m) is None for m in ("torch", "transformers")):
        return False
    if model.startswith("tiny://"):
        return True
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    hit = try_to_load_from_cache(model, "config.json")
    return isinstance(hit, str)


def get_embedder(spec: str | ImageEmbedder = "auto") -> ImageEmbedder:
    """The embedder named by ``spec`` (see the module docstring), or ``spec`` itself.

    Raises
    ------
    ConfigError
        ``spec`` names no embedder.
    fairframe.errors.MissingDependencyError
        ``clip`` was asked for without torch / transformers (raised on first use).
    """
    if not isinstance(spec, str):
        if isinstance(spec, ImageEmbedder):
            return spec
        raise ConfigError(f"embedder must be a name or an ImageEmbedder, got {spec!r}")
    name = spec.strip()
    if name in ("colour-hog", "color-hog", "fallback"):
        return ColourHogEmbedder()
    if name == "auto":
        return CLIPImageEmbedder() if _clip_cached(DEFAULT_CLIP_MODEL) else ColourHogEmbedder()
    if name == "clip":
        return CLIPImageEmbedder()
    if name.startswith("clip:") and name[5:].strip():
        return CLIPImageEmbedder(model=name[5:].strip())
    if name.startswith("tiny://"):
        return CLIPImageEmbedder(model=name)
    raise ConfigError(
        f"unknown embedder {spec!r}; use 'auto', 'colour-hog', 'clip', 'clip:MODEL_ID_OR_FOLDER' "
        "or 'tiny://clip'"
    )

"""Shared helpers for the torch-based backends: model references, devices, dtypes, lazy loading.

Only the backends that need torch import this module, and it imports torch lazily itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from fairframe._deps import require
from fairframe.errors import ConfigError, ModelLoadError

__all__ = [
    "DTYPES",
    "LazyModel",
    "model_revision",
    "quiet_hub_progress",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
    "wrap_load_error",
]

#: Accepted dtype names → torch attribute names.
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}

TINY_SCHEME = "tiny://"


def resolve_model(model: str) -> str:
    """Turn a model reference into something ``from_pretrained`` accepts.

    ``tiny://NAME`` builds (once) a tiny randomly initialised model from a config shipped in
    :mod:`fairframe.testing.tiny` and returns its local folder; hub ids and local paths pass
    through.
    """
    if model.startswith(TINY_SCHEME):
        from fairframe.testing.tiny import tiny_model_path

        return str(tiny_model_path(model[len(TINY_SCHEME) :]))
    return model


def model_revision(model: str, revision: str | None) -> str:
    """The revision recorded in identities: the given one, or the local folder's content hash."""
    if revision:
        return revision
    path = Path(resolve_model(model)) if model.startswith(TINY_SCHEME) else Path(model)
    if path.is_dir():
        from fairframe.store.keys import hash_folder

        return "local-sha256:" + hash_folder(path)[:16]
    return "main"


def resolve_device(device: str) -> str:
    """``"auto"`` picks CUDA, then Apple MPS, then CPU; anything else is checked and returned."""
    torch = require("torch", "torch-based backends")
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} requested but CUDA is not available; use 'cpu' or 'auto'"
        )
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """Map a dtype name to ``torch.dtype``; half precision on CPU is refused with advice."""
    torch = require("torch", "torch-based backends")
    name = DTYPES.get(dtype)
    if name is None:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(DTYPES))}")
    if name == "float16" and device == "cpu":
        raise ConfigError("dtype float16 is not supported on CPU; use float32 or bfloat16")
    return getattr(torch, name)


def wrap_load_error(model: str, exc: BaseException) -> ModelLoadError:
    """A one-line :class:`ModelLoadError` for a failed ``from_pretrained``."""
    # hub ids are "name" or "org/name"; anything else is a local folder
    looks_local = model.startswith((".", "/", "~")) or model.count("/") >= 2
    if looks_local and not Path(model).expanduser().exists():
        return ModelLoadError(
            f"model folder {model} does not exist; check the path, or give a hub id "
            "such as 'stabilityai/sd-turbo'"
        )
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = (
        "the hub is offline (HF_HUB_OFFLINE=1): download the model first or pass a local folder"
        if offline and not Path(model).exists()
        else "check the model id or folder, and that it holds a complete checkpoint"
    )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(f"cannot load model {model!r}: {first[:300]}; {hint}")


T = TypeVar("T")


class LazyModel(Generic[T]):
    """Loads a model on first :meth:`get`, once, thread-safely."""

    def __init__(self, loader: Callable[[], T]) -> None:
        self._loader = loader
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._loader()
        return self._value

    @property
    def loaded(self) -> bool:
        return self._value is not None


def quiet_hub_progress() -> None:
    """Make diffusers honour ``HF_HUB_DISABLE_PROGRESS_BARS`` as transformers already does.

    The CLI sets that variable (unless the user did) so that library loading bars do not break
    Fairframe's own progress bars.
    """
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() in ("1", "true", "yes"):
        try:
            from diffusers.utils import logging as diffusers_logging
        except ImportError:
            return
        diffusers_logging.disable_progress_bar()

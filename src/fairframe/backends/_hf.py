"""Shared helpers for the torch-based backends: model references, devices, dtypes, lazy loading.

Only the backends that need torch import this module, and it imports torch lazily itself.

:class:`HFModelOptions` holds what every such backend is configured with (model, revision, device,
dtype and, for batched ones, batch size) and the start of its identity;
:func:`check_common_options` validates those options; :func:`loading_model` turns a failed
``from_pretrained`` into a one-line :class:`~fairframe.errors.ModelLoadError`, and
:func:`model_failures` any other model failure into a one-line
:class:`~fairframe.errors.BackendError`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar

from fairframe._deps import require
from fairframe.errors import BackendError, ConfigError, FairframeError, ModelLoadError
from fairframe.types import JSONValue

__all__ = [
    "DTYPES",
    "HFModelOptions",
    "LazyModel",
    "check_common_options",
    "dtype_kwarg",
    "first_line",
    "loading_model",
    "model_failures",
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
    return ModelLoadError(f"cannot load model {model!r}: {first_line(exc)}; {hint}")


@contextmanager
def loading_model(model: str) -> Iterator[None]:
    """Run ``from_pretrained`` calls; any failure but a Fairframe error becomes
    :func:`wrap_load_error`'s one-line :class:`ModelLoadError` for ``model``."""
    try:
        yield
    except FairframeError:
        raise
    except Exception as exc:
        raise wrap_load_error(model, exc) from exc


def first_line(exc: BaseException, empty: str | None = None) -> str:
    """The first line of ``str(exc)`` (at most 300 characters); when the message is blank,
    ``empty``, or the exception's class name when ``empty`` is ``None``."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0][:300]
    return type(exc).__name__ if empty is None else empty


@contextmanager
def model_failures(who: str, model: str) -> Iterator[None]:
    """Run model code; any failure but a Fairframe error becomes a one-line :class:`BackendError`,
    ``"{who} {model!r} failed: {ExcType}: {first line of the message}"``."""
    try:
        yield
    except FairframeError:
        raise
    except Exception as exc:
        raise BackendError(
            f"{who} {model!r} failed: {type(exc).__name__}: {first_line(exc, '')}"
        ) from exc


def place_model(model: Any, device: str, what: str) -> Any:
    """``model.to(device)`` in eval mode; a failure is a one-line :class:`BackendError` naming
    ``what`` (e.g. ``"CLIP model 'openai/clip-vit-base-patch32'"``) and the device."""
    try:
        model = model.to(device)
        model.eval()
    except Exception as exc:
        raise BackendError(f"cannot move {what} to {device}: {first_line(exc)}") from exc
    return model


def dtype_kwarg(library: Any) -> str:
    """Name of the precision argument of ``library``'s ``from_pretrained``: ``dtype`` or
    ``torch_dtype``.

    transformers takes ``dtype`` from 4.56. diffusers deprecated ``torch_dtype`` in favour of
    ``dtype`` in the change that added ``utils.deprecation_utils._resolve_dtype``; older versions
    only understand ``torch_dtype``.
    """
    if getattr(library, "__name__", "") == "diffusers":
        utils = getattr(getattr(library, "utils", None), "deprecation_utils", None)
        return "dtype" if hasattr(utils, "_resolve_dtype") else "torch_dtype"
    try:
        major, minor = (int(p) for p in str(library.__version__).split(".")[:2])
    except ValueError:
        return "dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def check_common_options(
    model: object,
    dtype: str,
    batch_size: int | None = None,
    *,
    who: str | None = None,
    missing_model: str = "",
) -> None:
    """Validate the options every torch backend takes, in this order: model, dtype, batch size.

    Two message styles are kept, as users and tests know them:

    * ``who=None``: an empty ``model`` raises ``missing_model``; the dtype message lists the
      names sorted; ``batch_size`` must be ``>= 1``.
    * ``who="CLIP labeler"`` (say): every message starts with ``"{who}: "``, a blank ``model`` or
      a non-string is refused too, the dtype names are listed in :data:`DTYPES` order, and
      ``batch_size`` must be an ``int`` (not a ``bool``).

    ``batch_size=None`` skips the batch-size check (backends without batches).

    Raises
    ------
    ConfigError
        An option is invalid.
    """
    if who is None:
        if not model:
            raise ConfigError(missing_model)
        if dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(DTYPES))}")
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        return
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{who}: 'model' must be a hub id or a local folder")
    if dtype not in DTYPES:
        raise ConfigError(f"{who}: unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ConfigError(f"{who}: batch_size must be an integer >= 1, got {batch_size!r}")


class HFModelOptions:
    """What every torch backend is configured with, and the start of its identity.

    Subclasses validate with :func:`check_common_options`, then call this ``__init__``, which
    stores ``model``, ``revision``, ``device``, ``dtype`` and, when ``batch_size`` is given,
    ``batch_size`` and ``max_batch_size``.
    """

    def __init__(
        self,
        *,
        model: str,
        revision: str | None,
        device: str,
        dtype: str,
        batch_size: int | None = None,
    ) -> None:
        self.model = model
        self.revision = revision
        self.device = device
        self.dtype = dtype
        if batch_size is not None:
            self.batch_size = batch_size
            #: Largest number of inputs a call should receive at once.
            self.max_batch_size = batch_size

    @cached_property
    def _revision(self) -> str:
        """The revision recorded in identities (computed once: it may hash a folder)."""
        return model_revision(self.model, self.revision)

    def base_identity(self, backend: str) -> dict[str, JSONValue]:
        """``backend``, ``model``, ``revision`` and the canonical ``dtype``, in that order."""
        return {
            "backend": backend,
            "model": self.model,
            "revision": self._revision,
            "dtype": DTYPES[self.dtype],
        }

    def _load_target(self) -> tuple[str, Any, str]:
        """``(device, torch dtype, source)`` to load on: the resolved device, the dtype for it,
        and what ``from_pretrained`` reads (``tiny://`` models are built first)."""
        device = resolve_device(self.device)
        return device, resolve_dtype(self.dtype, device), resolve_model(self.model)


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

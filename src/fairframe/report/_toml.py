"""Write the run's recorded configuration back as TOML, so the report can say how to rerun it.

Only what audit configs hold is supported: tables, strings, numbers, booleans and arrays of those.
``null`` values are left out (TOML has no null; a missing key takes the same default).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["to_toml"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        items = [_value(x) for x in v if x is not None]
        return "[" + ", ".join(i for i in items if i is not None) + "]"
    if isinstance(v, Mapping):
        inner = [f"{_key(str(k))} = {s}" for k, x in v.items() if (s := _value(x)) is not None]
        return "{" + ", ".join(inner) + "}"
    return None


def _table(path: list[str], data: Mapping[str, Any], out: list[str]) -> None:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping) and v is not None]
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        out.append("")
        out.append("[" + ".".join(_key(p) for p in path) + "]")
    for k, v in scalars:
        s = _value(v)
        if s is not None:
            out.append(f"{_key(str(k))} = {s}")
    for k, v in tables:
        _table([*path, str(k)], v, out)


def to_toml(config: Mapping[str, Any]) -> str:
    """``config`` (a JSON object) as a TOML document."""
    out: list[str] = []
    _table([], config, out)
    return "\n".join(out).strip() + "\n"

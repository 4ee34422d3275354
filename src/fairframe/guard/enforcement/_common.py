"""Small helpers shared by the enforcement modules: the clock type, errors, input checks."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from fairframe.errors import ConfigError, NotFoundError, StateError

__all__ = [
    "GENESIS_HASH",
    "Clock",
    "check_limit",
    "check_name",
    "check_positive",
    "check_sha256",
    "check_text",
    "dump_scores",
    "invalid_state",
    "load_scores",
    "not_found",
    "sha256_text",
]

#: A clock: returns the current time as Unix seconds (``time.time`` by default). Every
#: enforcement function takes its time from one, so tests can freeze or advance it.
Clock = Callable[[], float]

#: ``prev_hash`` of the first decision-log entry (and the chain head of an empty log).
GENESIS_HASH = "0" * 64

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def not_found(what: str, ident: object, fix: str) -> NotFoundError:
    """The error for an id that names nothing."""
    return NotFoundError(f"unknown {what} {ident!r}; {fix}")


def invalid_state(message: str) -> StateError:
    """The error for a transition the current state does not allow."""
    return StateError(message)


def check_name(value: str, what: str, *, max_len: int = 200, allow_empty: bool = False) -> str:
    """Strip ``value`` and check it is a one-line string of at most ``max_len`` characters."""
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value and not allow_empty:
        raise ConfigError(f"{what} must not be empty")
    if len(value) > max_len:
        raise ConfigError(f"{what} is {len(value)} characters long; at most {max_len} allowed")
    if _CONTROL.search(value):
        raise ConfigError(f"{what} must be one line without control characters")
    return value


def check_text(value: str, what: str, *, max_len: int = 4000) -> str:
    """Free text (newlines allowed) of at most ``max_len`` characters."""
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise ConfigError(f"{what} is {len(value)} characters long; at most {max_len} allowed")
    if "\x00" in value:
        raise ConfigError(f"{what} contains a NUL character (U+0000); remove it")
    return value


def storable(text: str | None) -> str | None:
    """``text`` as every store can keep it: NUL characters (which PostgreSQL text cannot hold)
    become U+FFFD. For the prompt text of the decision log, whose ``prompt_sha256`` is still
    that of the prompt as sent."""
    if text is None or "\x00" not in text:
        return text
    return text.replace("\x00", "\ufffd")


def check_sha256(value: str | None, what: str) -> str | None:
    """``None`` or a lower-case 64-digit hex SHA-256 (upper case is folded)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value.strip().lower()):
        raise ConfigError(f"{what} must be a SHA-256 as 64 hex digits, got {value!r}")
    return value.strip().lower()


def check_limit(limit: int) -> int:
    """A page size between 1 and 1000."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise ConfigError(f"limit must be an integer between 1 and 1000, got {limit!r}")
    return limit


def check_positive(value: float, what: str) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    if value <= 0:
        raise ConfigError(f"{what} must be > 0, got {value!r}")
    return float(value)


def sha256_text(text: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``text``, as 64 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dump_scores(scores: Mapping[str, float]) -> str:
    """Category scores as canonical JSON text (sorted keys, no spaces)."""
    return json.dumps(
        {str(k): float(v) for k, v in scores.items()},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )


def load_scores(text: str | None) -> dict[str, float]:
    """Inverse of :func:`dump_scores` (empty for ``None``)."""
    if not text:
        return {}
    data: Any = json.loads(text)
    return {str(k): float(v) for k, v in data.items()}

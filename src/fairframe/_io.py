"""Crash-safe file writes shared by the audit, the report, the explorer and the cache."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_with"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_with(path: Path, write: Callable[[str], object], *, fsync: bool = False) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    A crash leaves either the old file or the new one, never a half-written file. The new file
    gets the usual permissions (``0o666`` minus the umask), not ``mkstemp``'s private ``0o600``.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str, *, fsync: bool = False) -> None:
    """Write ``data`` (text is UTF-8 with ``\\n`` newlines) to ``path`` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(raw), fsync=fsync)

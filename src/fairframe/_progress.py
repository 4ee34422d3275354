"""Progress reporting, decoupled from any UI: the library reports stages, the CLI draws bars."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

__all__ = ["NullProgress", "Progress", "Stage"]


class Stage(Protocol):
    """One stage's progress handle."""

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units done."""
        ...


class Progress(Protocol):
    """Opens a stage with a known number of units."""

    def stage(self, name: str, total: int) -> AbstractContextManager[Stage]:
        """Context manager yielding a :class:`Stage`."""
        ...


class _NullStage:
    def advance(self, n: int = 1) -> None:
        return None

    def __enter__(self) -> _NullStage:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class NullProgress:
    """Reports nothing."""

    def stage(self, name: str, total: int) -> _NullStage:
        return _NullStage()

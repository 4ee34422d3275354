"""Shared CLI plumbing: error handling, consoles and progress bars."""

from __future__ import annotations

import errno
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fairframe.errors import FairframeError, InputDataError, StoreError

__all__ = [
    "RichProgress",
    "err_console",
    "handle_errors",
    "out_console",
    "print_json",
    "read_input_file",
]

out_console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Fairframe errors into one red line and the error's exit code; Ctrl-C into 130."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FairframeError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted[/]: finished work is saved (in the cache or the output file); "
                "rerun the same command to resume",
                highlight=False, soft_wrap=True,
            )
            raise typer.Exit(130) from None
        except OSError as exc:
            if exc.errno not in _FILESYSTEM_ERRNOS:
                raise
            # a file or folder the run could not read or write (permissions, a file where a
            # folder should be, a full disk): one line, the cache is left consistent
            where = f" {exc.filename}" if exc.filename else ""
            hint = _ERRNO_HINTS.get(exc.errno or 0, "check that the path is a writable folder or "
                                    "file and the disk has room")
            err_console.print(
                f"[bold red]error:[/] cannot use{escape(where)}: {escape(exc.strerror or str(exc))}"
                f"; {hint} (finished work is saved; rerun to resume)", highlight=False,
                soft_wrap=True)
            raise typer.Exit(StoreError.exit_code) from None

    return wrapper


_ERRNO_HINTS = {
    errno.ENOENT: "check the path (a file or folder it names does not exist)",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or use fewer workers",
    errno.ENOSPC: "the disk is full: free space or move the cache (cache_dir)",
    errno.EDQUOT: "the disk quota is used up: free space or move the cache (cache_dir)",
    errno.ENAMETOOLONG: "the path is too long: use a shorter folder name",
}

_FILESYSTEM_ERRNOS = frozenset({
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EISDIR,
    errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG, errno.EMFILE,
})


def read_input_file(path: Path, what: str) -> bytes:
    """The bytes of an input file; :class:`InputDataError` naming ``what`` when it is missing or
    unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputDataError(f"{what} {path} does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise InputDataError(f"{what} {path} is a folder; give a file") from exc
    except OSError as exc:
        raise InputDataError(f"cannot read {what} {path}: {exc.strerror}") from exc


def print_json(data: Any) -> None:
    """Print JSON to stdout, plain (no colour codes), so it can be piped."""
    typer.echo(json.dumps(data, indent=2, default=str))


class _Stage:
    def __init__(self, progress: Progress, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)


class RichProgress:
    """Progress bars on stderr, one per stage; silent when ``enabled`` is false."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=not enabled,
        )

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def stage(self, name: str, total: int) -> Iterator[_Stage]:
        task = self._progress.add_task(name, total=total)
        try:
            yield _Stage(self._progress, task)
        finally:
            self._progress.update(task, completed=self._progress.tasks[task].completed)

"""``fairframe cache ...``: inspect and repair a cache folder."""

from __future__ import annotations

from pathlib import Path

import typer

from fairframe.cli._common import handle_errors, out_console, print_json
from fairframe.errors import ConfigError
from fairframe.store import Store

cache_app = typer.Typer(help="Inspect and repair the cache.", no_args_is_help=True)


def _open(path: Path) -> Store:
    if not (path / "cache.sqlite").exists():
        raise ConfigError(f"{path} is not a Fairframe cache (no cache.sqlite); check the path")
    return Store(path)


@cache_app.command("info")
@handle_errors
def info_command(
    path: Path = typer.Argument(..., help="Cache folder."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Count the cached images, labels and LLM replies."""
    with _open(path) as store:
        counts = store.counts()
    if as_json:
        print_json(counts)
    else:
        out_console.print(", ".join(f"{k}: {v}" for k, v in counts.items()))


@cache_app.command("verify")
@handle_errors
def verify_command(
    path: Path = typer.Argument(..., help="Cache folder."),
    repair: bool = typer.Option(
        False, "--repair", help="Drop corrupt entries (regenerated later)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Check every cached image against its hash; exit 1 if any is corrupt and not repaired."""
    with _open(path) as store:
        report = store.verify(repair=repair)
    if as_json:
        print_json({"images_checked": report.images_checked, "corrupt": list(report.corrupt),
                    "repaired": report.repaired})
    else:
        out_console.print(
            f"checked {report.images_checked} images: {len(report.corrupt)} corrupt"
            + (", dropped (the next run regenerates them)" if report.repaired else "")
        )
    if report.corrupt and not report.repaired:
        raise typer.Exit(1)

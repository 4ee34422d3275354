"""``fairframe doctor`` and ``fairframe backends``."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from fairframe.backends import GENERATORS, LABELERS, LLMS
from fairframe.cli._common import RichProgress, err_console, handle_errors, out_console, print_json
from fairframe.doctor import backend_status, library_versions, run_selftest


@handle_errors
def doctor_command(
    skip_selftest: bool = typer.Option(False, "--skip-selftest", help="Only check the install."),
    fake: bool = typer.Option(
        False, "--fake", help="Self-test with fake backends instead of tiny models."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Report usable extras and backends, then run an offline end-to-end audit on tiny models."""
    statuses = backend_status()
    versions = library_versions()
    result = None
    if not skip_selftest:
        use_models = False if fake else None
        with RichProgress(enabled=not as_json) as progress:
            result = run_selftest(use_models=use_models, progress=progress)
    if as_json:
        print_json({
            "libraries": versions,
            "backends": [s.__dict__ for s in statuses],
            "selftest": None if result is None else result.__dict__,
        })
    else:
        lt = Table(title="libraries")
        lt.add_column("library")
        lt.add_column("version")
        for k, v in versions.items():
            lt.add_row(k, v if v != "missing" else "[yellow]missing[/]")
        out_console.print(lt)
        bt = Table(title="backends")
        for col in ("kind", "name", "usable", "fix"):
            bt.add_column(col)
        for s in statuses:
            fix = "" if s.usable else f'pip install "fairframe[{s.extra}]" -c constraints.txt'
            bt.add_row(s.kind, s.name, "[green]yes[/]" if s.usable else "[red]no[/]", fix)
        out_console.print(bt)
        if result is not None:
            if result.ok:
                out_console.print(
                    f"[green]self-test passed[/] ({result.backends}, {result.seconds:.1f} s): "
                    f"{result.first_run['images_generated']} images and "
                    f"{result.first_run['labels_computed']} labels computed, then all "
                    "reused from the cache on the second run"
                )
            else:
                err_console.print(
                    f"[red]self-test failed[/] ({result.backends}): {escape(result.problem or '')}"
                )
    if result is not None and not result.ok:
        raise typer.Exit(1)


@handle_errors
def backends_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """List every generator, labeler and LLM name, built-in and plug-in."""
    data = {"generators": GENERATORS.names(), "labelers": LABELERS.names(), "llms": LLMS.names()}
    if as_json:
        print_json(data)
        return
    for kind, names in data.items():
        out_console.print(f"[bold]{kind}[/]: {', '.join(names)}")

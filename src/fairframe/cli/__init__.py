"""The ``fairframe`` command line: a thin shell over the library API.

Every command parses its input, calls the same public functions a Python user would, and prints the
result. Errors print one line and exit non-zero (2 for bad input or config, 3 for a missing extra, 4
for a backend failure, 5 for a cache problem, 130 when interrupted).
"""

from __future__ import annotations

import os

import typer

from fairframe._version import __version__
from fairframe.cli.audit import audit_app
from fairframe.cli.cache import cache_app
from fairframe.cli.doctor import backends_command, doctor_command
from fairframe.cli.explore import explore_command
from fairframe.cli.guard import guard_app
from fairframe.cli.measure import measure_app
from fairframe.cli.provenance import provenance_app
from fairframe.cli.redteam import redteam_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="fairframe",
    help="Audit, explain, mitigate and guard text-to-image models for bias and unsafe content.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(audit_app, name="audit")
app.add_typer(cache_app, name="cache")
app.add_typer(measure_app, name="measure")
app.add_typer(guard_app, name="guard")
app.add_typer(redteam_app, name="redteam")
app.add_typer(provenance_app, name="provenance")
app.command("doctor")(doctor_command)
app.command("backends")(backends_command)
app.command("explore")(explore_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fairframe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Fairframe: audit, explain, mitigate and guard text-to-image models."""


def main() -> None:
    """Console-script entry point.

    Unless the user set them, library loading bars and advisory log lines are turned off so they
    do not break Fairframe's own progress bars; set ``TRANSFORMERS_VERBOSITY=info`` (or
    ``DIFFUSERS_VERBOSITY``, ``HF_HUB_DISABLE_PROGRESS_BARS=0``) to see them again.
    """
    for key, value in (("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_VERBOSITY", "error"),
                       ("DIFFUSERS_VERBOSITY", "error")):
        os.environ.setdefault(key, value)
    app()

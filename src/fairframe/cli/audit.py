"""``fairframe audit ...``: run an open-set bias audit."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from fairframe.audit.pipeline import plan_audit, run_audit
from fairframe.cli._common import RichProgress, err_console, handle_errors, out_console, print_json
from fairframe.config import load_config

audit_app = typer.Typer(help="Open-set bias audits of text-to-image models.", no_args_is_help=True)


@audit_app.command("run")
@handle_errors
def run_command(
    config: Path = typer.Argument(..., help="Audit config file (.toml, .yaml)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the results."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan (captions, biases, images, cache hits) and stop."
    ),
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="Reuse cached images, labels and LLM replies."
    ),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Override the cache folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan or summary as JSON."),
) -> None:
    """Propose biases, generate images, label them and score: writes OUT/manifest.json,
    OUT/answers.parquet and OUT/scores.json. Resumes from the cache by default."""
    cfg = load_config(config)
    if dry_run:
        plan = plan_audit(cfg, cache_dir=cache_dir)
        summary = plan.summary()
        if as_json:
            print_json(summary)
            return
        _print_plan(summary)
        return
    with RichProgress(enabled=not quiet) as progress:
        result = run_audit(cfg, out, cache_dir=cache_dir, resume=resume, progress=progress)
    if as_json:
        print_json({"out": str(result.out_dir), "counts": result.counts,
                    "timings_s": result.manifest["timings_s"]})
        return
    _print_summary(result.scores, result.counts, result.out_dir)


def _print_plan(summary: dict[str, object]) -> None:
    table = Table(title="audit plan", show_header=False)
    for key in ("captions", "proposals_pending", "images_per_caption", "images_needed",
                "images_cached", "images_to_generate", "labels_needed", "labels_cached",
                "labels_to_compute"):
        table.add_row(key, str(summary[key]))
    out_console.print(table)
    biases = summary["biases"]
    assert isinstance(biases, list)
    bt = Table(title=f"{len(biases)} biases")
    bt.add_column("bias")
    bt.add_column("classes")
    bt.add_column("captions", justify="right")
    for b in biases:
        bt.add_row(escape(b["bias_id"]), escape(", ".join(b["classes"])), str(b["captions"]))
    out_console.print(bt)


def _fmt(entry: dict[str, object]) -> str:
    if entry["status"] != "ok":
        return "insufficient data"
    return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def _print_summary(scores: dict[str, object], counts: dict[str, int], out: Path) -> None:
    biases = scores["biases"]
    assert isinstance(biases, list)
    table = Table(title="bias severity (1 - normalised entropy, 95% interval)")
    table.add_column("bias", overflow="fold")  # may wrap: the numbers must not be cut
    for col in ("K", "n", "detected"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    table.add_column("context-free", no_wrap=True)
    table.add_column("context-aware", no_wrap=True)
    ranked = sorted(biases, key=lambda b: -(b["context_free"]["value"] or -1.0))
    for b in ranked:
        det = b["detection_rate"]
        table.add_row(
            escape(b["bias_id"]), str(len(b["classes"])), str(b["n_images"]),
            "-" if det["value"] is None else f"{det['value']:.0%}",
            _fmt(b["context_free"]), _fmt(b["context_aware"]),
        )
    out_console.print(table)
    err_console.print(
        f"images: {counts['images_generated']} generated, {counts['images_cached']} cached; "
        f"labels: {counts['labels_computed']} computed, {counts['labels_cached']} cached; "
        f"results in {escape(str(out))}",
        highlight=False,
    )


@audit_app.command("report")
@handle_errors
def report_command(
    run_dir: Path = typer.Argument(..., help="A folder written by `fairframe audit run`."),
    max_thumbnails: int = typer.Option(
        8, "--max-thumbnails", help="Thumbnails per (bias, class) in the image grids."
    ),
    thumbnail_size: int = typer.Option(96, "--thumbnail-size", help="Thumbnail side in pixels."),
    as_json: bool = typer.Option(False, "--json", help="Print the written paths as JSON."),
) -> None:
    """Write RUN_DIR/report.html (self-contained, works offline), report.json and
    bias_statement.md (a Markdown section for a model card)."""
    from fairframe.report import write_report

    files = write_report(run_dir, max_thumbnails_per_class=max_thumbnails,
                         thumbnail_size=thumbnail_size)
    paths = {"html": str(files.html), "json": str(files.json), "markdown": str(files.markdown)}
    if as_json:
        print_json(paths)
        return
    for kind, path in paths.items():
        out_console.print(f"{kind:>8}: {escape(path)}", highlight=False)


@audit_app.command("plan")
@handle_errors
def plan_command(
    classes: int = typer.Option(2, "--classes", "-k", help="Number of classes of the bias."),
    delta: float = typer.Option(0.1, "--delta", help="Share deviation to detect."),
    p0: float | None = typer.Option(None, "--p0", help="Reference share (default 1/K)."),
    w: float = typer.Option(0.3, "--w", help="K-class effect size (Cohen's w) to detect."),
    alpha: float = typer.Option(0.05, "--alpha", help="Test level."),
    power: float = typer.Option(0.8, "--power", help="Wanted power."),
    half_width: float = typer.Option(0.1, "--half-width", help="Wanted interval half-width."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """How many images per caption are needed to detect a deviation at a power and level."""
    from fairframe.audit.planning import plan_sample_size
    from fairframe.errors import ConfigError

    try:
        plan = plan_sample_size(classes=classes, delta=delta, p0=p0, w=w, alpha=alpha,
                                power=power, half_width=half_width)
    except ValueError as exc:
        raise ConfigError(f"invalid plan: {exc}") from exc
    if as_json:
        print_json(plan.to_json())
        return
    table = Table(title=f"images per caption (alpha {alpha}, power {power})")
    table.add_column("to show")
    table.add_column("images", justify="right")
    table.add_row(f"one share differs from {plan.p0:.3g} by {delta}", str(plan.share_deviation))
    table.add_row(f"a {classes}-class deviation of effect size w = {w}",
                  str(plan.goodness_of_fit))
    table.add_row(f"a share to within +/- {half_width} (95% interval)", str(plan.half_width))
    out_console.print(table)
    out_console.print(
        f"with 10 images per caption the share test has power {plan.power_at_10:.2f}",
        highlight=False,
    )

"""``fairframe redteam``: attack a guard with mutated prompts, report what gets through, compare
two runs.

Examples::

    fairframe redteam run builtin:default --target guard \\
        --mutators leetspeak,homoglyph+zero_width --out runs/rt-v1
    fairframe redteam run suite.jsonl --target http://127.0.0.1:8000 --api-key KEY \\
        --mutators spacing,case --adaptive-budget 30 --out runs/rt-svc
    fairframe redteam compare runs/rt-v1 runs/rt-v2
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from fairframe.cli._common import RichProgress, handle_errors, out_console, print_json
from fairframe.errors import BackendError, ConfigError

__all__ = ["redteam_app"]

redteam_app = typer.Typer(
    name="redteam",
    help="Red-team a text-to-image guard: mutated prompts, adaptive search, reports, comparisons.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _suite(spec: str, fmt: str, limit: int | None, seed: int) -> list[Any]:
    from fairframe.redteam.suite import builtin_suite, load_suite

    if spec.startswith("builtin:"):
        items = builtin_suite(spec[len("builtin:"):])
    else:
        path = Path(spec)
        if not path.exists():
            raise ConfigError(f"suite {spec!r} is neither a file nor 'builtin:NAME'; see "
                              "`fairframe redteam suites` for the built-in ones")
        items = load_suite(path, format=fmt)
    if limit is not None and limit < len(items):
        keep = sorted(random.Random(f"limit:{seed}").sample(range(len(items)), limit))
        items = [items[i] for i in keep]
    return items


def _shown(text: str) -> str:
    """``text`` with invisible and control characters written as ``<U+200B>`` markers."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        hidden = cat in ("Cf", "Cc", "Co", "Cn") or (cat.startswith("Z") and ch != " ")
        out.append(f"<U+{ord(ch):04X}>" if hidden else ch)
    return "".join(out)


def _cell(raw: Any, *, pct: bool = True, narrow: bool = False) -> str:
    """A metric with its interval and n: one line (``68.8% [44.4, 85.8] n=16``), or three when
    ``narrow`` (value / ``44.4–85.8`` / ``n=16``), so that a narrow terminal never breaks an
    interval in two."""
    if raw is None:
        return "—"
    if raw.value is None:
        return "[dim]n/a[/]"
    scale, unit = (100.0, "%") if pct else (1.0, "")
    value = f"{raw.value * scale:.1f}{unit}"
    has_ci = raw.ci_low is not None and raw.ci_high is not None
    if narrow:
        ci = f"{raw.ci_low * scale:.1f}–{raw.ci_high * scale:.1f}\n" if has_ci else ""
        return f"{value}\n[dim]{ci}n={raw.n}[/]"
    ci = f" [dim]\\[{raw.ci_low * scale:.1f}, {raw.ci_high * scale:.1f}][/]" if has_ci else ""
    return f"{value}{ci} [dim]n={raw.n}[/]"


def _fitted(build: Callable[[bool], Table]) -> Table:
    """``build(narrow=False)`` when it fits the terminal, else ``build(narrow=True)`` without
    vertical rules and with the first column (mutator names) kept whole."""
    from rich.measure import Measurement

    wide = build(False)
    unbounded = out_console.options.update(max_width=100_000)
    if Measurement.get(out_console, unbounded, wide).maximum <= out_console.width:
        return wide
    narrow = build(True)
    narrow.box = box.SIMPLE_HEAD  # no vertical rules: room for the first column's names
    narrow.pad_edge = False
    narrow.collapse_padding = True
    for column in narrow.columns:  # whole names and intervals; the headers wrap instead
        words = [len(w) for w in str(column.header).split()]
        column.width = max([line.cell_len for c in column.cells
                                for line in Text.from_markup(str(c)).split("\n")] + words)
    return narrow


@redteam_app.command("run")
@handle_errors
def run_command(
    suite: str = typer.Argument(..., help="Suite file (.jsonl, .csv, .tsv, .txt) or "
                                "builtin:NAME."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.json, report.html "
                             "and the resumable results.jsonl."),
    target: str = typer.Option("guard", "--target", "-t", help="'guard', 'guard:fast' (no "
                               "embedding classifier) or the guard service URL."),
    mutators: str | None = typer.Option(
        None, "--mutators", "-m",
        help="Mutators: ',' separates attacks, '+' chains (leetspeak,homoglyph+zero_width). "
        "Default: every offline mutator."),
    seed: int = typer.Option(0, "--seed", help="Seed of every mutation and search."),
    adaptive_budget: int | None = typer.Option(
        None, "--adaptive-budget", min=1,
        help="Also run the adaptive search with this many queries per blocked prompt."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="FAIRFRAME_API_KEY",
                                       help="API key of the guard service."),
    limit: int | None = typer.Option(None, "--limit", min=1,
                                     help="Use N rows of the suite (a seeded random sample)."),
    suite_format: str = typer.Option("auto", "--format", help="Suite file format (default: "
                                     "detected)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1,
                                    help="Requests in flight (HTTP target)."),
    max_retries: int = typer.Option(3, "--max-retries", min=0,
                                    help="Retries of a 429/5xx answer or a dropped connection "
                                    "(HTTP target)."),
    llm_base_url: str | None = typer.Option(
        None, "--llm-base-url", envvar="FAIRFRAME_LLM_BASE_URL",
        help="OpenAI-compatible server of the llm_paraphrase mutator (e.g. a local vLLM)."),
    llm_model: str | None = typer.Option(
        None, "--llm-model", envvar="FAIRFRAME_LLM_MODEL",
        help="Model name on that server (llm_paraphrase)."),
    as_json: bool = _JSON,
) -> None:
    """Run a suite and every mutator against a target; write DIR/report.json and report.html."""
    from fairframe.redteam.mutators import available_mutators, parse_mutators
    from fairframe.redteam.run import run_redteam
    from fairframe.redteam.targets import make_target

    items = _suite(suite, suite_format, limit, seed)
    spec = mutators if mutators is not None else ",".join(
        m for m in available_mutators() if m != "llm_paraphrase")
    options = None
    if "llm_paraphrase" in spec:
        if not (llm_base_url and llm_model):
            raise ConfigError(
                "the llm_paraphrase mutator asks an OpenAI-compatible server to reword prompts; "
                "pass --llm-base-url (e.g. http://127.0.0.1:8000/v1) and --llm-model")
        options = {"llm_paraphrase": {"base_url": llm_base_url, "model": llm_model}}
    muts = parse_mutators(spec, options=options)
    tgt = make_target(target, api_key=api_key, concurrency=concurrency,
                      max_retries=max_retries)
    try:
        with RichProgress(enabled=not as_json) as bars:
            report = run_redteam(items, tgt, muts, out_dir=out, seed=seed,
                                 adaptive_budget=adaptive_budget, progress=bars)
    finally:
        close = getattr(tgt, "close", None)
        if callable(close):
            close()
    failed = all(r.is_error for r in report.rows) and bool(report.rows)
    if as_json:
        print_json({"out": str(out), "headline": dict(report.headline),
                    "metrics": [g.to_dict() for g in report.metrics if g.category == "all"],
                    "queried": report.queried, "resumed": report.resumed})
        if failed:
            raise BackendError("every query failed; fix the target and rerun the same command: "
                               "the failed queries are asked again")
        return
    def by_mutator(narrow: bool) -> Table:
        table = Table("mutator", "recall", "FPR", "ASR", "ASR overall", "queries per success",
                      "errors", title="by mutator (all categories)")
        for g in report.metrics:
            if g.category == "all":
                table.add_row(escape(g.mutator), _cell(g.recall, narrow=narrow),
                              _cell(g.fpr, narrow=narrow), _cell(g.asr, narrow=narrow),
                              _cell(g.asr_overall, narrow=narrow),
                              _cell(g.queries_per_success, pct=False, narrow=narrow),
                              str(g.errors))
        return table

    out_console.print(_fitted(by_mutator))
    h = report.headline
    any_asr = h.get("asr_any")
    if isinstance(any_asr, dict) and any_asr.get("value") is not None:
        out_console.print(f"attack success (any attack): {float(any_asr['value']) * 100:.1f}% "
                          f"of {any_asr['n']} prompts the unmutated target stopped",
                          highlight=False)
    errors = Counter(r.error or "unknown error" for r in report.rows if r.is_error)
    if errors:
        line, count = errors.most_common(1)[0]
        out_console.print(f"[yellow]warning:[/] {sum(errors.values())} of {len(report.rows)} "
                          f"results are errors (left out of the metrics; rerun the same command "
                          f"to ask them again); most common ({count}x): {escape(line)}",
                          highlight=False)
    out_console.print(f"{report.queried} queries sent, {report.resumed} results resumed; "
                      f"wrote {escape(str(report.json_path))} and "
                      f"{escape(str(report.html_path))}", highlight=False)
    if failed:
        raise BackendError(f"every query failed ({line}); fix the target and rerun the same "
                           "command: the failed queries are asked again")


@redteam_app.command("compare")
@handle_errors
def compare_command(
    before: Path = typer.Argument(..., help="Run folder (or report.json) of the old version."),
    after: Path = typer.Argument(..., help="Run folder (or report.json) of the new version."),
    alpha: float = typer.Option(0.05, "--alpha", help="False-discovery level of "
                                "'significant'."),
    show: int = typer.Option(20, "--show", min=0, help="Prompts listed per change kind."),
    as_json: bool = _JSON,
) -> None:
    """Show what changed between two runs: metric deltas (with significance) and prompts."""
    from fairframe.redteam.compare import compare_reports

    cmp = compare_reports(before, after, alpha=alpha)
    if as_json:
        print_json(cmp.to_dict())
        return
    for w in cmp.warnings:
        out_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    b, a = cmp.before, cmp.after
    out_console.print(f"before: {escape(str(b.get('path')))} (policy "
                      f"{escape(str(b.get('policy_version')))}, commit "
                      f"{escape(str(b.get('git_commit'))[:12])})\nafter:  "
                      f"{escape(str(a.get('path')))} (policy "
                      f"{escape(str(a.get('policy_version')))}, commit "
                      f"{escape(str(a.get('git_commit'))[:12])})", highlight=False)
    colour = {"better": "green", "worse": "bold red", "same": "dim", "n/a": "dim"}

    def metric_changes(narrow: bool) -> Table:
        # narrow: the category goes under the mutator, the delta loses its unit to the header
        where = ("mutator / category",) if narrow else ("mutator", "category")
        table = Table(*where, "metric", "before", "after", "delta (pts)" if narrow else "delta",
                      "q", "change",
                      title="metric changes (all categories, and significant per-category ones)")
        for d in cmp.deltas:
            if d.category != "all" and not d.significant:
                continue
            delta = "—" if d.delta is None else f"{d.delta * 100:+.1f}{'' if narrow else ' pts'}"
            q = "—" if d.q_value is None else f"{d.q_value:.3g}"
            names = ((f"{escape(d.mutator)}\n[dim]{escape(d.category)}[/]",) if narrow
                     else (escape(d.mutator), escape(d.category)))
            table.add_row(*names, d.metric, _cell(d.before, narrow=narrow),
                          _cell(d.after, narrow=narrow), delta, q,
                          f"[{colour[d.change]}]{d.change}[/]")
        return table

    out_console.print(_fitted(metric_changes))
    for label, changes in (("unsafe prompts newly getting through",
                            [c for c in cmp.newly_through if c.expected == "block"]),
                           ("unsafe prompts newly stopped",
                            [c for c in cmp.newly_blocked if c.expected == "block"]),
                           ("benign prompts newly stopped",
                            [c for c in cmp.newly_blocked if c.expected == "allow"]),
                           ("benign prompts newly allowed",
                            [c for c in cmp.newly_through if c.expected == "allow"])):
        out_console.print(f"[bold]{label}[/]: {len(changes)}", highlight=False)
        for c in changes[:show]:
            out_console.print(f"  {escape(c.category)} / {escape(c.mutator)} "
                              f"{escape('[' + c.item_id + ']')} {escape(c.action_before)} -> "
                              f"{escape(c.action_after)}: {escape(_shown(c.prompt_after))}",
                              highlight=False)


@redteam_app.command("suites")
@handle_errors
def suites_command(as_json: bool = _JSON) -> None:
    """List the built-in suites (use them as builtin:NAME)."""
    from fairframe.redteam.suite import available_suites, builtin_suite

    rows: list[dict[str, Any]] = []
    for name in available_suites():
        items = builtin_suite(name)
        rows.append({"name": name, "rows": len(items),
                     "unsafe": sum(i.expected == "block" for i in items),
                     "benign": sum(i.expected == "allow" for i in items),
                     "categories": sorted({i.category for i in items})})
    if as_json:
        print_json(rows)
        return
    table = Table("suite", "rows", "unsafe", "benign", "categories")
    for r in rows:
        table.add_row(f"builtin:{r['name']}", str(r["rows"]), str(r["unsafe"]),
                      str(r["benign"]), escape(", ".join(r["categories"])))
    out_console.print(table)


@redteam_app.command("mutators")
@handle_errors
def mutators_command(as_json: bool = _JSON) -> None:
    """List the mutators with a one-line description."""
    from fairframe.redteam.mutators import MUTATORS, available_mutators

    rows = []
    for name in available_mutators():
        doc = (MUTATORS[name].__doc__ or "").strip().splitlines()
        rows.append({"name": name, "description": doc[0].strip() if doc else ""})
    if as_json:
        print_json(rows)
        return
    table = Table("mutator", "description")
    for r in rows:
        table.add_row(r["name"], escape(r["description"]))
    out_console.print(table)

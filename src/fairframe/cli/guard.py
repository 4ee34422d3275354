"""``fairframe guard``: check prompts, scan files, serve the HTTP guard, manage keys and the log.

Every command reads the same guard config file (``--config``, TOML or YAML; see
``docs/guard.md``); without one the default guard runs (lexicon + embedding classifier +
gibberish detector, default policy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from fairframe.cli._common import (
    RichProgress,
    err_console,
    handle_errors,
    out_console,
    print_json,
    read_input_file,
)
from fairframe.errors import InputDataError, StoreError

__all__ = ["guard_app"]

guard_app = typer.Typer(
    name="guard",
    help="The runtime guard: check prompts and images, generate safely, serve the HTTP service.",
    no_args_is_help=True,
)
keys_app = typer.Typer(name="keys", help="API keys of the guard service.", no_args_is_help=True)
log_app = typer.Typer(name="log", help="The tamper-evident decision log.", no_args_is_help=True)
guard_app.add_typer(keys_app, name="keys")
guard_app.add_typer(log_app, name="log")

_CONFIG = typer.Option(None, "--config", "-c", help="Guard config file (TOML or YAML).")
_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
_FAST = typer.Option(
    False, "--fast", help="Lexicon and gibberish only: skip the embedding classifier, Hugging "
    "Face classifiers and the LLM judge of the config."
)


def _guard(config: Path | None, fast: bool) -> Any:
    from fairframe.guard.config import load_guard_config

    cfg = load_guard_config(config)
    if fast:  # the local, model-free stages only
        stages = cfg.stages
        cfg = cfg.model_copy(update={"stages": stages.model_copy(update={
            "embedding": stages.embedding.model_copy(update={"enabled": False}),
            "llm_judge": stages.llm_judge.model_copy(update={"enabled": False}),
            "hf_classifiers": (),
        })})
    return cfg, cfg.build_guard()


@guard_app.command("check")
@handle_errors
def check_command(
    prompt: str = typer.Argument(..., help="The prompt to check; - reads it from stdin."),
    negative: str | None = typer.Option(None, "--negative", help="The user's negative prompt."),
    config: Path | None = _CONFIG,
    as_json: bool = _JSON,
    fast: bool = _FAST,
) -> None:
    """Check one prompt and print the decision."""
    if prompt == "-":
        prompt = _stdin_text()
    _, guard = _guard(config, fast)
    decision = guard.check(prompt, negative_prompt=negative)
    _show(decision, guard.policy, as_json, guard.fusion)


def _stdin_text() -> str:
    """The prompt piped on stdin (one trailing newline dropped)."""
    import sys

    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"stdin is not UTF-8 (bad byte at offset {exc.start}); send the prompt as UTF-8 "
            "text") from None
    return text[:-1] if text.endswith("\n") else text


def _show(decision: Any, policy: Any, as_json: bool, fusion: Any = None) -> None:
    """Print a decision as JSON or as a table with its evidence (a finding whose stage has
    weight 0 for its category in ``fusion`` is marked as not counted)."""
    if as_json:
        print_json(decision.to_dict())
        return
    colour = {"allow": "green", "flag": "yellow", "rewrite": "cyan", "regenerate": "cyan",
              "block": "bold red"}[decision.action.value]
    out_console.print(f"action: [{colour}]{decision.action.value}[/]  "
                      f"(policy {escape(decision.policy_version)})", highlight=False)
    if decision.unread:
        out_console.print(
            f"language: {escape(str(decision.language))} [dim](not read by "
            f"{escape(', '.join(decision.unread))}: their scores are capped, see docs/guard.md, "
            "Languages)[/]", highlight=False)
    table = Table("category", "score", "threshold", "action")
    for cat, score in sorted(decision.categories.items(), key=lambda kv: -kv[1]):
        if score < 0.05:
            continue
        rule = policy.rule(cat)
        hit = score >= rule.threshold
        table.add_row(cat, f"{score:.3f}", f"{rule.threshold:.2f}",
                      rule.action.value if hit else "-")
    if table.row_count:
        out_console.print(table)
    if decision.findings and table.row_count:  # a stage's score may count for little in fusion
        out_console.print("[dim]findings (each stage's own score; the table above is the fused "
                          "score, see docs/guard.md, Fusion):[/]", highlight=False)
    for f in decision.findings:
        where = "" if f.evidence.box is None else f" at {list(f.evidence.box)}"
        label = escape(_short_label(f.evidence.label))
        ignored = fusion is not None and f.score > 0 and fusion.weight(f.stage, f.category) == 0
        note = " [dim](weight 0 in the fusion: not counted)[/]" if ignored else ""
        out_console.print(f"  {escape(f.stage)}: {escape(f.category)} {f.score:.2f} "
                          f"\"{escape(f.evidence.text[:80])}\" ({label}){where}{note}",
                          highlight=False, soft_wrap=True)
    if decision.prompt_out is not None:
        out_console.print(f"prompt_out: {escape(decision.prompt_out)}", highlight=False)
    if decision.negative_prompt_out:
        out_console.print(f"negative_prompt_out: {escape(decision.negative_prompt_out)}",
                          highlight=False)
    for a in decision.attempts:
        if a.get("attempt") is None:  # a rung that could not apply: no image, no budget
            out_console.print(f"  skipped: {escape(str(a.get('strategy')))} "
                              f"({escape(str(a.get('reason') or a.get('outcome')))})",
                              highlight=False)
            continue
        out_console.print(f"  attempt {a.get('attempt')}: {escape(str(a.get('strategy')))} -> "
                          f"{escape(str(a.get('action')))}", highlight=False)
    for line in _provenance_lines(decision.provenance):
        out_console.print(f"  provenance: {escape(line)}", highlight=False)
    for e in decision.errors:
        out_console.print(f"[yellow]skipped stage[/] {escape(e)}", highlight=False)


def _provenance_lines(prov: Any) -> list[str]:
    lines: list[str] = []
    for key, value in prov.items():
        if isinstance(value, dict) and "summary" in value:
            prefix = "" if key in ("summary",) else f"{key}: "
            lines.extend(prefix + str(s) for s in value["summary"])
        elif key == "summary" and isinstance(value, list):
            lines.extend(str(s) for s in value)
    mark = prov.get("watermark")  # what guarded generation embedded in its own output
    if isinstance(mark, dict) and "skipped" in mark:
        lines.append(f"watermark not embedded: {mark['skipped']}")
    elif isinstance(mark, dict) and mark.get("verified") is False:
        lines.append("watermark embedded but not readable back (small, flat or very busy "
                     "image): do not rely on it for this image")
    elif isinstance(mark, dict) and mark.get("verified"):
        lines.append(f"watermark embedded and verified (payload {mark.get('payload')})")
    return lines


def _image_checker(config: Path | None) -> tuple[Any, Any, Any, bytes | None]:
    from fairframe.guard.config import load_guard_config

    cfg = load_guard_config(config)
    return cfg, cfg.build_image_guard(), cfg.build_watermark(), cfg.trust_anchors_pem()


def _read_image_file(path: Path) -> bytes:
    return read_input_file(path, "image file")


_NO_PROV = typer.Option(False, "--no-provenance",
                        help="Skip the watermark and C2PA checks.")


@guard_app.command("check-image")
@handle_errors
def check_image_command(
    path: Path = typer.Argument(..., help="The image (PNG, JPEG, WebP, GIF, TIFF ...)."),
    prompt: str | None = typer.Option(None, "--prompt", help="The prompt it was made from."),
    config: Path | None = _CONFIG,
    no_provenance: bool = _NO_PROV,
    as_json: bool = _JSON,
) -> None:
    """Check one image: image classifiers, plus watermarks and C2PA credentials."""
    from fairframe.guard.incoming import check_image

    _, image_guard, watermark, anchors = _image_checker(config)
    decision = check_image(_read_image_file(path), image_guard=image_guard, prompt=prompt,
                           provenance=not no_provenance, watermark=watermark,
                           trust_anchors_pem=anchors, source=str(path))
    _show(decision, image_guard.policy, as_json, getattr(image_guard, "fusion", None))


@guard_app.command("check-transform")
@handle_errors
def check_transform_command(
    input_path: Path = typer.Argument(..., help="The image before the edit."),
    output_path: Path = typer.Argument(..., help="The image after the edit."),
    prompt: str = typer.Option(..., "--prompt", help="The edit prompt."),
    config: Path | None = _CONFIG,
    no_provenance: bool = _NO_PROV,
    as_json: bool = _JSON,
) -> None:
    """Check an img2img/inpainting edit: new exposure, unrequested skin-tone or body changes."""
    from fairframe.guard.incoming import check_transformation

    cfg, image_guard, watermark, anchors = _image_checker(config)
    decision = check_transformation(
        _read_image_file(input_path), _read_image_file(output_path), prompt=prompt,
        image_guard=image_guard, transform_check=cfg.build_transform_check(),
        provenance=not no_provenance, watermark=watermark, trust_anchors_pem=anchors)
    _show(decision, image_guard.policy, as_json, getattr(image_guard, "fusion", None))


@guard_app.command("generate")
@handle_errors
def generate_command(
    prompt: str = typer.Argument(..., help="The prompt."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the PNG when served."),
    negative: str | None = typer.Option(None, "--negative", help="The user's negative prompt."),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Seed (default: random)."),
    config: Path | None = _CONFIG,
    as_json: bool = _JSON,
) -> None:
    """Guarded generation: prompt check, generate, image check, regenerate, watermark and sign.

    Needs a ``\\[generate]`` section in the config. Exit code 1 when the request was refused.
    """
    from fairframe.guard.config import load_guard_config

    cfg = load_guard_config(config)
    gen = cfg.build_guarded_generator()
    if gen is None:
        raise InputDataError(
            "no generator configured; add a [generate] section with backend and options to the "
            "guard config (see docs/guard.md)"
        )
    outcome = gen.generate(prompt, negative_prompt=negative, seed=seed)
    if outcome.image is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(outcome.image)
        except OSError as exc:
            raise InputDataError(f"cannot write {out}: {exc.strerror}") from exc
    _show(outcome.decision, gen.prompt_guard.policy, as_json, gen.prompt_guard.fusion)
    if outcome.image is None:
        raise typer.Exit(1)
    if not as_json:
        out_console.print(f"wrote {escape(str(out))}", highlight=False)


@guard_app.command("scan")
@handle_errors
def scan_command(
    file: Path = typer.Argument(..., help="Prompts: .jsonl ({id, prompt}), .csv/.tsv or .txt."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL, one decision per line."),
    config: Path | None = _CONFIG,
    column: str | None = typer.Option(
        None, "--column", help="Prompt column/field (default: prompt, caption or text)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Prompts per batch."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Start over instead of resuming."),
    fail_on_error: bool = typer.Option(
        False, "--fail-on-error",
        help="Exit with code 1 when a prompt could not be checked (too long, no visible "
             "characters); its output line holds the error either way. Empty rows are "
             "skipped when the file is read and are not errors."),
    fast: bool = _FAST,
    as_json: bool = _JSON,
) -> None:
    """Check every prompt of a file in batches; resumes an interrupted scan."""
    from fairframe.guard.scan import check_resumable, read_prompts, scan_file

    if out.resolve() == file.resolve():
        raise InputDataError(
            f"--out {out} is the input file; the scan would overwrite the prompts it reads; "
            "choose another output file")
    rows = read_prompts(file, column=column)
    check_resumable(out, rows, resume=not no_resume)  # refuse a wrong --out before the models
    cfg, guard = _guard(config, fast)
    extra = {"config": cfg.decision_config()}  # --fast is in it (embedding off)
    with RichProgress(enabled=not as_json) as progress, progress.stage("scan", len(rows)) as bar:
        summary = scan_file(guard, rows, out, batch_size=batch_size, resume=not no_resume,
                            progress=bar.advance, guard_extra=extra)
    if as_json:
        print_json(summary.to_dict())
    else:
        acts = ", ".join(f"{k} {v}" for k, v in sorted(summary.actions.items())) or "none"
        out_console.print(
            f"{_count(summary.total, 'prompt')}: {summary.checked} checked, {summary.resumed} "
            f"already in {escape(str(out))} ({summary.resumed_errors} with an error), "
            f"{_count(summary.errors, 'error')}; actions: {acts}", highlight=False,
            soft_wrap=True)
    failed = summary.errors + summary.resumed_errors
    if failed and fail_on_error:
        err_console.print(
            f"[bold red]error:[/] {_count(failed, 'prompt')} could not be checked; their lines in "
            f"{escape(str(out))} have an \"error\" field", highlight=False)
        raise typer.Exit(1)


def _count(n: int, noun: str) -> str:
    """``"1 prompt"``, ``"2 prompts"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@guard_app.command("serve")
@handle_errors
def serve_command(
    config: Path | None = _CONFIG,
    host: str | None = typer.Option(None, "--host", help="Overrides service.host."),
    port: int | None = typer.Option(None, "--port", min=1, max=65535,
                                    help="Overrides service.port."),
    log_level: str = typer.Option("info", "--log-level",
                                  help="critical, error, warning, info or debug."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="Log one line per request (off by default: it costs "
                                         "throughput)."),
) -> None:
    """Run the HTTP guard service (FastAPI + uvicorn) until interrupted."""
    from fairframe.guard.config import load_guard_config
    from fairframe.service import serve

    serve(load_guard_config(config), host=host, port=port, log_level=log_level.lower(),
          access_log=access_log)


def _enforcer(config: Path | None, *, existing: bool = False) -> Any:
    """The config's enforcement store; ``existing``: refuse a SQLite file that is not there
    (reading or revoking in a store that a typo in the URL would create empty says nothing)."""
    from fairframe.guard.config import load_guard_config

    cfg = load_guard_config(config)
    if existing:
        try:
            from sqlalchemy.engine import make_url
        except ImportError:  # open_enforcer names the extra
            return cfg.open_enforcer()
        url = make_url(cfg.service.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
                and not Path(url.database).is_file():
            raise StoreError(
                f"no enforcement store at {url.database} (service.database_url "
                f"{cfg.service.database_url!r}); check the URL and the folder you run in (a "
                "relative path is read from it), or create the store with `fairframe guard keys "
                "create` or by starting the service")
    return cfg.open_enforcer()


@keys_app.command("create")
@handle_errors
def keys_create(
    name: str = typer.Argument(..., help="Who the key is for."),
    role: list[str] = typer.Option(["client"], "--role", help="client, reviewer or admin."),
    config: Path | None = _CONFIG,
) -> None:
    """Create an API key; the secret is printed once and stored only as a hash."""
    allowed = {"client", "reviewer", "admin"}
    bad = sorted(set(role) - allowed)
    if bad:
        raise InputDataError(f"unknown roles {bad}; allowed: {', '.join(sorted(allowed))}")
    enf = _enforcer(config)
    try:
        created = enf.create_key(name, roles=tuple(role))
    finally:
        enf.close()
    print_json(created.to_dict())


@keys_app.command("list")
@handle_errors
def keys_list(config: Path | None = _CONFIG, as_json: bool = _JSON) -> None:
    """List API keys (never their secrets)."""
    enf = _enforcer(config, existing=True)
    try:
        keys = enf.list_keys()
    finally:
        enf.close()
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    table = Table("name", "roles", "rate/s (burst)")
    for column in ("created (UTC)", "revoked (UTC)", "id"):
        table.add_column(column, no_wrap=True)
    for k in keys:
        table.add_row(escape(k.name), ", ".join(sorted(r.value for r in k.roles)),
                      f"{k.rate_per_s:g} ({k.burst:g})", _utc_text(k.created),
                      _utc_text(k.revoked_at), k.id)
    out_console.print(table if keys else "no API keys; create one with `fairframe guard keys "
                      "create NAME`")


def _utc_text(ts: float | None) -> str:
    """Unix seconds as ``2026-11-28 08:40`` (UTC), or ``-``."""
    import datetime as dt

    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


@keys_app.command("revoke")
@handle_errors
def keys_revoke(key_id: str = typer.Argument(...), config: Path | None = _CONFIG) -> None:
    """Revoke an API key."""
    enf = _enforcer(config, existing=True)
    try:
        enf.revoke_key(key_id)
    finally:
        enf.close()
    typer.echo(f"revoked {key_id}")


@log_app.command("verify")
@handle_errors
def log_verify(config: Path | None = _CONFIG, as_json: bool = _JSON) -> None:
    """Verify the decision log's hash chain; exit 1 when it was tampered with."""
    enf = _enforcer(config, existing=True)
    try:
        result = enf.verify_log()
    finally:
        enf.close()
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        out_console.print(f"[green]ok[/]: {result.n_entries} entries, hash chain intact; last "
                          f"hash {result.last_hash} (keep a copy elsewhere to detect a rewritten "
                          "log)", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"[bold red]tampered[/]: the chain breaks at entry "
                          f"{result.first_bad_id}: {escape(str(result.reason))} "
                          f"({result.n_entries} entries before it verified)", highlight=False,
                          soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


def _short_label(label: str, width: int = 60) -> str:
    """An evidence label cut to ``width`` characters, keeping a spelling view's "(read as: ...)"
    note and a "; not flagged: ..." reason whole (they say how the prompt was read and why it
    passed)."""
    for marker in (" (read as: ", "; not flagg"):
        head, sep, note = label.partition(marker)
        if sep:
            return head[:width] + sep + note
    return label[:width] + ("…" if len(label) > width else "")

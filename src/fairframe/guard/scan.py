"""Batch prompt checking: ``fairframe guard scan FILE --out OUT.jsonl``.

Input formats, by file extension (the same reader as audit captions):

``.jsonl``
    One JSON object per line, the prompt under ``column`` or ``prompt``/``caption``/``text``, the
    id under ``id`` when present (else the prompt's position, 1, 2, ...); a line may be a bare
    JSON string.
``.csv`` / ``.tsv``
    A header row; the prompt column is ``column`` or the first named ``prompt``, ``caption`` or
    ``text``, the id column ``id`` when present (else the position).
``.txt``
    One prompt per line; blank lines and lines starting with ``#`` are skipped. The id is the
    line number (a decision points at its line; prompts appended at the end keep every earlier
    id, while a line inserted above shifts the ids below it and a resume is then refused).

Empty prompts are skipped; repeated prompts are kept (each gets its own line).

Output: one JSON line per prompt, in input order, ``{"id", "action", "categories", "prompt_out",
"prompt_sha256", "guard"}`` where ``categories`` holds the categories that triggered (score >= the
policy threshold) with their scores, ``prompt_sha256`` is the SHA-256 of the prompt as read (UTF-8)
and ``guard`` a fingerprint of the guard that decided (:func:`guard_fingerprint`);
``negative_prompt_out`` is added when the guard forced negatives, and ``language`` and ``unread``
when the prompt's language is one some stages do not read (their scores were capped,
:mod:`~fairframe.guard.language`). A prompt the guard cannot check
(empty, too long) gets ``{"id", "error", "prompt_sha256", "guard"}`` and the scan goes on.

**Resuming.** Lines already in ``OUT`` are kept and their prompts not checked again, so an
interrupted scan continues where it stopped (prompts added to the input since are checked);
``resume=False`` starts over. A resume is refused, naming the first line at fault, when ``OUT``
was written by another guard (another config, policy or ``--fast``), holds a decision for an id
whose prompt has changed or is no longer in the input, or holds lines that are not scan decisions
(it is not a scan output): nothing in ``OUT`` is changed then.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairframe.errors import InputDataError
from fairframe.guard.decision import Decision, triggered_actions
from fairframe.guard.pipeline import PromptGuard
from fairframe.store.keys import hash_bytes, make_key

__all__ = [
    "PromptRow",
    "ScanSummary",
    "check_resumable",
    "guard_fingerprint",
    "read_prompts",
    "scan_file",
]


@dataclass(frozen=True)
class PromptRow:
    """One prompt to check: its id (string) and text."""

    id: str
    prompt: str


@dataclass(frozen=True)
class ScanSummary:
    """What a scan did.

    Attributes
    ----------
    total:
        Prompts in the input.
    checked:
        Prompts checked in this run.
    resumed:
        Prompts already in the output file (not checked again).
    errors:
        Prompts of this run that could not be checked (an ``error`` line was written).
    actions:
        Count per action among the prompts checked in this run.
    resumed_errors:
        ``error`` lines among the prompts already in the output file.
    """

    total: int
    checked: int
    resumed: int
    errors: int
    actions: dict[str, int]
    resumed_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"total": self.total, "checked": self.checked, "resumed": self.resumed,
                "errors": self.errors, "resumed_errors": self.resumed_errors,
                "actions": dict(self.actions)}


def read_prompts(path: str | Path, *, column: str | None = None) -> list[PromptRow]:
    """Read the prompts of a JSONL, CSV/TSV or text file (see the module docstring).

    The file reader is the audit's caption reader
    (:func:`fairframe.audit.captions.iter_text_rows`), without its removal of repeats: every row
    gets a decision.

    Raises
    ------
    InputDataError
        Missing, unreadable or non-UTF-8 file, invalid JSON on a line (naming the line), no
        prompt column (naming the columns there are), duplicate ids, or no prompts at all.
    """
    from fairframe.audit.captions import iter_text_rows, read_text_file, txt_lines

    rows: list[PromptRow] = []
    seen: set[str] = set()
    source: Iterable[tuple[int, tuple[str | None, str]]]
    if Path(path).suffix.lower() == ".txt":  # ids are line numbers: a decision names its line
        text = read_text_file(Path(path), "prompt")
        source = ((n, (str(n), line)) for n, line in txt_lines(text))
    else:
        source = enumerate(iter_text_rows(path, column=column, what="prompt"), start=1)
    for position, (row_id, text) in source:
        rid = row_id if row_id is not None else str(position)
        if rid in seen:
            raise InputDataError(f"prompt file {str(path)!r}: id {rid!r} appears twice; ids "
                                 "must be unique")
        seen.add(rid)
        rows.append(PromptRow(rid, text))
    if not rows:
        raise InputDataError(f"prompt file {str(path)!r} holds no prompts")
    return rows


def guard_fingerprint(guard: PromptGuard, extra: Mapping[str, Any] | None = None) -> str:
    """A short fingerprint (16 hex digits of a SHA-256) of what decides a scan's lines.

    It covers the stages (name, type, and ``identity()`` where a stage has one: models, files,
    options), the policy, the fusion, the required stages, the stages that read protective frames,
    the rewriters, ``max_prompt_chars``,
    and ``extra`` (the CLI passes :meth:`GuardConfig.decision_config`), hashed as a cache key
    (:func:`fairframe.store.keys.make_key`).
    """
    def ident(obj: Any) -> Any:
        get = getattr(obj, "identity", None)
        return {"type": type(obj).__qualname__, "name": getattr(obj, "name", None),
                "identity": get() if callable(get) else None}

    parts = {
        "stages": [ident(st) for st in guard.stages],
        "rewriters": [ident(r) for r in guard.rewriters],
        "policy": guard.policy.model_dump(mode="json"),
        "fusion": repr(guard.fusion),
        "required": sorted(guard.required),
        "frame_exempt": sorted(guard.frame_exempt),
        "max_prompt_chars": guard.max_prompt_chars,
        "extra": extra or {},
    }
    return make_key("guard", parts).partition(":")[2][:16]


def prompt_sha256(prompt: str) -> str:
    """SHA-256 (hex) of a prompt's UTF-8 bytes: the ``prompt_sha256`` of a scan line (the same
    value the decision log records for a prompt)."""
    return hash_bytes(prompt.encode("utf-8"))


def _unique_ids(rows: Sequence[PromptRow]) -> None:
    seen: set[str] = set()
    for r in rows:
        if r.id in seen:
            raise InputDataError(f"id {r.id!r} appears twice in the prompts; each prompt needs "
                                 "its own id, or its decision would be written twice")
        seen.add(r.id)


def _regular_file(path: Path) -> None:
    """Refuse an output that exists and is not a regular file (a folder, ``/dev/null``, a
    pipe): a scan output is read back to resume."""
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a device or a pipe)"
        raise InputDataError(f"the scan output {path} is {kind}; --out takes a file path (the "
                             "scan reads it back to resume)")


def _lock(fh: Any, path: Path) -> None:
    """Hold an exclusive lock on the open output until it is closed (POSIX; elsewhere, none)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InputDataError(
            f"another scan is writing {path}; wait for it to finish (then rerun to resume), or "
            "choose another --out") from None


def check_resumable(out: str | Path, rows: Sequence[PromptRow], *, resume: bool = True) -> int:
    """Check, before a guard is built, that ``out`` can be resumed for ``rows``: each of its lines
    is a scan decision of an id in ``rows`` for the same prompt (else :class:`InputDataError`,
    naming the first line at fault). Returns how many prompts it already decides.

    The CLI calls it first so that a wrong ``--out`` is refused in a moment, not after the
    models have loaded; :func:`scan_file` checks the same and the guard's fingerprint. With
    ``resume=False`` only the ids and the path (a regular file, or none yet) are checked.
    """
    _unique_ids(rows)
    out_path = Path(out)
    _regular_file(out_path)
    if not resume or not out_path.is_file():  # starting over: only the path is checked
        return 0
    try:
        return len(_done_ids(out_path, rows, None))
    except OSError as exc:
        raise InputDataError(
            f"cannot read the scan output {out_path}: {exc.strerror or exc}; choose a readable "
            "file with --out") from exc


def _done_ids(out: Path, rows: Sequence[PromptRow], guard_id: str | None) -> dict[str, bool]:
    """The ids ``out`` already holds a decision for (``True`` for an ``error`` line), after
    checking that each of its lines is a decision of this guard (any guard when ``guard_id`` is
    ``None``) for the same prompt (else :class:`InputDataError`)."""
    done: dict[str, bool] = {}
    if not out.exists():
        return done
    prompts = {r.id: r.prompt for r in rows}
    fix = ("start over with --no-resume (library: resume=False), or choose another output "
           "file")
    with out.open("r", encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    last = len(lines) - 1  # the text after the last newline: empty, or a torn line
    for number, line in enumerate(lines, start=1):
        if not line.strip(" \t\r\x00"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if number - 1 == last and _torn(line):
                continue  # a torn last line from a crash: dropped, that prompt is checked again
            raise InputDataError(
                f"{out} line {number} is not a scan decision (not JSON); it is not the output of "
                f"a scan; {fix}") from None
        if not (isinstance(obj, dict) and "id" in obj and "prompt_sha256" in obj
                and "guard" in obj):
            raise InputDataError(
                f"{out} line {number} is not a scan decision of this Fairframe (it needs id, "
                f"prompt_sha256 and guard); {fix}")
        rid = str(obj["id"])
        if guard_id is not None and obj["guard"] != guard_id:
            raise InputDataError(
                f"{out} was written by another guard (line {number}: guard {obj['guard']}, now "
                f"{guard_id}: the config, policy, stages or --fast differ), so its decisions "
                f"would mix two guards; {fix}")
        if rid not in prompts:
            raise InputDataError(
                f"{out} line {number} decides id {rid!r}, which is not in the input; the input "
                f"changed or OUT belongs to another file; {fix}")
        if obj["prompt_sha256"] != prompt_sha256(prompts[rid]):
            raise InputDataError(
                f"{out} line {number} decides id {rid!r} for another prompt than the input's "
                f"(the input changed since); {fix}")
        if rid in done:
            raise InputDataError(
                f"{out} line {number} decides id {rid!r} a second time (were two scans writing "
                f"it at once?); {fix}")
        done[rid] = "error" in obj
    return done


def _row(row: PromptRow, decision: Decision, guard: PromptGuard, guard_id: str
         ) -> dict[str, Any]:
    triggered = triggered_actions(decision.categories, guard.policy)
    out: dict[str, Any] = {
        "id": row.id,
        "action": decision.action.value,
        "categories": {c: round(decision.categories[c], 4) for c in sorted(triggered)},
        "prompt_out": decision.prompt_out,
    }
    if decision.negative_prompt_out:
        out["negative_prompt_out"] = decision.negative_prompt_out
    if decision.unread:
        out["language"] = decision.language
        out["unread"] = list(decision.unread)
    out["prompt_sha256"] = prompt_sha256(row.prompt)
    out["guard"] = guard_id
    return out


def scan_file(
    guard: PromptGuard,
    rows: Sequence[PromptRow],
    out: str | Path,
    *,
    batch_size: int = 64,
    resume: bool = True,
    progress: Callable[[int], None] | None = None,
    guard_extra: Mapping[str, Any] | None = None,
) -> ScanSummary:
    """Check ``rows`` in batches and append one JSON line per prompt to ``out``.

    ``progress(n)`` is called after each batch with the number of prompts it handled (and once
    at the start with the number already done, when resuming). Each batch is flushed and fsynced
    before the next starts, so a crash loses at most one batch. ``guard_extra`` joins the guard's
    fingerprint (:func:`guard_fingerprint`; the CLI passes its effective config).

    Raises
    ------
    InputDataError
        ``out`` cannot be written, or cannot be resumed (see the module docstring).
    """
    if batch_size < 1:
        raise InputDataError("batch_size must be >= 1")
    _unique_ids(rows)
    out_path = Path(out)
    _regular_file(out_path)
    guard_id = guard_fingerprint(guard, guard_extra)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fh = out_path.open("a", encoding="utf-8")
    except OSError as exc:
        raise InputDataError(
            f"cannot write the scan output {out_path}: {exc.strerror or exc}; choose a writable "
            "file with --out") from exc
    try:
        # one scan at a time per output: two would each read the same lines as done and both
        # append the rest, deciding every prompt twice
        _lock(fh, out_path)
        done = _done_ids(out_path, rows, guard_id) if resume else {}
        if not resume:
            fh.truncate(0)
        _repair_tail(out_path)
    except BaseException:
        fh.close()
        raise
    todo = [r for r in rows if r.id not in done]
    if progress is not None and len(rows) > len(todo):
        progress(len(rows) - len(todo))
    actions: dict[str, int] = {}
    errors = 0
    with fh:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            lines, n_err = _check_batch(guard, batch, actions, guard_id)
            errors += n_err
            fh.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
            fh.flush()
            os.fsync(fh.fileno())
            if progress is not None:
                progress(len(batch))
    return ScanSummary(total=len(rows), checked=len(todo), resumed=len(rows) - len(todo),
                       errors=errors, actions=actions,
                       resumed_errors=sum(1 for r in rows if done.get(r.id)))


def _check_batch(guard: PromptGuard, batch: Sequence[PromptRow], actions: dict[str, int],
                 guard_id: str) -> tuple[list[dict[str, Any]], int]:
    good: list[PromptRow] = []
    lines: dict[str, dict[str, Any]] = {}
    for r in batch:
        try:
            guard.validate(r.prompt)
            good.append(r)
        except InputDataError as exc:
            lines[r.id] = {"id": r.id, "error": str(exc), "prompt_sha256": prompt_sha256(r.prompt),
                           "guard": guard_id}
    decisions = guard.check_batch([r.prompt for r in good]) if good else []
    for r, d in zip(good, decisions, strict=True):
        lines[r.id] = _row(r, d, guard, guard_id)
        actions[d.action.value] = actions.get(d.action.value, 0) + 1
    return [lines[r.id] for r in batch], len(batch) - len(good)


_LINE_START = '{"id": '


def _torn(line: str) -> bool:
    """Whether an unterminated last line is what a crash leaves of a scan line: a prefix of one
    (``{"i``, ``{"id": "7", "act``) or NUL bytes from a power loss."""
    return (line.startswith(_LINE_START) or _LINE_START.startswith(line)
            or not line.strip("\x00"))


def _repair_tail(path: Path) -> None:
    """Make the file end on a newline before appending: a complete last line without one gets
    its newline, a torn one (:func:`_torn`; :func:`_done_ids` has checked it) is cut."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    try:
        json.loads(data[cut:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        with path.open("r+b") as fh:
            fh.truncate(cut)
        return
    with path.open("ab") as fh:
        fh.write(b"\n")

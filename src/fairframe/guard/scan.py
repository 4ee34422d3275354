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
    One prompt per line; blank lines and lines starting with ``#`` are skipped.

Empty prompts are skipped; repeated prompts are kept (each gets its own line).

Output: one JSON line per prompt, in input order, ``{"id", "action", "categories", "prompt_out"}``
where ``categories`` holds the categories that triggered (score >= the policy threshold) with their
scores; ``negative_prompt_out`` is added when the guard forced negatives. A prompt the guard
cannot check (empty, too long) gets ``{"id", "error"}`` and the scan goes on.

**Resuming.** Lines already in ``OUT`` (matched by id) are kept and not checked again, so an
interrupted scan continues where it stopped; ``resume=False`` starts over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairframe.errors import InputDataError
from fairframe.guard.decision import Decision, triggered_actions
from fairframe.guard.pipeline import PromptGuard

__all__ = ["PromptRow", "ScanSummary", "read_prompts", "scan_file"]


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
        Prompts that could not be checked (an ``error`` line was written).
    actions:
        Count per action among the prompts checked in this run.
    """

    total: int
    checked: int
    resumed: int
    errors: int
    actions: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"total": self.total, "checked": self.checked, "resumed": self.resumed,
                "errors": self.errors, "actions": dict(self.actions)}


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
    from fairframe.audit.captions import iter_text_rows

    rows: list[PromptRow] = []
    seen: set[str] = set()
    for position, (row_id, text) in enumerate(
        iter_text_rows(path, column=column, what="prompt"), start=1
    ):
        rid = row_id if row_id is not None else str(position)
        if rid in seen:
            raise InputDataError(f"prompt file {str(path)!r}: id {rid!r} appears twice; ids "
                                 "must be unique")
        seen.add(rid)
        rows.append(PromptRow(rid, text))
    if not rows:
        raise InputDataError(f"prompt file {str(path)!r} holds no prompts")
    return rows


def _done_ids(out: Path) -> set[str]:
    done: set[str] = set()
    if not out.exists():
        return done
    with out.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash: that prompt is checked again
            if isinstance(obj, dict) and "id" in obj:
                done.add(str(obj["id"]))
    return done


def _row(row: PromptRow, decision: Decision, guard: PromptGuard) -> dict[str, Any]:
    triggered = triggered_actions(decision.categories, guard.policy)
    out: dict[str, Any] = {
        "id": row.id,
        "action": decision.action.value,
        "categories": {c: round(decision.categories[c], 4) for c in sorted(triggered)},
        "prompt_out": decision.prompt_out,
    }
    if decision.negative_prompt_out:
        out["negative_prompt_out"] = decision.negative_prompt_out
    return out


def scan_file(
    guard: PromptGuard,
    rows: Sequence[PromptRow],
    out: str | Path,
    *,
    batch_size: int = 64,
    resume: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ScanSummary:
    """Check ``rows`` in batches and append one JSON line per prompt to ``out``.

    ``progress(n)`` is called after each batch with the number of prompts it handled. Each batch
    is flushed and fsynced before the next starts, so a crash loses at most one batch.
    """
    if batch_size < 1:
        raise InputDataError("batch_size must be >= 1")
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not resume and out_path.exists():
        out_path.unlink()
    done = _done_ids(out_path) if resume else set()
    todo = [r for r in rows if r.id not in done]
    actions: dict[str, int] = {}
    errors = 0
    _repair_tail(out_path)
    with out_path.open("a", encoding="utf-8") as fh:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            lines, n_err = _check_batch(guard, batch, actions)
            errors += n_err
            fh.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
            fh.flush()
            os.fsync(fh.fileno())
            if progress is not None:
                progress(len(batch))
    return ScanSummary(total=len(rows), checked=len(todo), resumed=len(rows) - len(todo),
                       errors=errors, actions=actions)


def _check_batch(guard: PromptGuard, batch: Sequence[PromptRow], actions: dict[str, int]
                 ) -> tuple[list[dict[str, Any]], int]:
    good: list[PromptRow] = []
    lines: dict[str, dict[str, Any]] = {}
    for r in batch:
        try:
            guard.validate(r.prompt)
            good.append(r)
        except InputDataError as exc:
            lines[r.id] = {"id": r.id, "error": str(exc)}
    decisions = guard.check_batch([r.prompt for r in good]) if good else []
    for r, d in zip(good, decisions, strict=True):
        lines[r.id] = _row(r, d, guard)
        actions[d.action.value] = actions.get(d.action.value, 0) + 1
    return [lines[r.id] for r in batch], len(batch) - len(good)


def _repair_tail(path: Path) -> None:
    """Drop a torn (unterminated) last line left by a crash, so appends start on a new line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    with path.open("r+b") as fh:
        fh.truncate(cut)

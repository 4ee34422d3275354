"""Read a run folder (``manifest.json``, ``scores.json``, ``answers.parquet``) for the report.

Only the two JSON files are required. A missing ``answers.parquet`` means no thumbnails (the report
says so); an unreadable one is an :class:`~fairframe.errors.InputDataError`, because a half-written
run should be rerun rather than reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairframe.errors import InputDataError

__all__ = ["ANSWER_COLUMNS", "RunFolder", "read_run"]

#: The columns of ``answers.parquet`` the report reads.
ANSWER_COLUMNS = (
    "caption_id", "caption", "bias_id", "seed", "image_path", "label", "label_prob",
)

_FIX = "run `fairframe audit run CONFIG --out {run}` first"


@dataclass(frozen=True)
class RunFolder:
    """The parsed contents of a run folder.

    Attributes
    ----------
    path:
        The run folder.
    manifest, scores:
        ``manifest.json`` and ``scores.json`` as parsed JSON objects.
    answers:
        One dict per row of ``answers.parquet`` (only :data:`ANSWER_COLUMNS`), or ``None`` when
        the file does not exist.
    """

    path: Path
    manifest: dict[str, Any]
    scores: dict[str, Any]
    answers: list[dict[str, Any]] | None


def _read_json(path: Path, run: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputDataError(
            f"{path.name} not found in {run}; {_FIX.format(run=run)}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(
            f"{path} is not readable JSON ({exc}); rerun `fairframe audit run CONFIG --out {run}` "
            "to rewrite it"
        ) from exc
    if not isinstance(data, dict):
        raise InputDataError(
            f"{path} holds a JSON {type(data).__name__}, not an object; rerun "
            f"`fairframe audit run CONFIG --out {run}` to rewrite it"
        )
    return data


def _read_answers(path: Path, run: Path) -> list[dict[str, Any]] | None:
    if not path.exists():
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    fix = f"rerun `fairframe audit run CONFIG --out {run}` to rewrite it"
    try:
        schema = pq.read_schema(path)
        missing = [c for c in ANSWER_COLUMNS if c not in schema.names]
        if missing:
            raise InputDataError(
                f"{path} lacks the column(s) {', '.join(missing)}; {fix}"
            )
        table = pq.read_table(path, columns=list(ANSWER_COLUMNS))
    except InputDataError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise InputDataError(f"{path} is not a readable Parquet file ({exc}); {fix}") from exc
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def read_run(run_dir: str | Path) -> RunFolder:
    """Read a run folder written by ``fairframe audit run``.

    Raises
    ------
    InputDataError
        The folder, ``manifest.json`` or ``scores.json`` is missing or unreadable, or
        ``answers.parquet`` exists but cannot be read.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise InputDataError(f"run folder {run} does not exist; {_FIX.format(run=run)}")
    manifest = _read_json(run / "manifest.json", run)
    scores = _read_json(run / "scores.json", run)
    answers = _read_answers(run / "answers.parquet", run)
    return RunFolder(run, manifest, scores, answers)

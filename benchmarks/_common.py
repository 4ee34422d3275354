"""Shared helpers for the benchmark scripts."""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: The public labelled prompt sets (``../shared/datasets``; override with ``FAIRFRAME_DATASETS``).
DATASETS = Path(os.environ.get(
    "FAIRFRAME_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def read_column(name: str, column: str, delimiter: str = ",") -> list[str] | None:
    """One column of a CSV/TSV file in :data:`DATASETS`, or ``None`` when the file is absent."""
    path = DATASETS / name
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh, delimiter=delimiter)]


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_result(name: str, data: dict[str, Any], *, quiet: bool = False) -> Path:
    """Write ``results/NAME.json`` with machine facts and print it (unless ``quiet``)."""
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(),
        "commit": commit(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    if not quiet:
        print(json.dumps(payload, indent=2))
    return path

"""Shared helpers for the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


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

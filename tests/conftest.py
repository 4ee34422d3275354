"""Test-wide settings: offline hubs, no telemetry, deterministic threads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "2")
# tiny models are built once per machine (deterministically) and reused across sessions
os.environ.setdefault(
    "FAIRFRAME_TINY_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "fairframe-test-tiny")
)
# never let a test touch the user's cache
os.environ["FAIRFRAME_CACHE_DIR"] = os.path.join(
    os.environ.get("TMPDIR", "/tmp"), f"fairframe-test-cache-{os.getpid()}"
)


@pytest.fixture
def fake_config(tmp_path: Path) -> dict[str, Any]:
    """A small all-fake audit config as a dict (captions: three built-in sample captions)."""
    return {
        "name": "fake",
        "cache_dir": str(tmp_path / "cache"),
        "captions": {"source": "builtin:sample", "limit": 3},
        "generator": {"backend": "fake", "size": 16, "batch_size": 4},
        "labeler": {"backend": "fake", "unknown_rate": 0.1},
        "generation": {"images_per_caption": 6, "seed": 0},
    }

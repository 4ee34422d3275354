"""Install checks: which extras and backends are usable, and an offline end-to-end self-test."""

from __future__ import annotations

import importlib.util
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fairframe._progress import NullProgress, Progress

__all__ = ["BackendStatus", "SelfTestResult", "backend_status", "run_selftest"]

#: Modules each built-in backend needs beyond the core install, and the extra that provides them.
REQUIREMENTS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("generator", "diffusers"): (("torch", "diffusers", "transformers"), "hf"),
    ("generator", "openai-images"): ((), ""),
    ("generator", "folder"): ((), ""),
    ("generator", "fake"): ((), ""),
    ("labeler", "vlm"): (("torch", "transformers"), "hf"),
    ("labeler", "blip-vqa"): (("torch", "transformers"), "hf"),
    ("labeler", "clip"): (("torch", "transformers"), "hf"),
    ("labeler", "openai-vision"): ((), ""),
    ("labeler", "fake"): ((), ""),
    ("labeler", "skin-tone"): (("cv2",), "measure"),
    ("labeler", "face-count"): (("cv2",), "measure"),
    ("labeler", "colorfulness"): ((), ""),
    ("labeler", "nudity"): (("nudenet", "onnxruntime"), "nudenet"),
    ("llm", "openai-chat"): ((), ""),
    ("llm", "transformers"): (("torch", "transformers"), "hf"),
    ("llm", "fake"): ((), ""),
}


@dataclass(frozen=True)
class BackendStatus:
    """Whether a built-in backend can be used here."""

    kind: str
    name: str
    usable: bool
    missing: tuple[str, ...]
    extra: str


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def backend_status() -> list[BackendStatus]:
    """Check every built-in backend's dependencies without importing them."""
    out = []
    for (kind, name), (mods, extra) in REQUIREMENTS.items():
        missing = tuple(m for m in mods if not _installed(m))
        out.append(BackendStatus(kind, name, not missing, missing, extra))
    return out


def library_versions(names: tuple[str, ...] = ("torch", "diffusers", "transformers",
                                               "accelerate", "numpy", "pyarrow")) -> dict[str, str]:
    """Installed versions of the libraries that matter, ``"missing"`` otherwise."""
    found = {}
    for n in names:
        try:
            found[n] = version(n)
        except PackageNotFoundError:
            found[n] = "missing"
    return found


@dataclass(frozen=True)
class SelfTestResult:
    """Outcome of :func:`run_selftest`."""

    ok: bool
    backends: str
    seconds: float
    first_run: dict[str, int]
    second_run: dict[str, int]
    problem: str | None


def selftest_config(use_models: bool) -> dict[str, Any]:
    """The tiny offline audit the self-test runs (tiny random models when ``use_models``)."""
    gen: dict[str, Any] = (
        {"backend": "diffusers", "model": "tiny://stable-diffusion", "device": "cpu"}
        if use_models else {"backend": "fake"}
    )
    lab: dict[str, Any] = (
        {"backend": "clip", "model": "tiny://clip", "device": "cpu"}
        if use_models else {"backend": "fake"}
    )
    return {
        "name": "doctor-selftest",
        "captions": {"source": "builtin:sample", "limit": 3},
        "generator": gen,
        "labeler": lab,
        "generation": {"images_per_caption": 2, "height": 32, "width": 32,
                       "num_inference_steps": 2, "guidance_scale": 2.0},
        "export_images": False,
    }


def run_selftest(*, use_models: bool | None = None, progress: Progress | None = None,
                 workdir: Path | None = None) -> SelfTestResult:
    """Run a tiny audit twice in a temporary folder: the first run must compute everything, the
    second must come entirely from the cache with identical scores."""
    from fairframe.audit.pipeline import run_audit
    from fairframe.config import parse_config
    from fairframe.errors import FairframeError

    if use_models is None:
        use_models = all(_installed(m) for m in ("torch", "diffusers", "transformers"))
    cfg = parse_config(selftest_config(use_models), source="doctor self-test")
    start = time.perf_counter()
    label = "tiny diffusers + tiny CLIP" if use_models else "fake generator + fake labeler"
    with tempfile.TemporaryDirectory(prefix="fairframe-doctor-", dir=workdir) as tmp:
        root = Path(tmp)
        try:
            first = run_audit(cfg, root / "run1", cache_dir=root / "cache",
                              progress=progress or NullProgress())
            second = run_audit(cfg, root / "run2", cache_dir=root / "cache")
        except FairframeError as exc:
            return SelfTestResult(False, label, time.perf_counter() - start, {}, {}, str(exc))
    problem = None
    if first.counts["images_generated"] == 0 or first.counts["labels_computed"] == 0:
        problem = "the first run computed nothing"
    elif second.counts["images_generated"] or second.counts["labels_computed"]:
        problem = "the second run did not resume from the cache"
    elif first.scores["biases"] != second.scores["biases"]:
        problem = "the resumed run gave different scores"
    return SelfTestResult(problem is None, label, time.perf_counter() - start, first.counts,
                          second.counts, problem)

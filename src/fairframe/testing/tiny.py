"""Tiny, randomly initialised models built from configs, for offline tests, examples and doctor.

``tiny://NAME`` model references resolve here. Each builder writes a complete ``save_pretrained``
folder (weights, config, tokenizer/processor files written by the builder itself) with a fixed torch
seed, so the same Fairframe version always builds the same weights. The folders live under
``$FAIRFRAME_TINY_DIR`` (default ``~/.cache/fairframe/tiny``) and are built once; the backends then
load them with the real ``from_pretrained`` code, exactly as they load hub models.

These models produce noise: they prove the plumbing, not any result.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

from fairframe.errors import ConfigError
from fairframe.registry import import_object

__all__ = ["TINY_BUILDERS", "tiny_dir", "tiny_model_path"]

#: Version of the builders; bump it whenever a builder changes so stale folders are rebuilt.
TINY_VERSION = "1"

#: ``tiny://NAME`` → ``"module:function(path)"`` that writes the model folder.
TINY_BUILDERS: dict[str, str] = {
    "stable-diffusion": "fairframe.testing._tiny_sd:build_tiny_stable_diffusion",
    "clip": "fairframe.testing._tiny_clip:build_tiny_clip",
    "blip-vqa": "fairframe.testing._tiny_blip:build_tiny_blip_vqa",
    "llava": "fairframe.testing._tiny_llava:build_tiny_llava",
    "causal-lm": "fairframe.testing._tiny_lm:build_tiny_causal_lm",
    "text-classifier": "fairframe.testing._tiny_textcls:build_tiny_text_classifier",
    "image-classifier": "fairframe.testing._tiny_imgcls:build_tiny_image_classifier",
}

_lock = threading.Lock()


def tiny_dir() -> Path:
    """Where tiny models are kept: ``$FAIRFRAME_TINY_DIR`` or ``~/.cache/fairframe/tiny``."""
    env = os.environ.get("FAIRFRAME_TINY_DIR")
    return Path(env) if env else Path.home() / ".cache" / "fairframe" / "tiny"


def tiny_model_path(name: str) -> Path:
    """Build ``tiny://name`` if needed and return its folder."""
    if name not in TINY_BUILDERS:
        raise ConfigError(
            f"unknown tiny model 'tiny://{name}'; available: "
            + ", ".join(f"tiny://{n}" for n in sorted(TINY_BUILDERS))
        )
    target = tiny_dir() / f"{name}-v{TINY_VERSION}"
    if (target / ".complete").exists():
        return target
    with _lock:
        if (target / ".complete").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            import_object(TINY_BUILDERS[name])(tmp)
            (tmp / ".complete").write_text("ok\n")
            try:
                tmp.rename(target)
            except OSError:
                # another process finished first; keep theirs
                if not (target / ".complete").exists():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target

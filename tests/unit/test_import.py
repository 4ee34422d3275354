"""`import fairframe` must stay light: no torch, diffusers, transformers."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "accelerate", "ray", "mediapipe", "nudenet")


def test_import_fairframe_imports_no_heavy_library() -> None:
    code = (
        "import sys, fairframe, fairframe.audit, fairframe.backends, fairframe.cli;"
        "from fairframe.backends import GENERATORS, LABELERS, LLMS;"
        "[r.get(n) for r in (GENERATORS, LABELERS, LLMS) for n in r.names()];"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported: {out.stdout}"


def test_missing_extra_names_the_extra() -> None:
    from fairframe._deps import require
    from fairframe.errors import MissingDependencyError

    try:
        require("surely_not_installed_pkg", "a test", extra="hf")
    except MissingDependencyError as exc:
        assert 'fairframe[hf]' in str(exc) and "a test" in str(exc)
        assert isinstance(exc, ImportError)
    else:
        raise AssertionError("expected MissingDependencyError")

"""Fairframe: audit, explain, mitigate and guard text-to-image models for bias and unsafe content.

``import fairframe`` is light: it never imports torch, diffusers, transformers or any other heavy
library; the backends that need them import them on first use, and the audit API below is loaded
on first access.

>>> import fairframe
>>> cfg = fairframe.parse_config({
...     "captions": {"source": "builtin:sample", "limit": 2},
...     "generator": {"backend": "fake"},
...     "labeler": {"backend": "fake"},
...     "generation": {"images_per_caption": 4},
... })
>>> cfg.generation.images_per_caption
4
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fairframe._version import __version__
from fairframe.config import AuditConfig, load_config, parse_config
from fairframe.errors import (
    BackendError,
    ConfigError,
    FairframeError,
    MissingDependencyError,
    UnknownComponentError,
)
from fairframe.registry import Registry

if TYPE_CHECKING:
    from fairframe.audit.pipeline import AuditPlan, AuditResult, plan_audit, run_audit

__all__ = [
    "AuditConfig",
    "AuditPlan",
    "AuditResult",
    "BackendError",
    "ConfigError",
    "FairframeError",
    "MissingDependencyError",
    "Registry",
    "UnknownComponentError",
    "__version__",
    "load_config",
    "parse_config",
    "plan_audit",
    "run_audit",
]

_LAZY = {"AuditPlan", "AuditResult", "plan_audit", "run_audit"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from fairframe.audit import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'fairframe' has no attribute {name!r}")

"""Typed audit configuration, loaded from TOML or YAML.

A config file has these sections (``docs/audit.md`` documents every key)::

    name = "my-audit"
    cache_dir = "cache"                   # optional; relative paths are relative to the file

    [captions]
    source = "builtin:professions"        # or a .txt / .csv / .tsv / .jsonl file
    limit = 20

    [proposer]
    kind = "taxonomy"                     # or "llm", with an [proposer.llm] component

    [generator]                           # a component: `backend` + the backend's own options
    backend = "diffusers"
    model = "stabilityai/sd-turbo"

    [labeler]
    backend = "clip"

    [generation]
    images_per_caption = 10
    seed = 0
    num_inference_steps = 4

Models are immutable after validation. A bad key or value raises
:class:`~fairframe.errors.ConfigError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fairframe.errors import ConfigError

E = TypeVar("E", bound=Enum)

__all__ = [
    "AuditConfig",
    "CaptionsConfig",
    "ComponentConfig",
    "GenerationConfig",
    "ProposerConfig",
    "SamplingConfig",
    "ConfusionConfig",
    "ReferenceConfig",
    "ScoringConfig",
    "default_cache_dir",
    "load_config",
    "parse_config",
    "read_config_file",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentConfig(BaseModel):
    """A backend by registry name plus that backend's own keyword options.

    Every key other than ``backend`` is passed to the backend's constructor, which checks it.
    String options starting with ``./`` or ``../`` are paths relative to the config file.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    backend: str = Field(description="Registry name, or 'package.module:Name'.")

    @property
    def options(self) -> dict[str, Any]:
        """The backend's constructor options."""
        return dict(self.model_extra or {})


class CaptionsConfig(_Model):
    """Where the captions come from."""

    source: str = Field(description="'builtin:NAME' or a .txt/.csv/.tsv/.jsonl path.")
    column: str | None = Field(None, description="Column holding the caption (CSV/TSV/JSONL).")
    limit: int | None = Field(None, ge=1, description="Use at most this many captions.")


class ProposerConfig(_Model):
    """How biases are proposed for each caption."""

    kind: Literal["taxonomy", "llm"] = "taxonomy"
    llm: ComponentConfig | None = Field(None, description="The LLM component when kind='llm'.")
    max_attempts: int = Field(3, ge=1, le=10, description="LLM tries per caption.")
    merge_overlap: float = Field(
        0.75, gt=0.0, le=1.0, description="Class-set overlap at which two biases merge."
    )

    @model_validator(mode="after")
    def _llm_needed(self) -> ProposerConfig:
        if self.kind == "llm" and self.llm is None:
            raise ValueError("kind = 'llm' needs a [proposer.llm] section with a backend")
        return self


class GenerationConfig(_Model):
    """Generation parameters, with the same names in every backend."""

    images_per_caption: int = Field(10, ge=1, le=100_000)
    seed: int = Field(0, ge=0, le=2**62,
                      description="Image i of every caption uses seed + i (at most 2**62, so "
                      "every seed fits the 64-bit integers generators and result tables use).")
    negative_prompt: str | None = None
    height: int | None = Field(None, ge=8, le=8192)
    width: int | None = Field(None, ge=8, le=8192)
    guidance_scale: float | None = Field(None, ge=0.0)
    num_inference_steps: int | None = Field(None, ge=1, le=1000)


class SamplingConfig(_Model):
    """Fixed N images per caption, or adaptive rounds that stop when the answer is clear.

    In adaptive mode every caption first gets ``round_size`` images, then rounds of
    ``round_size`` more while any of its biases is undecided, up to ``max_images_per_caption``.
    A (caption, bias) stops when its shares deviate from the reference (false-alarm rate at
    most ``alpha``), when they are consistent with it (a deviation of ``margin`` or more is missed
    with probability at most ``beta``), or, with ``target_halfwidth``, when the anytime-valid
    interval of every share is that narrow. The rule uses e-values, so error rates hold however
    often it looks (``docs/statistics.md``).
    """

    mode: Literal["fixed", "adaptive"] = "fixed"
    round_size: int = Field(10, ge=2, le=10_000)
    max_images_per_caption: int = Field(300, ge=2, le=100_000)
    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    beta: float = Field(0.2, gt=0.0, lt=0.5)
    margin: float = Field(0.1, gt=0.0, lt=0.5)
    target_halfwidth: float | None = Field(None, gt=0.0, lt=0.5)

    @model_validator(mode="after")
    def _budget(self) -> SamplingConfig:
        if self.max_images_per_caption < self.round_size:
            raise ValueError("max_images_per_caption must be at least round_size")
        return self


class ReferenceConfig(_Model):
    """A reference distribution for one bias (optionally one caption), e.g. labour statistics.

    Without a reference a bias is compared with the uniform distribution over its classes.
    """

    bias: str = Field(description="Bias id, e.g. 'person/gender' (see scores.json).")
    caption: str | None = Field(
        None, description="Caption id or exact caption text; omit for every caption of the bias."
    )
    shares: dict[str, float] = Field(description="Share of each class; must cover every class.")

    @model_validator(mode="after")
    def _shares(self) -> ReferenceConfig:
        negative = {k: v for k, v in self.shares.items() if v < 0}
        if negative:
            raise ValueError(f"shares must be >= 0, got {negative}")
        if sum(1 for v in self.shares.values() if v > 0) < 2:
            raise ValueError(
                f"shares {self.shares} give a positive share to fewer than two classes; a "
                "reference needs at least two (a class with share 0 can never be matched)")
        return self


class ConfusionConfig(_Model):
    """A labeler's confusion counts on a validated set, for error-corrected shares.

    ``counts[i][j]`` = images whose true class is ``classes[i]`` that the labeler called
    ``classes[j]``; a last column for ``unknown`` answers is optional.
    """

    bias: str
    classes: list[str]
    counts: list[list[int]]


class ScoringConfig(_Model):
    """How answers become scores."""

    min_n: int = Field(
        2, ge=1, description="Fewest non-unknown answers for a score; below it: insufficient_data."
    )
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Confidence level of intervals.")
    posterior_draws: int = Field(2000, ge=100, le=100_000)
    references: list[ReferenceConfig] = Field(
        default_factory=list, description="Reference shares per bias (default: uniform)."
    )
    confusion: list[ConfusionConfig] = Field(
        default_factory=list, description="Labeler confusion counts for corrected shares."
    )
    intersections: list[tuple[str, str]] | None = Field(
        None,
        description="Bias pairs to cross-tabulate; default: every pair among gender, age, "
        "skin tone and race/ethnicity that the run has.",
    )


class AuditConfig(_Model):
    """A complete audit run specification."""

    name: str = "audit"
    cache_dir: Path | None = Field(
        None,
        description="Cache folder; default $FAIRFRAME_CACHE_DIR, else ~/.cache/fairframe/store.",
    )
    captions: CaptionsConfig
    proposer: ProposerConfig = ProposerConfig()
    generator: ComponentConfig
    labeler: ComponentConfig
    generation: GenerationConfig = GenerationConfig()
    sampling: SamplingConfig = SamplingConfig()
    scoring: ScoringConfig = ScoringConfig()
    export_images: bool = Field(
        True, description="Link (or copy) every image into OUT/images/ for browsing."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v


def enum_member(enum_cls: type[E], value: object, what: str, *, where: str = "") -> E:
    """``enum_cls(value)``, or a :class:`ConfigError` naming ``what``, the bad value and every
    allowed value (prefixed with ``where:`` when given).

    >>> from fairframe.guard.decision import Action
    >>> enum_member(Action, "block", "action").value
    'block'
    """
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_cls)
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}unknown {what} {value!r}; allowed: {allowed}") from None


def read_config_file(path: Path, kind: str = "config") -> Any:
    """Parse a ``.toml``, ``.yaml`` or ``.yml`` file; every failure is a one-line
    :class:`ConfigError` naming the ``kind`` of file, its path and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{kind} file {path} does not exist; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {kind} file {path}: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{kind} file {path} is not valid TOML: {exc}") from exc
    except yaml.YAMLError as exc:
        first = str(exc).replace("\n", " ")
        raise ConfigError(f"{kind} file {path} is not valid YAML: {first}") from exc
    raise ConfigError(f"{kind} file {path} must end in .toml, .yaml or .yml (got {suffix!r})")


def _read(path: Path) -> dict[str, Any]:
    data = read_config_file(path, "config")
    if data is None or data == {}:
        raise ConfigError(f"config file {path} is empty; see examples/tiny.toml")
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table/mapping at the top level")
    return data


def _resolve_paths(data: Any, base: Path) -> Any:
    if isinstance(data, dict):
        return {k: _resolve_paths(v, base) for k, v in data.items()}
    if isinstance(data, list):
        return [_resolve_paths(v, base) for v in data]
    if isinstance(data, str) and data.startswith(("./", "../")):
        return str((base / data).resolve())
    return data


def _allowed(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names allowed at ``loc`` (walking nested models)."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        ann = fields[part].annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if hasattr(a, "model_fields")), None)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return sorted(fields)


def format_validation_error(exc: ValidationError, source: str, model: type[BaseModel]) -> str:
    """One line per problem: ``source: [section] key: message (allowed: ...)``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        section = ".".join(str(p) for p in loc[:-1])
        key = str(loc[-1]) if loc else "(top level)"
        where = f"[{section}] {key}" if section else key
        if err["type"] == "extra_forbidden":
            allowed = _allowed(model, loc)
            msg = f"unknown key; allowed: {', '.join(allowed)}" if allowed else "unknown key"
        elif err["type"] == "missing":
            msg = "is required"
        else:
            msg = f"{err['msg']} (got {err.get('input')!r})"
        lines.append(f"{where}: {msg}")
    return f"{source}: " + "; ".join(lines)


def default_cache_dir() -> Path:
    """``$FAIRFRAME_CACHE_DIR``, else ``~/.cache/fairframe/store``."""
    env = os.environ.get("FAIRFRAME_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fairframe" / "store"


def parse_config(data: Mapping[str, Any], *, source: str = "<config>") -> AuditConfig:
    """Validate a mapping into an :class:`AuditConfig`."""
    try:
        return AuditConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, AuditConfig)) from exc


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> AuditConfig:
    """Read and validate an audit config from a TOML or YAML file.

    Relative paths (``cache_dir``, ``captions.source`` and ``./``-prefixed component options) are
    resolved against the file's folder.

    Parameters
    ----------
    path:
        The config file.
    overrides:
        Top-level keys that replace the file's values (used by the CLI).
    """
    path = Path(path)
    data = _read(path)
    base = path.resolve().parent
    data = _resolve_paths(data, base)
    for key, value in (overrides or {}).items():
        data[key] = value
    if isinstance(data.get("cache_dir"), str):
        data["cache_dir"] = str((base / Path(data["cache_dir"]).expanduser()).resolve())
    captions = data.get("captions")
    if isinstance(captions, dict) and isinstance(captions.get("source"), str):
        src = captions["source"]
        if not src.startswith("builtin:") and not Path(src).is_absolute():
            captions["source"] = str((base / src).resolve())
    return parse_config(data, source=str(path))

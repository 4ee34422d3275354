"""The guard configuration file: policy, stages, fusion, rewriters and the service.

One TOML or YAML file configures ``fairframe guard check|scan|serve`` and
:meth:`GuardConfig.build_guard`. Every key is optional; an empty file gives the default guard
(lexicon + embedding classifier + gibberish detector, default policy, anonymizer and forced
negatives on)::

    policy = "policy.toml"             # default: the built-in policy
    fusion = "fusion.json"             # default: weighted noisy-OR with identity calibration
    max_prompt_chars = 4000

    [stages.lexicon]                   # fast term matching (always recommended)
    directory = "my_lexicons"          # optional: a folder of <category>.txt lists instead

    [stages.embedding]                 # MiniLM classifier (extra "guard")
    enabled = true
    required = true                    # fail closed when it errors (default for built-ins)

    [stages.gibberish]                 # token-soup detector

    [stages.llm_judge]                 # optional judge over an OpenAI-compatible endpoint
    enabled = true
    base_url = "http://127.0.0.1:8000/v1"
    model = "llama-guard-3"
    required = false

    [[stages.hf_classifiers]]          # any Hugging Face text-classification model
    model = "org/nsfw-prompt-classifier"
    labels = { nsfw = "sexual" }

    [rewrite]
    anonymize = true
    negatives = true
    [rewrite.diversity]                # off unless enabled
    enabled = true
    [rewrite.llm]                      # optional LLM rewrite of risky prompts
    base_url = "http://127.0.0.1:8000/v1"
    model = "qwen2.5-7b-instruct"

    [service]                          # fairframe guard serve
    database_url = "sqlite:///guard.db"

Keys of a stage table other than ``enabled`` and ``required`` are passed to the stage's
constructor; an unknown one is a :class:`~fairframe.errors.ConfigError` that lists the accepted
keys.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairframe.config import read_config_file
from fairframe.errors import ConfigError
from fairframe.guard.fusion import Fusion
from fairframe.guard.pipeline import DEFAULT_MAX_PROMPT_CHARS, PromptGuard
from fairframe.guard.policy import Policy, default_policy, load_policy
from fairframe.guard.stage import PromptStage

__all__ = [
    "DiversityConfig",
    "GuardConfig",
    "RewriteConfig",
    "ServiceConfig",
    "StageConfig",
    "StagesConfig",
    "load_guard_config",
]

#: Stage table name -> "module:Class" of its implementation.
STAGE_CLASSES: Mapping[str, str] = {
    "lexicon": "fairframe.guard.lexicon:Lexicon",
    "embedding": "fairframe.guard.embedding:EmbeddingClassifier",
    "gibberish": "fairframe.guard.gibberish:GibberishDetector",
    "llm_judge": "fairframe.guard.llm_judge:LLMJudge",
    "hf_classifiers": "fairframe.guard.hf_classifier:HFTextClassifier",
}


class StageConfig(BaseModel):
    """One stage: ``enabled``, ``required`` and constructor options (any other key)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    enabled: bool = True
    required: bool | None = Field(
        None, description="Fail closed when the stage errors; default true for local stages, "
        "false for the LLM judge and Hugging Face classifiers.",
    )

    @property
    def options(self) -> dict[str, Any]:
        """The constructor keyword arguments (every key but enabled/required)."""
        return dict(self.model_extra or {})


class StagesConfig(BaseModel):
    """The prompt stages, in run order: lexicon, embedding, gibberish, HF classifiers, judge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lexicon: StageConfig = StageConfig()
    embedding: StageConfig = StageConfig()
    gibberish: StageConfig = StageConfig()
    hf_classifiers: tuple[StageConfig, ...] = ()
    llm_judge: StageConfig = StageConfig(enabled=False)


class DiversityConfig(BaseModel):
    """The diversity augmenter (off by default); other keys go to its constructor."""

    model_config = ConfigDict(extra="allow", frozen=True)

    enabled: bool = False


class RewriteConfig(BaseModel):
    """Which rewriters run (see :mod:`fairframe.guard.pipeline` for when)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anonymize: bool = True
    negatives: bool = True
    diversity: DiversityConfig = DiversityConfig()
    llm: dict[str, Any] | None = Field(
        None, description="Options of the LLM rewriter (base_url, model, ...); off when absent."
    )


class ServiceConfig(BaseModel):
    """Settings of ``fairframe guard serve``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    database_url: str = Field(
        "sqlite:///guard.db", description="SQLite file or postgresql+psycopg://... URL."
    )
    require_api_key: bool = Field(True, description="Reject requests without a valid API key.")
    max_body_bytes: int = Field(64 * 1024, ge=256, description="Largest request body accepted.")
    workers_threads: int = Field(
        4, ge=1, description="Threads that run guard checks next to the event loop."
    )
    opentelemetry: bool = Field(
        False, description="FastAPI's native OpenTelemetry tracing/metrics (needs opentelemetry "
        "and its configured providers); Prometheus metrics at /metrics are always on.",
    )
    enforcement: dict[str, Any] = Field(
        default_factory=dict, description="Enforcement settings (rate limits, strikes, review)."
    )


class GuardConfig(BaseModel):
    """The whole guard configuration file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Path | None = None
    fusion: Path | None = None
    max_prompt_chars: int = Field(DEFAULT_MAX_PROMPT_CHARS, ge=1)
    stages: StagesConfig = StagesConfig()
    rewrite: RewriteConfig = RewriteConfig()
    service: ServiceConfig = ServiceConfig()
    source: str = Field("<defaults>", exclude=True, description="Where the config came from.")

    def load_policy(self) -> Policy:
        """The configured policy (the built-in default when ``policy`` is not set)."""
        return default_policy() if self.policy is None else load_policy(self.policy)

    def build_stages(self) -> tuple[list[PromptStage], set[str]]:
        """Instantiate the enabled stages; returns them and the names of required ones."""
        stages: list[PromptStage] = []
        required: set[str] = set()
        policy = self.load_policy()
        entries: list[tuple[str, StageConfig, bool]] = [
            ("lexicon", self.stages.lexicon, True),
            ("embedding", self.stages.embedding, True),
            ("gibberish", self.stages.gibberish, True),
            *(("hf_classifiers", s, False) for s in self.stages.hf_classifiers),
            ("llm_judge", self.stages.llm_judge, False),
        ]
        for key, cfg, required_default in entries:
            if not cfg.enabled:
                continue
            stage = _build_stage(key, cfg.options, policy, self.source)
            stages.append(stage)
            if cfg.required if cfg.required is not None else required_default:
                required.add(stage.name)
        return stages, required

    def build_rewriters(self) -> list[Any]:
        """Instantiate the configured rewriters, in order: anonymize, diversity, negatives, llm."""
        r = self.rewrite
        if not (r.anonymize or r.diversity.enabled or r.negatives or r.llm is not None):
            return []
        from fairframe.guard import rewriters as rw

        out: list[Any] = []
        policy = self.load_policy()
        if self.rewrite.anonymize:
            out.append(rw.Anonymizer())
        if self.rewrite.diversity.enabled:
            opts = dict(self.rewrite.diversity.model_extra or {})
            out.append(_construct(rw.DiversityAugmenter, opts, "rewrite.diversity", self.source))
        if self.rewrite.negatives:
            out.append(_construct(rw.ForcedNegatives, {"policy": policy}, "rewrite.negatives",
                                  self.source))
        if self.rewrite.llm is not None:
            out.append(_construct(rw.LLMRewriter, dict(self.rewrite.llm), "rewrite.llm",
                                  self.source))
        return out

    def build_guard(self, *, policy: Policy | None = None) -> PromptGuard:
        """The :class:`~fairframe.guard.pipeline.PromptGuard` this file describes."""
        stages, required = self.build_stages()
        fusion = Fusion() if self.fusion is None else Fusion.load(self.fusion)
        return PromptGuard(
            stages,
            policy=policy if policy is not None else self.load_policy(),
            fusion=fusion,
            required=required,
            rewriters=self.build_rewriters(),
            max_prompt_chars=self.max_prompt_chars,
        )


def _build_stage(key: str, options: dict[str, Any], policy: Policy, source: str) -> PromptStage:
    module_name, _, attr = STAGE_CLASSES[key].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if key == "lexicon":
        directory = options.pop("directory", None)
        backend = options.pop("backend", "auto")
        if options:
            raise ConfigError(
                f"{source}: stages.lexicon: unknown keys {sorted(options)}; allowed: enabled, "
                "required, directory, backend"
            )
        if directory is None:
            from fairframe.guard.lexicon import Lexicon

            return Lexicon.default(backend=backend)
        stage: PromptStage = cls.from_directory(directory, backend=backend)
        return stage
    if "policy" in inspect.signature(cls).parameters and "policy" not in options:
        options = {**options, "policy": policy}
    built: PromptStage = _construct(cls, options, f"stages.{key}", source)
    return built


def _construct(cls: Any, options: dict[str, Any], where: str, source: str) -> Any:
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(set(options) - set(params))
    if unknown and not accepts_any:
        allowed = ", ".join(n for n in params if n not in ("self",))
        raise ConfigError(f"{source}: {where}: unknown keys {unknown}; allowed: {allowed}")
    try:
        return cls(**options)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {where}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {where}: {exc}") from exc


def load_guard_config(path: str | Path | None) -> GuardConfig:
    """Read a guard config file (``None`` gives the defaults).

    Relative ``policy`` and ``fusion`` paths are resolved against the file's folder.

    Raises
    ------
    ConfigError
        Naming the file, the key and the allowed keys.
    """
    if path is None:
        return GuardConfig()
    p = Path(path)
    data = read_config_file(p, "guard config")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"guard config file {p} must hold a table/mapping at the top level")
    for key in ("policy", "fusion"):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(p.parent / data[key])
    try:
        return GuardConfig.model_validate({**data, "source": str(p)})
    except ValidationError as exc:
        raise ConfigError(_format(exc, str(p))) from exc


def _format(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(x) for x in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            model: Any = GuardConfig
            for part in parent:
                fields = getattr(model, "model_fields", {})
                field = fields.get(str(part))
                model = field.annotation if field is not None else None
            allowed = ", ".join(sorted(getattr(model, "model_fields", {})))
            lines.append(f"{key}: unknown key; allowed: {allowed}")
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return f"{source}: " + "; ".join(lines)

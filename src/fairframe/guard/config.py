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
    typos = true                       # one-typo variants of the terms (default: on for the
                                       # shipped lists with pyahocorasick, off for a directory)
    frames = true                      # protective frames ("a workshop on preventing
                                       # harassment"; frames.txt, docs/guard.md)

    [stages.embedding]                 # MiniLM classifier (extra "guard")
    enabled = true
    required = true                    # fail closed when it errors (default for built-ins)
    support_margin = 0.08              # exemplar support gate (docs/guard.md); support = false
                                       # turns it off

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
    batching = "auto"                  # micro-batch prompt checks unless a stage is remote

    [image.nudenet]                    # image checks (NudeNet is AGPL-3.0: extra "nudenet")
    min_score = 0.2
    [[image.hf_classifiers]]           # any Hugging Face image-classification model
    model = "Falconsai/nsfw_image_detection"
    labels = { nsfw = "nudity", normal = "none" }
    [image.vlm_judge]                  # optional VLM judge over OpenAI-compatible vision chat
    enabled = true
    base_url = "http://127.0.0.1:8000/v1"
    model = "qwen2.5-vl-7b-instruct"

    [transform]                        # img2img / inpainting check (constructor options)

    [generate]                         # the guarded generator behind /v1/generate
    backend = "diffusers"
    options = { model = "stable-diffusion-v1-5/stable-diffusion-v1-5" }
    budget = 4                         # generation attempts per request, first one included
    ladder = ["negative", "rewrite", "sld:medium", "sld:strong", "sld:max"]

    [provenance]                       # what every served image carries
    watermark_key_file = "wm.key"      # fairframe provenance keygen wm.key
    c2pa_cert_chain = "chain.pem"      # C2PA signing (extra "provenance")
    c2pa_private_key = "signer.key"
    trust_anchors = "root.pem"         # roots trusted when verifying incoming credentials

Keys of a stage table other than ``enabled`` and ``required`` are passed to the stage's
constructor; an unknown one is a :class:`~fairframe.errors.ConfigError` that lists the accepted
keys.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fairframe.config import read_config_file
from fairframe.errors import ConfigError
from fairframe.guard.fusion import Fusion
from fairframe.guard.pipeline import DEFAULT_MAX_PROMPT_CHARS, PromptGuard
from fairframe.guard.policy import Policy, default_policy, load_policy
from fairframe.guard.stage import PromptStage

if TYPE_CHECKING:
    from fairframe.guard.enforcement import Enforcer

__all__ = [
    "DiversityConfig",
    "GenerateConfig",
    "ImageStagesConfig",
    "ProvenanceConfig",
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

#: Image stage table name -> "module:Class" of its implementation.
IMAGE_STAGE_CLASSES: Mapping[str, str] = {
    "nudenet": "fairframe.guard.image.nudenet_stage:NudeNetStage",
    "hf_classifiers": "fairframe.guard.image.hf_image_classifier:HFImageClassifier",
    "vlm_judge": "fairframe.guard.image.vlm_judge:VLMJudge",
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


class ImageStagesConfig(BaseModel):
    """The image stages, in run order: NudeNet, HF image classifiers, the VLM judge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nudenet: StageConfig = StageConfig()
    hf_classifiers: tuple[StageConfig, ...] = ()
    vlm_judge: StageConfig = StageConfig(enabled=False)


class GenerateConfig(BaseModel):
    """The generator behind ``/v1/generate`` and its regeneration budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str | None = Field(
        None, description="Generator registry name (diffusers, openai-images, ...); none: the "
        "service has no /v1/generate.",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Generator options.")
    budget: int = Field(4, ge=1, le=16, description="Attempts per request, the first included.")
    ladder: tuple[str, ...] | None = Field(
        None, description="Escalation strategies after a flagged image (default: the "
        "regenerator's ladder).",
    )
    width: int | None = Field(None, ge=8, le=4096)
    height: int | None = Field(None, ge=8, le=4096)
    num_inference_steps: int | None = Field(None, ge=1, le=500)
    guidance_scale: float | None = Field(None, ge=0.0, le=100.0)


class ProvenanceConfig(BaseModel):
    """What served images carry, and which credentials incoming images are checked against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    watermark_key_file: Path | None = Field(
        None, description="Key of the invisible watermark (fairframe provenance keygen)."
    )
    c2pa_cert_chain: Path | None = Field(None, description="PEM chain: signer first, then CAs.")
    c2pa_private_key: Path | None = Field(None, description="PEM private key of the signer.")
    c2pa_algorithm: str = Field("es256", description="es256, es384, es512, ps256, ed25519 ...")
    trust_anchors: Path | None = Field(
        None, description="PEM roots trusted when verifying C2PA credentials."
    )
    model_name: str | None = Field(
        None, description="Model name recorded in manifests (default: the generator's model)."
    )


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
    max_image_body_bytes: int = Field(
        24 * 1024 * 1024, ge=1024,
        description="Largest body of the image endpoints (/v1/images/...): base64 images.",
    )
    workers_threads: int = Field(
        4, ge=1, description="Threads that run guard checks next to the event loop."
    )
    batching: Literal["auto", "on", "off"] = Field(
        "auto", description="Run prompt-check requests on one thread that checks everything "
        "queued in one guard call, admitting and logging the batch in one store transaction "
        "each: 'auto' turns it on unless a stage or rewriter calls a remote endpoint (the LLM "
        "judge or rewriter).",
    )
    batch_max: int = Field(32, ge=1, le=1024, description="Most prompts in one micro-batch.")
    batch_timeout_s: float = Field(
        120.0, gt=0, description="With micro-batching on, a prompt check that gets no decision "
        "within this many seconds answers 503 (a hanging stage).",
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
    image: ImageStagesConfig = ImageStagesConfig()
    transform: dict[str, Any] = Field(
        default_factory=dict, description="Options of the transformation check."
    )
    generate: GenerateConfig = GenerateConfig()
    provenance: ProvenanceConfig = ProvenanceConfig()
    source: str = Field("<defaults>", exclude=True, description="Where the config came from.")

    @field_validator("policy", "fusion", mode="before")
    @classmethod
    def _a_file(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("an empty path names no file; give a file path, or leave the key "
                             "out for the built-in default")
        return value

    def load_policy(self) -> Policy:
        """The configured policy (the built-in default when ``policy`` is not set)."""
        return default_policy() if self.policy is None else load_policy(self.policy)

    def open_enforcer(self) -> Enforcer:
        """Open the enforcement store of ``[service]`` (``database_url``, ``[service.enforcement]``
        settings, this config's policy for strike weights): the one the service, ``serve`` and
        the ``keys``/``review``/``log`` commands use.

        Raises
        ------
        StoreError
            The database cannot be opened (one line naming the URL and the fix).
        """
        from fairframe.guard.enforcement import EnforcementSettings, Enforcer

        return Enforcer.open(
            self.service.database_url,
            settings=EnforcementSettings.model_validate(self.service.enforcement),
            policy=self.load_policy(),
        )

    def build_stages(self) -> tuple[list[PromptStage], set[str]]:
        """Instantiate the enabled stages; returns them and the names of required ones."""
        entries: list[tuple[str, StageConfig, bool]] = [
            ("lexicon", self.stages.lexicon, True),
            ("embedding", self.stages.embedding, True),
            ("gibberish", self.stages.gibberish, True),
            *(("hf_classifiers", s, False) for s in self.stages.hf_classifiers),
            ("llm_judge", self.stages.llm_judge, False),
        ]
        return self._instantiate(entries, _build_stage)

    def _instantiate(self, entries: list[tuple[str, StageConfig, bool]],
                     build: Any) -> tuple[list[Any], set[str]]:
        """Build the enabled ``(key, config, required by default)`` entries with ``build``."""
        stages: list[Any] = []
        required: set[str] = set()
        policy = self.load_policy()
        for key, cfg, required_default in entries:
            if not cfg.enabled:
                continue
            stage = build(key, cfg.options, policy, self.source)
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

    def decision_config(self) -> dict[str, Any]:
        """The part of this config that decides a prompt check (``stages``, ``rewrite``,
        ``policy``, ``fusion``, ``max_prompt_chars``; not ``[service]``, ``[image]``...) as JSON
        data, with paths relative to the config file's folder: the same for a project that was
        moved. ``fairframe guard scan`` fingerprints its output lines with it."""
        data = self.model_dump(mode="json", include={
            "stages", "rewrite", "policy", "fusion", "max_prompt_chars"})
        if self.source.startswith("<"):
            return data
        out: dict[str, Any] = _relative_paths(data, Path(self.source).resolve().parent)
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

    def build_image_stages(self) -> tuple[list[Any], set[str]]:
        """Instantiate the enabled image stages; returns them and the names of required ones.

        NudeNet is required by default (the image path fails closed without it); HF classifiers
        and the VLM judge are optional unless ``required = true``.
        """
        entries: list[tuple[str, StageConfig, bool]] = [
            ("nudenet", self.image.nudenet, True),
            *(("hf_classifiers", s, False) for s in self.image.hf_classifiers),
            ("vlm_judge", self.image.vlm_judge, False),
        ]
        return self._instantiate(entries, _build_image_stage)

    def build_image_guard(self, *, policy: Policy | None = None) -> Any:
        """The :class:`~fairframe.guard.image.pipeline.ImageGuard` this file describes."""
        from fairframe.guard.image.pipeline import ImageGuard

        stages, required = self.build_image_stages()
        return ImageGuard(
            policy=policy if policy is not None else self.load_policy(),
            stages=stages,
            required=required,
        )

    def build_transform_check(self) -> Any:
        """The :class:`~fairframe.guard.image.transform.TransformationCheck` of ``[transform]``."""
        from fairframe.guard.image.transform import TransformationCheck

        return _construct(TransformationCheck, dict(self.transform), "transform", self.source)

    def build_generator(self) -> Any:
        """The generator of ``[generate]``, or ``None`` when no backend is configured."""
        if self.generate.backend is None:
            return None
        from fairframe.backends import GENERATORS, build_component

        return build_component(GENERATORS, self.generate.backend, self.generate.options,
                               where=f"{self.source}: generate")

    def build_watermark(self) -> Any:
        """The :class:`~fairframe.provenance.watermark.KeyedWatermark` of
        ``provenance.watermark_key_file``, or ``None`` when no key is configured."""
        if self.provenance.watermark_key_file is None:
            return None
        from fairframe.provenance.watermark import KeyedWatermark, load_key

        return KeyedWatermark(key=load_key(self.provenance.watermark_key_file))

    def trust_anchors_pem(self) -> bytes | None:
        """The PEM roots of ``provenance.trust_anchors``, or ``None``."""
        path = self.provenance.trust_anchors
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{self.source}: provenance.trust_anchors: cannot read {path}: {exc.strerror}"
            ) from exc

    def build_provenance(self) -> Any:
        """The :class:`~fairframe.guard.generate.ProvenanceSettings` of ``[provenance]``."""
        from fairframe.guard.generate import ProvenanceSettings

        prov = self.provenance
        credentials = None
        if (prov.c2pa_cert_chain is None) != (prov.c2pa_private_key is None):
            raise ConfigError(
                f"{self.source}: provenance: set both c2pa_cert_chain and c2pa_private_key "
                "(or neither)"
            )
        if prov.c2pa_cert_chain is not None and prov.c2pa_private_key is not None:
            from fairframe.provenance.c2pa import SigningCredentials

            credentials = SigningCredentials.from_files(
                prov.c2pa_cert_chain, prov.c2pa_private_key, algorithm=prov.c2pa_algorithm
            )
        model = prov.model_name or str(self.generate.options.get("model", self.generate.backend))
        return ProvenanceSettings(watermark=self.build_watermark(), credentials=credentials,
                                  model_name=model)

    def build_guarded_generator(self, *, prompt_guard: PromptGuard | None = None,
                                image_guard: Any = None) -> Any:
        """The :class:`~fairframe.guard.generate.GuardedGenerator` of ``[generate]``, or ``None``
        when no generator backend is configured."""
        generator = self.build_generator()
        if generator is None:
            return None
        from fairframe.guard.generate import GuardedGenerator

        g = self.generate
        defaults = {k: v for k, v in (("width", g.width), ("height", g.height),
                                      ("num_inference_steps", g.num_inference_steps),
                                      ("guidance_scale", g.guidance_scale)) if v is not None}
        return GuardedGenerator(
            prompt_guard=prompt_guard if prompt_guard is not None else self.build_guard(),
            image_guard=image_guard if image_guard is not None else self.build_image_guard(),
            generator=generator,
            budget=g.budget,
            ladder=g.ladder,
            provenance=self.build_provenance(),
            defaults=defaults,
        )


def _build_image_stage(key: str, options: dict[str, Any], policy: Policy, source: str) -> Any:
    module_name, _, attr = IMAGE_STAGE_CLASSES[key].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if "policy" in inspect.signature(cls).parameters and "policy" not in options:
        options = {**options, "policy": policy}
    return _construct(cls, options, f"image.{key}", source)


def _build_stage(key: str, options: dict[str, Any], policy: Policy, source: str) -> PromptStage:
    module_name, _, attr = STAGE_CLASSES[key].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if key == "lexicon":
        directory = options.pop("directory", None)
        backend = options.pop("backend", "auto")
        typos = options.pop("typos", None if directory is None else False)
        frames = options.pop("frames", True)
        if options:
            raise ConfigError(
                f"{source}: stages.lexicon: unknown keys {sorted(options)}; allowed: enabled, "
                "required, directory, backend, typos, frames"
            )
        if typos is not None and not isinstance(typos, bool):
            raise ConfigError(f"{source}: stages.lexicon: typos must be true or false")
        if not isinstance(frames, bool):
            raise ConfigError(f"{source}: stages.lexicon: frames must be true or false")
        if directory is None:
            from fairframe.guard.lexicon import Lexicon

            return Lexicon.default(backend=backend, typos=typos, frames=frames)
        stage: PromptStage = cls.from_directory(directory, backend=backend, typos=bool(typos),
                                                frames=frames)
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


def _relative_paths(value: Any, base: Path) -> Any:
    """``value`` with every absolute path inside ``base`` made relative to it."""
    if isinstance(value, dict):
        return {k: _relative_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative_paths(v, base) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        try:
            return Path(value).relative_to(base).as_posix()
        except ValueError:
            return value
    return value


def load_guard_config(path: str | Path | None) -> GuardConfig:
    """Read a guard config file (``None`` gives the defaults).

    Relative paths are resolved against the file's folder, not the working directory, so a
    config means the same from anywhere: ``policy``, ``fusion``, a SQLite ``database_url``
    (``sqlite:///guard.db`` is the ``guard.db`` next to the config), the stages' ``directory``,
    ``exemplars`` and ``head``, a stage ``model`` that names an existing folder there, and the
    provenance files.

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
    # resolved, so the same config gives the same paths however its own path was written
    base = p.parent.resolve()
    for key in ("policy", "fusion"):
        if key in data:
            data[key] = _resolve_path(data[key], base)
    _resolve_stage_paths(data, base)
    service = data.get("service")
    if service is None:
        service = data["service"] = {}
    if isinstance(service, dict):  # the default store, too, lives next to the config
        url = service.get("database_url", ServiceConfig.model_fields["database_url"].default)
        if isinstance(url, str):
            service["database_url"] = _resolve_sqlite_url(url, base)
    prov = data.get("provenance")
    if isinstance(prov, dict):
        for key in ("watermark_key_file", "c2pa_cert_chain", "c2pa_private_key", "trust_anchors"):
            if key in prov:
                prov[key] = _resolve_path(prov[key], base)
    try:
        return GuardConfig.model_validate({**data, "source": str(p)})
    except ValidationError as exc:
        raise ConfigError(_format(exc, str(p))) from exc


_STAGE_PATHS = ("directory", "exemplars", "head")
#: Stages whose ``model`` may be a local folder (elsewhere ``model`` is a name a server knows).
_MODEL_FOLDER_STAGES = ("embedding", "hf_classifiers")
_SQLITE_URL = re.compile(r"^(sqlite(?:\+\w+)?:///)(.*)$")


def _resolve_path(value: Any, base: Path) -> Any:
    """A relative path string against ``base`` (``~`` expanded first); anything else as is."""
    if not isinstance(value, str) or not value.strip():
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _resolve_stage_paths(data: dict[str, Any], base: Path) -> None:
    """Resolve the stages' relative file options against the config's folder (in place)."""
    stages = data.get("stages")
    if not isinstance(stages, dict):
        return
    for name, value in stages.items():
        entries = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
        for opts in (e for e in entries if isinstance(e, dict)):
            for key in _STAGE_PATHS:
                if key in opts:
                    opts[key] = _resolve_path(opts[key], base)
            model = opts.get("model")  # a hub id stays one; a folder next to the config is used
            if (name in _MODEL_FOLDER_STAGES and isinstance(model, str)
                    and not Path(model).expanduser().is_absolute()
                    and (base / Path(model).expanduser()).exists()):
                opts["model"] = str(base / Path(model).expanduser())


def _resolve_sqlite_url(url: str, base: Path) -> str:
    """A SQLite URL's relative file path against ``base`` (``sqlite:///rel.db``, also with a
    driver such as ``sqlite+pysqlite``); absolute paths, ``:memory:`` and ``file:`` URIs kept."""
    m = _SQLITE_URL.match(url)
    if m is None:
        return url
    path, sep, query = m.group(2).partition("?")
    if not path or path.startswith(("/", ":memory:", "file:")):
        return url
    return m.group(1) + str(base / Path(path).expanduser()) + sep + query


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
            fields = getattr(model, "model_fields", {})
            allowed = ", ".join(sorted(k for k, f in fields.items() if not f.exclude))
            lines.append(f"{key}: unknown key; allowed: {allowed}")
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return f"{source}: " + "; ".join(lines)

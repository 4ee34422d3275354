"""Text-to-image generation with a 🤗 diffusers pipeline (Stable Diffusion and relatives).

torch and diffusers are imported on first use, so this module imports without them; a missing one
raises :class:`~fairframe.errors.MissingDependencyError` naming the ``hf`` extra.

**Safety guidance (Safe Latent Diffusion).** A request with ``safety`` set (see
:attr:`~fairframe.types.GenerationRequest.safety`) is generated with diffusers'
``StableDiffusionPipelineSafe`` (Schramowski et al., CVPR 2023), built once from the loaded
pipeline's own modules (no second copy of the weights, no safety checker), with the preset of
:data:`SLD_PRESETS`:

========  ======  ========  =========  ==========  ========
preset    warmup  s_S       λ          s_m         β_m
========  ======  ========  =========  ==========  ========
weak      15      20        0.0        0.0         0.0
medium    10      1000      0.01       0.3         0.4
strong    7       2000      0.025      0.5         0.7
max       0       5000      1.0        0.5         0.7
========  ======  ========  =========  ==========  ========

(``sld_warmup_steps``, ``sld_guidance_scale``, ``sld_threshold``, ``sld_momentum_scale``,
``sld_mom_beta``: the values of diffusers' ``SafetyConfig``.) The warm-up counts denoising
steps and was tuned for 50 steps: with ``num_inference_steps <= warmup`` the safety term only
builds momentum and never changes the image (only ``max`` acts at every step). The image metadata
records ``safety``, the preset, ``sld_active_steps`` (steps at which the safety term was applied)
and ``safety_concept`` (the text steered away from). Only ``StableDiffusionPipeline`` models
(Stable Diffusion 1.x and 2.x) can do it: :attr:`DiffusersGenerator.supports_safety` says so, and a
safety request to another pipeline is a :class:`~fairframe.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from fairframe._deps import require
from fairframe.backends._hf import (
    HFModelOptions,
    LazyModel,
    check_common_options,
    dtype_kwarg,
    first_line,
    loading_model,
    quiet_hub_progress,
    resolve_device,
    resolve_dtype,
    resolve_model,
)
from fairframe.errors import BackendError, ConfigError, FairframeError
from fairframe.images import to_rgb
from fairframe.types import GeneratedImage, GenerationRequest, JSONValue

__all__ = ["SLD_CONCEPT", "SLD_PIPELINES", "SLD_PRESETS", "DiffusersGenerator"]

_PURPOSE = "the diffusers generator"

#: Requests that share these fields can go to the pipeline in one call.
_BatchKey = tuple[str | None, int | None, int | None, float | None, int | None, str | None]

#: Safe Latent Diffusion presets by :data:`~fairframe.types.SAFETY_LEVELS` name: the keyword
#: arguments of ``StableDiffusionPipelineSafe.__call__`` (diffusers ``SafetyConfig`` values).
SLD_PRESETS: Final[Mapping[str, Mapping[str, float]]] = MappingProxyType(
    {
        "weak": MappingProxyType({"sld_warmup_steps": 15, "sld_guidance_scale": 20,
                                  "sld_threshold": 0.0, "sld_momentum_scale": 0.0,
                                  "sld_mom_beta": 0.0}),
        "medium": MappingProxyType({"sld_warmup_steps": 10, "sld_guidance_scale": 1000,
                                    "sld_threshold": 0.01, "sld_momentum_scale": 0.3,
                                    "sld_mom_beta": 0.4}),
        "strong": MappingProxyType({"sld_warmup_steps": 7, "sld_guidance_scale": 2000,
                                    "sld_threshold": 0.025, "sld_momentum_scale": 0.5,
                                    "sld_mom_beta": 0.7}),
        "max": MappingProxyType({"sld_warmup_steps": 0, "sld_guidance_scale": 5000,
                                 "sld_threshold": 1.0, "sld_momentum_scale": 0.5,
                                 "sld_mom_beta": 0.7}),
    }
)

#: The diffusers pipeline classes safety guidance works with (one text encoder, a UNet with
#: classifier-free guidance: Stable Diffusion 1.x and 2.x).
SLD_PIPELINES: Final[tuple[str, ...]] = ("StableDiffusionPipeline",)

#: The safety concept of ``StableDiffusionPipelineSafe`` (used unless ``safety_concept`` is given).
SLD_CONCEPT: Final = (
    "an image showing hate, harassment, violence, suffering, humiliation, harm, suicide, sexual, "
    "nudity, bodily fluids, blood, obscene gestures, illegal activity, drug use, theft, vandalism, "
    "weapons, child abuse, brutality, cruelty"
)

#: Steps ``StableDiffusionPipelineSafe`` runs when a request leaves ``num_inference_steps`` unset.
_SAFE_DEFAULT_STEPS = 50


class DiffusersGenerator(HFModelOptions):
    """Generate images with a diffusers text-to-image pipeline, one seed per image.

    Requests that share ``negative_prompt``, ``height``, ``width``, ``guidance_scale`` and
    ``num_inference_steps`` go to the pipeline together, at most ``batch_size`` at a time. Every
    image gets its own ``torch.Generator`` seeded with its request's seed (created on the CPU, so
    the starting noise is the same on any device), so an image does not depend on what it was
    batched with. Arguments a request leaves as ``None`` take the pipeline's defaults.

    The constructor only stores the configuration; weights load on the first :meth:`generate`, once,
    even when several threads call it together.

    Parameters
    ----------
    model:
        A hub id (``"stable-diffusion-v1-5/stable-diffusion-v1-5"``), a local ``save_pretrained``
        folder, or ``"tiny://stable-diffusion"`` (a tiny random pipeline for tests).
    revision:
        Hub revision (branch, tag or commit) to load. Pin a commit for reproducible audits; local
        folders are identified by a hash of their content instead.
    device:
        ``"auto"`` (CUDA, then Apple MPS, then CPU), or a torch device such as ``"cuda:1"``.
    dtype:
        Weight precision: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (``fp32``, ``bf16`` and
        ``fp16`` also work). ``float16`` is refused on CPU.
    batch_size:
        Most images per pipeline call; also the :attr:`max_batch_size` callers see.
    pipeline:
        ``"auto"`` uses ``diffusers.AutoPipelineForText2Image``; otherwise the name of a diffusers
        pipeline class, e.g. ``"StableDiffusionXLPipeline"``.
    scheduler:
        Name of a diffusers scheduler class to use instead of the model's own (built from the
        model's scheduler config), e.g. ``"EulerDiscreteScheduler"``; ``None`` keeps the model's.
    variant:
        Weight file variant to load, e.g. ``"fp16"``.
    local_files_only:
        Never contact the hub; load from the local cache or folder only.
    enable_cpu_offload:
        Keep sub-models on the CPU and move each to the GPU only while it runs (needs
        ``accelerate`` and a CUDA device); saves memory at some speed cost.
    safety_concept:
        The text safety guidance steers away from (requests with ``safety`` set); ``None`` keeps
        :data:`SLD_CONCEPT`, the concept of the Safe Latent Diffusion paper.

    Raises
    ------
    ConfigError
        An option is invalid (unknown dtype, ``batch_size < 1``, malformed class name).

    Examples
    --------
    >>> gen = DiffusersGenerator(model="tiny://stable-diffusion", device="cpu")  # doctest: +SKIP
    >>> [img] = gen.generate([GenerationRequest("a photo of a doctor", seed=0)])  # doctest: +SKIP
    """

    #: Largest number of requests :meth:`generate` should receive at once.
    max_batch_size: int

    def __init__(
        self,
        *,
        model: str,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 4,
        pipeline: str = "auto",
        scheduler: str | None = None,
        variant: str | None = None,
        local_files_only: bool = False,
        enable_cpu_offload: bool = False,
        safety_concept: str | None = None,
    ) -> None:
        check_common_options(model, dtype, batch_size, who="diffusers generator")
        if pipeline != "auto" and not pipeline.isidentifier():
            raise ConfigError(
                f"diffusers generator: pipeline {pipeline!r} is not a class name; use 'auto' or a "
                "diffusers pipeline class such as 'StableDiffusionPipeline'"
            )
        if safety_concept is not None and not safety_concept.strip():
            raise ConfigError(
                "diffusers generator: safety_concept is empty; give the text to steer away from "
                "or None for the default concept"
            )
        if scheduler is not None and not scheduler.isidentifier():
            raise ConfigError(
                f"diffusers generator: scheduler {scheduler!r} is not a class name; use a "
                "diffusers scheduler class such as 'EulerDiscreteScheduler'"
            )
        super().__init__(
            model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size
        )
        self.pipeline = pipeline
        self.scheduler = scheduler
        self.variant = variant
        self.local_files_only = local_files_only
        self.enable_cpu_offload = enable_cpu_offload
        self.safety_concept = safety_concept
        self._pipe: LazyModel[Any] = LazyModel(self._load)
        self._safe_pipe: LazyModel[Any] = LazyModel(self._load_safe)
        self._call_lock = threading.Lock()  # pipelines keep per-call state (scheduler timesteps)

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, pipeline class, scheduler and weight variant.

        A custom ``safety_concept`` is included when set (the default adds no key, so identities
        and cache keys from before safety guidance existed stay valid).
        """
        out: dict[str, JSONValue] = {
            **self.base_identity("diffusers"),
            "pipeline": self.pipeline,
            "scheduler": self.scheduler,
            "variant": self.variant,
        }
        if self.safety_concept is not None:
            out["safety_concept"] = self.safety_concept
        return out

    @property
    def supports_safety(self) -> bool:
        """Whether requests may carry ``safety`` (Safe Latent Diffusion; see the module docs).

        Exact once the pipeline is loaded (its class is one of :data:`SLD_PIPELINES`); before
        that, ``True`` when the configured ``pipeline`` is ``"auto"`` or one of those classes.
        Loads nothing.
        """
        if self._pipe.loaded:
            return type(self._pipe.get()).__name__ in SLD_PIPELINES
        return self.pipeline in ("auto", *SLD_PIPELINES)

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> Any:
        require("torch", _PURPOSE)
        diffusers = require("diffusers", _PURPOSE)
        device = resolve_device(self.device)
        torch_dtype = resolve_dtype(self.dtype, device)
        pipeline_cls = self._pipeline_class(diffusers)
        scheduler_cls = self._scheduler_class(diffusers) if self.scheduler else None
        source = resolve_model(self.model)
        kwargs: dict[str, Any] = {
            dtype_kwarg(diffusers): torch_dtype,
            "local_files_only": self.local_files_only,
        }
        if self.revision:
            kwargs["revision"] = self.revision
        if self.variant:
            kwargs["variant"] = self.variant
        quiet_hub_progress()
        with loading_model(self.model):
            pipe = pipeline_cls.from_pretrained(source, **kwargs)
        try:
            if scheduler_cls is not None:
                pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
            if self.enable_cpu_offload:
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe = pipe.to(device)
            pipe.set_progress_bar_config(disable=True)
        except Exception as exc:
            raise BackendError(
                f"cannot prepare diffusers pipeline {self.model!r} on {device}: {first_line(exc)}"
            ) from exc
        return pipe

    def _load_safe(self) -> Any:
        pipe = self._pipe.get()
        name = type(pipe).__name__
        if name not in SLD_PIPELINES:
            raise ConfigError(
                f"diffusers generator: safety guidance (Safe Latent Diffusion) needs one of "
                f"{', '.join(SLD_PIPELINES)} (Stable Diffusion 1.x/2.x); {self.model!r} loaded "
                f"{name}. Send requests without safety, or use a Stable Diffusion 1.x/2.x model"
            )
        safe_cls = _safe_pipeline_class()
        try:
            safe = safe_cls(
                vae=pipe.vae,
                text_encoder=pipe.text_encoder,
                tokenizer=pipe.tokenizer,
                unet=pipe.unet,
                scheduler=pipe.scheduler,
                safety_checker=None,
                feature_extractor=None,
                image_encoder=getattr(pipe, "image_encoder", None),
                requires_safety_checker=False,
            )
            safe.safety_concept = self.safety_concept or SLD_CONCEPT
            safe.set_progress_bar_config(disable=True)
        except Exception as exc:
            raise BackendError(
                f"cannot build the safe-latent-diffusion pipeline for {self.model!r}: "
                f"{first_line(exc)}"
            ) from exc
        return safe

    def _pipeline_class(self, diffusers: Any) -> Any:
        if self.pipeline == "auto":
            return diffusers.AutoPipelineForText2Image
        cls = getattr(diffusers, self.pipeline, None)
        if cls is None or not hasattr(cls, "from_pretrained"):
            raise ConfigError(
                f"diffusers has no pipeline class {self.pipeline!r}; use 'auto' or a class name "
                "such as 'StableDiffusionPipeline'"
            )
        return cls

    def _scheduler_class(self, diffusers: Any) -> Any:
        cls = getattr(diffusers, str(self.scheduler), None)
        mixin = getattr(diffusers, "SchedulerMixin", object)
        if not (isinstance(cls, type) and issubclass(cls, mixin)):
            raise ConfigError(
                f"diffusers has no scheduler class {self.scheduler!r}; use a class name such as "
                "'EulerDiscreteScheduler' or 'DPMSolverMultistepScheduler'"
            )
        return cls

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedImage]:
        """Generate one RGB image per request, in order.

        Raises
        ------
        ModelLoadError
            The model cannot be loaded (first call only).
        BackendError
            The pipeline failed; nothing partial is returned.
        """
        if not requests:
            return []
        pipe = self._pipe.get()
        torch = require("torch", _PURPOSE)
        groups: dict[_BatchKey, list[int]] = {}
        for i, req in enumerate(requests):
            key = (
                req.negative_prompt,
                req.height,
                req.width,
                req.guidance_scale,
                req.num_inference_steps,
                req.safety,
            )
            groups.setdefault(key, []).append(i)
        base_metadata: dict[str, JSONValue] = {
            "pipeline": type(pipe).__name__,
            "scheduler": type(pipe.scheduler).__name__,
        }
        out: list[GeneratedImage | None] = [None] * len(requests)
        for (negative, height, width, guidance, steps, safety), indices in groups.items():
            metadata = dict(base_metadata)
            target = pipe
            extra: dict[str, Any] = {}
            if safety is not None:
                if guidance is not None and guidance <= 1.0:
                    raise ConfigError(
                        f"diffusers generator: safety guidance needs classifier-free guidance, "
                        f"guidance_scale > 1 (got {guidance}); raise guidance_scale or drop safety"
                    )
                target = self._safe_pipe.get()
                extra = dict(SLD_PRESETS[safety])
                total = steps if steps is not None else _SAFE_DEFAULT_STEPS
                metadata.update(
                    safety=safety,
                    safety_pipeline=type(target).__name__,
                    sld=dict(extra),
                    sld_active_steps=max(0, total - int(extra["sld_warmup_steps"])),
                )
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                kwargs: dict[str, Any] = {
                    "prompt": [requests[i].prompt for i in chunk],
                    "generator": [
                        torch.Generator("cpu").manual_seed(requests[i].seed) for i in chunk
                    ],
                    "num_images_per_prompt": 1,
                    "output_type": "pil",
                    **extra,
                }
                if negative is not None:
                    kwargs["negative_prompt"] = [negative] * len(chunk)
                if height is not None:
                    kwargs["height"] = height
                if width is not None:
                    kwargs["width"] = width
                if guidance is not None:
                    kwargs["guidance_scale"] = guidance
                if steps is not None:
                    kwargs["num_inference_steps"] = steps
                result = self._call(target, kwargs, torch, safe=safety is not None)
                images = list(result.images)
                if len(images) != len(chunk):
                    raise BackendError(
                        f"diffusers pipeline {self.model!r} returned {len(images)} images for "
                        f"{len(chunk)} prompts"
                    )
                chunk_metadata = dict(metadata)
                if safety is not None:
                    concept = getattr(result, "applied_safety_concept", None)
                    chunk_metadata["safety_concept"] = None if concept is None else str(concept)
                for i, image in zip(chunk, images, strict=True):
                    out[i] = GeneratedImage(requests[i], to_rgb(image), dict(chunk_metadata))
        return [o for o in out if o is not None]

    def _call(self, pipe: Any, kwargs: dict[str, Any], torch: Any, *, safe: bool = False) -> Any:
        quiet = warnings.catch_warnings() if safe else contextlib.nullcontext()
        try:
            with self._call_lock, torch.inference_mode(), quiet:
                if safe:  # StableDiffusionPipelineSafe calls its deprecated decode_latents
                    warnings.filterwarnings(
                        "ignore", message=r".*decode_latents.*", category=FutureWarning
                    )
                return pipe(**kwargs)
        except FairframeError:
            raise
        except Exception as exc:
            raise BackendError(
                f"diffusers generation failed with {self.model!r}: {first_line(exc)}"
            ) from exc


def _safe_pipeline_class() -> Any:
    diffusers = require("diffusers", "safety guidance in the diffusers generator")
    cls = getattr(diffusers, "StableDiffusionPipelineSafe", None)
    if cls is None:  # pragma: no cover - depends on the installed diffusers
        try:
            from diffusers.pipelines.deprecated.stable_diffusion_safe import (
                StableDiffusionPipelineSafe,
            )
        except ImportError as exc:
            raise ConfigError(
                "this diffusers release has no StableDiffusionPipelineSafe; safety guidance "
                "needs diffusers >= 0.12 (tested with 0.42)"
            ) from exc
        cls = StableDiffusionPipelineSafe
    return cls

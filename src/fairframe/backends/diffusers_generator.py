"""Text-to-image generation with a 🤗 diffusers pipeline (Stable Diffusion and relatives).

torch and diffusers are imported on first use, so this module imports without them; a missing one
raises :class:`~fairframe.errors.MissingDependencyError` naming the ``hf`` extra.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

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

__all__ = ["DiffusersGenerator"]

_PURPOSE = "the diffusers generator"

#: Requests that share these fields can go to the pipeline in one call.
_BatchKey = tuple[str | None, int | None, int | None, float | None, int | None]


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
    ) -> None:
        check_common_options(model, dtype, batch_size, who="diffusers generator")
        if pipeline != "auto" and not pipeline.isidentifier():
            raise ConfigError(
                f"diffusers generator: pipeline {pipeline!r} is not a class name; use 'auto' or a "
                "diffusers pipeline class such as 'StableDiffusionPipeline'"
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
        self._pipe: LazyModel[Any] = LazyModel(self._load)
        self._call_lock = threading.Lock()  # pipelines keep per-call state (scheduler timesteps)

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, pipeline class, scheduler and weight variant."""
        return {
            **self.base_identity("diffusers"),
            "pipeline": self.pipeline,
            "scheduler": self.scheduler,
            "variant": self.variant,
        }

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
            )
            groups.setdefault(key, []).append(i)
        metadata: dict[str, JSONValue] = {
            "pipeline": type(pipe).__name__,
            "scheduler": type(pipe.scheduler).__name__,
        }
        out: list[GeneratedImage | None] = [None] * len(requests)
        for (negative, height, width, guidance, steps), indices in groups.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                kwargs: dict[str, Any] = {
                    "prompt": [requests[i].prompt for i in chunk],
                    "generator": [
                        torch.Generator("cpu").manual_seed(requests[i].seed) for i in chunk
                    ],
                    "num_images_per_prompt": 1,
                    "output_type": "pil",
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
                images = self._call(pipe, kwargs, torch)
                if len(images) != len(chunk):
                    raise BackendError(
                        f"diffusers pipeline {self.model!r} returned {len(images)} images for "
                        f"{len(chunk)} prompts"
                    )
                for i, image in zip(chunk, images, strict=True):
                    out[i] = GeneratedImage(requests[i], to_rgb(image), dict(metadata))
        return [o for o in out if o is not None]

    def _call(self, pipe: Any, kwargs: dict[str, Any], torch: Any) -> list[Any]:
        try:
            with self._call_lock, torch.inference_mode():
                result = pipe(**kwargs)
        except FairframeError:
            raise
        except Exception as exc:
            raise BackendError(
                f"diffusers generation failed with {self.model!r}: {first_line(exc)}"
            ) from exc
        return list(result.images)

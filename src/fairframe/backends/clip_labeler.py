"""Zero-shot labelling with a 🤗 transformers CLIP model.

Each outcome of a question is described by text prompts: the choices by ``templates`` (e.g. "a photo
of a {choice} {refer_to}."), :data:`~fairframe.types.UNKNOWN` by ``unknown_prompts`` (e.g. "a photo
with no {refer_to}."). An outcome's text embedding is the normalised mean of its prompts'
normalised embeddings (the CLIP zero-shot recipe, as used by GradBias); an image's probabilities are
the softmax of its scaled cosine similarities to the outcomes.

torch and transformers are imported on first use, so this module imports without them.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fairframe._deps import require
from fairframe.backends._hf import (
    HFModelOptions,
    LazyModel,
    check_common_options,
    dtype_kwarg,
    first_line,
    loading_model,
    place_model,
)
from fairframe.errors import BackendError, ConfigError, FairframeError
from fairframe.images import to_rgb
from fairframe.types import JSONValue, LabelQuestion, LabelResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["CLIPLabeler"]

_PURPOSE = "the CLIP labeler"
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


def _check_prompts(
    kind: str, prompts: Sequence[str], allowed: set[str], needed: str | None
) -> None:
    if isinstance(prompts, str) or not prompts:
        raise ConfigError(f"CLIP labeler: {kind} must be a non-empty list of strings")
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise ConfigError(f"CLIP labeler: {kind} must be strings, got {prompt!r}")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(prompt) if f is not None}
        except ValueError as exc:
            raise ConfigError(f"CLIP labeler: {kind} entry {prompt!r} is malformed: {exc}") from exc
        unknown = fields - allowed
        if unknown:
            raise ConfigError(
                f"CLIP labeler: {kind} entry {prompt!r} uses {{{sorted(unknown)[0]}}}; "
                f"only {', '.join('{' + a + '}' for a in sorted(allowed))} are filled in"
            )
        if needed and needed not in fields:
            raise ConfigError(f"CLIP labeler: {kind} entry {prompt!r} must contain {{{needed}}}")


def _fill(prompt: str, **values: str) -> str:
    """Format a prompt and tidy the spaces an empty field leaves behind."""
    text = " ".join(prompt.format(**values).split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


class CLIPLabeler(HFModelOptions):
    """Answer multiple-choice questions by zero-shot CLIP classification.

    The outcomes are the question's choices plus :data:`~fairframe.types.UNKNOWN`, which is scored
    as one more class described by ``unknown_prompts``. Text embeddings are computed once per
    (choices, ``refer_to``) pair and reused. Results are deterministic and do not depend on how
    images are batched (beyond floating-point noise).

    Parameters
    ----------
    model:
        A hub id, a local ``save_pretrained`` folder holding a ``CLIPModel`` and its processor, or
        ``"tiny://clip"`` (a tiny random model for tests).
    revision:
        Hub revision (branch, tag or commit); pin a commit for reproducible audits. Local folders
        are identified by a hash of their content instead.
    device:
        ``"auto"`` (CUDA, then Apple MPS, then CPU), or a torch device such as ``"cuda:1"``.
    dtype:
        Weight precision: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (``fp32``, ``bf16``,
        ``fp16`` also work). ``float16`` is refused on CPU. Similarities are computed in float32.
    batch_size:
        Most images per forward pass; also the :attr:`max_batch_size` callers see.
    templates:
        Prompts describing one choice, with ``{choice}`` and optionally ``{refer_to}`` (the
        question's subject, e.g. ``"person"``). Several templates are averaged.
    unknown_prompts:
        Prompts describing the :data:`~fairframe.types.UNKNOWN` outcome (no subject, or cannot
        tell), optionally with ``{refer_to}``. Several prompts are averaged.
    temperature:
        Softmax temperature applied to cosine similarities; ``None`` uses the model's learned
        ``logit_scale`` (temperature ``1 / exp(logit_scale)``, about 0.01 for OpenAI CLIP).

    Raises
    ------
    ConfigError
        An option is invalid (unknown dtype, empty or malformed templates, ``temperature <= 0``).

    Examples
    --------
    >>> labeler = CLIPLabeler(model="tiny://clip", device="cpu")  # doctest: +SKIP
    >>> q = LabelQuestion("What is the gender of the person?", ("man", "woman"), "person")
    >>> labeler.label([image], q)[0].probs  # doctest: +SKIP
    {'man': 0.41, 'woman': 0.38, 'unknown': 0.21}
    """

    #: Largest number of images :meth:`label` should receive at once.
    max_batch_size: int

    def __init__(
        self,
        *,
        model: str = "openai/clip-vit-large-patch14",
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 16,
        templates: Sequence[str] = ("a photo of a {choice} {refer_to}.",),
        unknown_prompts: Sequence[str] = ("a photo with no {refer_to}.",),
        temperature: float | None = None,
    ) -> None:
        check_common_options(model, dtype, batch_size, who="CLIP labeler")
        _check_prompts("templates", templates, {"choice", "refer_to"}, "choice")
        _check_prompts("unknown_prompts", unknown_prompts, {"refer_to"}, None)
        if temperature is not None and not (
            isinstance(temperature, int | float) and 0 < temperature < float("inf")
        ):
            raise ConfigError(f"CLIP labeler: temperature must be > 0 or None, got {temperature!r}")
        super().__init__(
            model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size
        )
        self.templates = tuple(templates)
        self.unknown_prompts = tuple(unknown_prompts)
        self.temperature = None if temperature is None else float(temperature)
        self._loaded: LazyModel[tuple[Any, Any, str]] = LazyModel(self._load)
        self._text_cache: dict[tuple[tuple[str, ...], str], Any] = {}
        self._cache_lock = threading.Lock()

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, prompts and temperature."""
        return {
            **self.base_identity("clip"),
            "templates": list(self.templates),
            "unknown_prompts": list(self.unknown_prompts),
            "temperature": self.temperature,
        }

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> tuple[Any, Any, str]:
        require("torch", _PURPOSE)
        transformers = require("transformers", _PURPOSE)
        device, torch_dtype, source = self._load_target()
        kwargs: dict[str, Any] = {}
        if self.revision:
            kwargs["revision"] = self.revision
        with loading_model(self.model):
            model = transformers.CLIPModel.from_pretrained(
                source, **kwargs, **{dtype_kwarg(transformers): torch_dtype}
            )
            processor = transformers.CLIPProcessor.from_pretrained(source, **kwargs)
        model = place_model(model, device, f"CLIP model {self.model!r}")
        return model, processor, device

    # -- scoring ----------------------------------------------------------------------------
    def _outcome_prompts(self, question: LabelQuestion) -> list[list[str]]:
        refer_to = question.refer_to.strip()
        prompts = [
            [_fill(t, choice=choice, refer_to=refer_to) for t in self.templates]
            for choice in question.choices
        ]
        prompts.append([_fill(p, refer_to=refer_to) for p in self.unknown_prompts])
        return prompts

    def _text_embeddings(self, question: LabelQuestion) -> Any:
        """Normalised (n_outcomes, dim) float32 text embeddings, cached per question."""
        key = (tuple(question.choices), question.refer_to.strip())
        with self._cache_lock:
            cached = self._text_cache.get(key)
        if cached is not None:
            return cached
        torch = require("torch", _PURPOSE)
        model, processor, device = self._loaded.get()
        rows = []
        for prompts in self._outcome_prompts(question):
            # One prompt at a time, padded to the model's length: the embedding of a prompt never
            # depends on which other prompts are encoded with it.
            feats = []
            for prompt in prompts:
                tokens = processor.tokenizer(
                    [prompt], padding="max_length", truncation=True, return_tensors="pt"
                ).to(device)
                with torch.inference_mode():
                    out = model.get_text_features(**tokens)
                feats.append(_normalise(torch, _features(out).float())[0])
            rows.append(_normalise(torch, torch.stack(feats).mean(dim=0, keepdim=True))[0])
        embeddings = torch.stack(rows)
        with self._cache_lock:
            self._text_cache.setdefault(key, embeddings)
        return embeddings

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        """Return, for each image, a distribution over the question's choices and ``unknown``.

        Raises
        ------
        ModelLoadError
            The model cannot be loaded (first call only).
        BackendError
            The model failed; nothing partial is returned.
        """
        if not images:
            return []
        torch = require("torch", _PURPOSE)
        model, processor, device = self._loaded.get()
        rgb = [to_rgb(img) for img in images]
        outcomes = question.outcomes
        try:
            text = self._text_embeddings(question)
            if self.temperature is None:
                scale = float(model.logit_scale.detach().float().exp().item())
            else:
                scale = 1.0 / self.temperature
            results: list[LabelResult] = []
            for start in range(0, len(rgb), self.batch_size):
                batch = rgb[start : start + self.batch_size]
                pixels = processor(images=batch, return_tensors="pt")["pixel_values"]
                pixels = pixels.to(device=device, dtype=model.dtype)
                with torch.inference_mode():
                    out = model.get_image_features(pixel_values=pixels)
                image_emb = _normalise(torch, _features(out).float())
                probs = torch.softmax(scale * image_emb @ text.T, dim=-1).double().cpu()
                for row in probs.tolist():
                    results.append(LabelResult.from_scores(outcomes, row))
        except FairframeError:
            raise
        except Exception as exc:
            raise BackendError(
                f"CLIP labelling failed with {self.model!r}: {first_line(exc)}"
            ) from exc
        return results


def _features(out: Any) -> Any:
    """Projected embeddings from ``get_*_features``: a tensor (transformers 4) or an output object
    whose ``pooler_output`` holds them (transformers 5)."""
    if hasattr(out, "pooler_output"):
        return out.pooler_output
    return out


def _normalise(torch: Any, x: Any) -> Any:
    return torch.nn.functional.normalize(x, dim=-1)

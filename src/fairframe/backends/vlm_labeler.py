"""A labeler backed by a transformers image-text-to-text model (LLaVA, Qwen2-VL, SmolVLM, ...).

The model never generates: each outcome of the question (every choice and ``"unknown"``) is scored
by its likelihood as the model's answer, so the result is a deterministic distribution.

1. **Prompt.** The instruction is ``prompt_template`` filled with the question (default
   :data:`DEFAULT_PROMPT_TEMPLATE`: ``"{question} Answer with one of: {choices}."``). With a
   processor chat template, the prompt is one user turn holding the image and the instruction,
   rendered by ``processor.apply_chat_template(..., add_generation_prompt=True)``. Without one,
   it is :data:`PLAIN_PROMPT_FORMAT` (``"<image>\\nQuestion: ... Answer:"``; the image
   placeholder is left out for processors that insert image tokens themselves, like BLIP-2's).
2. **Answer tokens.** An outcome's tokens are what the tokenizer gives for the prompt text
   followed by the outcome, minus the prompt's own tokens, so merges at the boundary are those the
   model would see. A space goes between them unless the prompt ends in whitespace (so ``man``
   after ``ASSISTANT:`` is `` man``). No end-of-turn token is added.
3. **Score.** With teacher forcing, one forward pass per batch of images scores every
   (image, outcome) row: the image's prompt tokens followed by the outcome's tokens, right-padded.
   The score of outcome :math:`o` with tokens :math:`t_1..t_n` is
   :math:`s_o = \\sum_j \\log p(t_j \\mid \\text{prompt}, t_{<j})`, divided by :math:`n` when
   ``length_normalize`` is true.
4. **Probabilities.** :math:`P(o) = \\exp(s_o) / \\sum_{o'} \\exp(s_{o'})` over the outcomes.
"""

from __future__ import annotations

import inspect
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fairframe._deps import require
from fairframe.backends._hf import (
    DTYPES,
    LazyModel,
    model_revision,
    resolve_device,
    resolve_dtype,
    resolve_model,
    wrap_load_error,
)
from fairframe.errors import BackendError, ConfigError, FairframeError
from fairframe.types import JSONValue, LabelQuestion, LabelResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "PLAIN_PROMPT_FORMAT",
    "VLMLabeler",
    "check_prompt_template",
    "softmax_scores",
]

#: The instruction sent with the image. Fields: ``{question}``, ``{choices}`` (the choices and
#: ``unknown``, comma-separated) and ``{refer_to}``.
DEFAULT_PROMPT_TEMPLATE = "{question} Answer with one of: {choices}."

#: The whole prompt when the processor has no chat template: ``{image}`` is the processor's image
#: token and a newline (or nothing), ``{instruction}`` the filled ``prompt_template``.
PLAIN_PROMPT_FORMAT = "{image}Question: {instruction} Answer:"

_TEMPLATE_FIELDS = frozenset({"question", "choices", "refer_to"})


def check_prompt_template(template: str) -> str:
    """Return ``template`` if it formats with the known fields and uses ``{question}``.

    Raises
    ------
    ConfigError
        The template has an unknown field, bad braces or no ``{question}``.
    """
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(
            f"prompt_template {template!r} is not a valid format string: {exc}"
        ) from exc
    unknown = sorted(f for f in fields if f not in _TEMPLATE_FIELDS)
    if unknown or "question" not in fields:
        what = f"unknown field {{{unknown[0]}}}" if unknown else "no {question} field"
        raise ConfigError(
            f"prompt_template {template!r} has {what}; use {{question}}, and optionally "
            "{choices} and {refer_to}"
        )
    return template


def softmax_scores(outcomes: Sequence[str], scores: Sequence[float]) -> LabelResult:
    """The :class:`LabelResult` with ``P(o) = exp(s_o) / sum(exp(s))`` (computed stably)."""
    top = max(scores)
    return LabelResult.from_scores(outcomes, [math.exp(s - top) for s in scores])


@dataclass(frozen=True)
class _Loaded:
    """A loaded model and what scoring needs to know about it."""

    model: Any
    processor: Any
    tokenizer: Any
    device: str
    dtype: Any
    keeps_logits: bool


class VLMLabeler:
    """Answers multiple-choice questions about images with an image-text-to-text model.

    Each outcome (every choice and ``"unknown"``) is scored by the model's log-likelihood of
    answering it, and the scores are turned into probabilities with a softmax; nothing is sampled,
    so the same inputs always give the same distribution. The module docstring gives the prompt
    and the formula. Weights load on the first :meth:`label` call (once, thread-safely) through
    ``AutoModelForImageTextToText`` and ``AutoProcessor``.

    Parameters
    ----------
    model:
        A hub id (``"llava-hf/llava-1.5-7b-hf"``, ``"Qwen/Qwen2-VL-2B-Instruct"``,
        ``"HuggingFaceTB/SmolVLM-256M-Instruct"``), a local folder, or ``"tiny://llava"``.
    revision:
        Hub revision to load and record; ``None`` records ``"main"`` (or a local folder's hash).
    device:
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    dtype:
        ``"float32"``, ``"bfloat16"`` or ``"float16"`` (not on CPU).
    batch_size:
        Images per forward pass (each contributes one row per outcome); also
        :attr:`max_batch_size`.
    prompt_template:
        The instruction, with fields ``{question}``, ``{choices}`` and ``{refer_to}``; ``None``
        means :data:`DEFAULT_PROMPT_TEMPLATE`.
    length_normalize:
        Score an outcome by its mean log-probability per token instead of the sum. The sum
        (default) is the answer's likelihood and favours short answers; the mean removes that
        bias between choices of different token lengths.
    trust_remote_code:
        Allow model repositories that ship their own Python code.

    Examples
    --------
    >>> from fairframe.types import LabelQuestion
    >>> labeler = VLMLabeler(model="tiny://llava")
    >>> q = LabelQuestion("What is the gender of the person?", ("man", "woman"))
    >>> labeler.label([image], q)[0].probs  # doctest: +SKIP
    {'man': 0.31, 'woman': 0.35, 'unknown': 0.34}
    """

    max_batch_size: int

    def __init__(
        self,
        *,
        model: str,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 4,
        prompt_template: str | None = None,
        length_normalize: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        if not model:
            raise ConfigError("vlm labeler needs a model: a hub id, a local folder or tiny://llava")
        if dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(DTYPES))}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.revision = revision
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_batch_size = batch_size
        self.prompt_template = check_prompt_template(
            DEFAULT_PROMPT_TEMPLATE if prompt_template is None else prompt_template
        )
        self.length_normalize = length_normalize
        self.trust_remote_code = trust_remote_code
        self._lazy: LazyModel[_Loaded] = LazyModel(self._load)
        self._revision: str | None = None

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, instruction template and scoring mode."""
        if self._revision is None:
            self._revision = model_revision(self.model, self.revision)
        return {
            "backend": "vlm",
            "model": self.model,
            "revision": self._revision,
            "dtype": DTYPES[self.dtype],
            "template": self.prompt_template,
            "length_normalize": self.length_normalize,
        }

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> _Loaded:
        transformers = require("transformers", "the vlm labeler")
        require("torch", "the vlm labeler")
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        source = resolve_model(self.model)
        try:
            processor = transformers.AutoProcessor.from_pretrained(
                source, revision=self.revision, trust_remote_code=self.trust_remote_code
            )
            model = transformers.AutoModelForImageTextToText.from_pretrained(
                source,
                revision=self.revision,
                dtype=dtype,
                trust_remote_code=self.trust_remote_code,
            )
        except Exception as exc:
            raise wrap_load_error(self.model, exc) from exc
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise BackendError(
                f"the processor of {self.model!r} has no tokenizer; the vlm labeler needs an "
                "image-text-to-text model with a text tokenizer"
            )
        model.to(device).eval()
        keeps = "logits_to_keep" in inspect.signature(model.forward).parameters
        return _Loaded(model, processor, tokenizer, device, dtype, keeps)

    # -- prompt -----------------------------------------------------------------------------
    def instruction(self, question: LabelQuestion) -> str:
        """The filled ``prompt_template`` for ``question``."""
        return self.prompt_template.format(
            question=question.question,
            choices=", ".join(question.outcomes),
            refer_to=question.refer_to,
        )

    def _prompt(self, processor: Any, question: LabelQuestion) -> str:
        text = self.instruction(question)
        if getattr(processor, "chat_template", None):
            conversation = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}
            ]
            prompt: str = processor.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False
            )
            return prompt
        image_token = getattr(processor, "image_token", None)
        inserts_itself = getattr(processor, "num_query_tokens", None) is not None
        image = "" if image_token is None or inserts_itself else f"{image_token}\n"
        return PLAIN_PROMPT_FORMAT.format(image=image, instruction=text)

    @staticmethod
    def _answer_ids(tokenizer: Any, prompt: str, outcome: str) -> list[int]:
        sep = "" if not prompt or prompt[-1].isspace() else " "
        base = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        full = tokenizer(prompt + sep + outcome, add_special_tokens=False)["input_ids"]
        ids: list[int] = (
            full[len(base) :]
            if len(full) > len(base) and full[: len(base)] == base
            else tokenizer(outcome, add_special_tokens=False)["input_ids"]
        )
        if not ids:
            raise BackendError(f"the tokenizer turns the answer {outcome!r} into no tokens")
        return ids

    # -- scoring ----------------------------------------------------------------------------
    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        """Score every outcome of ``question`` for each image; see the module docstring."""
        if not images:
            return []
        loaded = self._lazy.get()
        try:
            prompt = self._prompt(loaded.processor, question)
            answers = [self._answer_ids(loaded.tokenizer, prompt, o) for o in question.outcomes]
            results: list[LabelResult] = []
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                for loglik in self._loglik(loaded, chunk, prompt, answers):
                    scores = [
                        ll / len(ids) if self.length_normalize else ll
                        for ll, ids in zip(loglik, answers, strict=True)
                    ]
                    results.append(softmax_scores(question.outcomes, scores))
        except FairframeError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise BackendError(
                f"vlm labeler {self.model!r} failed: {type(exc).__name__}: {first}"
            ) from exc
        return results

    def _encode(self, loaded: _Loaded, image: Image.Image, prompt: str) -> dict[str, Any]:
        bos = getattr(loaded.tokenizer, "bos_token", None)
        encoded = loaded.processor(
            text=[prompt],
            images=[image if image.mode == "RGB" else image.convert("RGB")],
            return_tensors="pt",
            add_special_tokens=not (bos and prompt.startswith(bos)),
        )
        return dict(encoded)

    def _loglik(
        self,
        loaded: _Loaded,
        images: Sequence[Image.Image],
        prompt: str,
        answers: Sequence[Sequence[int]],
    ) -> list[list[float]]:
        """Summed answer log-likelihoods: one list per image, one value per outcome."""
        encoded = [self._encode(loaded, image, prompt) for image in images]
        if _stackable(encoded):
            return self._forward(loaded, encoded, answers)
        out: list[list[float]] = []
        for enc in encoded:
            out.extend(self._forward(loaded, [enc], answers))
        return out

    def _forward(
        self, loaded: _Loaded, encoded: Sequence[dict[str, Any]], answers: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        import torch

        k = len(answers)
        rows: list[list[int]] = []
        masks: list[list[int]] = []
        starts: list[int] = []
        row_answers: list[Sequence[int]] = []
        for enc in encoded:
            ids = enc["input_ids"][0].tolist()
            mask = enc.get("attention_mask", torch.ones_like(enc["input_ids"]))[0].tolist()
            for answer in answers:
                rows.append([*ids, *answer])
                masks.append([*mask, *([1] * len(answer))])
                starts.append(len(ids))
                row_answers.append(answer)
        width = max(len(r) for r in rows)
        pad_id = loaded.tokenizer.pad_token_id
        pad_id = 0 if pad_id is None else int(pad_id)
        batch: dict[str, Any] = {
            "input_ids": torch.tensor([r + [pad_id] * (width - len(r)) for r in rows]),
            "attention_mask": torch.tensor([m + [0] * (width - len(m)) for m in masks]),
        }
        first = encoded[0]
        seq_shape = first["input_ids"].shape
        for key, value in first.items():
            if key in batch:
                continue
            if not isinstance(value, torch.Tensor):
                batch[key] = value  # only reached with a single image (see _stackable)
            elif value.ndim == 2 and value.shape == seq_shape:
                # aligned with the tokens (token types, multimodal masks): answers and pads get 0
                batch[key] = torch.tensor(
                    [
                        e[key][0].tolist() + [0] * (width - e[key].shape[1])
                        for e in encoded
                        for _ in range(k)
                    ],
                    dtype=value.dtype,
                )
            else:
                batch[key] = torch.cat([e[key] for e in encoded for _ in range(k)], dim=0)
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                moved = value.to(loaded.device)
                batch[key] = moved.to(loaded.dtype) if moved.is_floating_point() else moved

        keep = width - (min(starts) - 1)
        extra = {"logits_to_keep": keep} if loaded.keeps_logits else {}
        with torch.inference_mode():
            logits = loaded.model(**batch, use_cache=False, **extra).logits
        offset = width - logits.shape[1]
        row_idx: list[int] = []
        pos_idx: list[int] = []
        tok_idx: list[int] = []
        for r, (start, answer) in enumerate(zip(starts, row_answers, strict=True)):
            for j, token in enumerate(answer):
                row_idx.append(r)
                pos_idx.append(start - 1 + j - offset)
                tok_idx.append(token)
        picked = logits[row_idx, pos_idx].float()  # (tokens, vocab)
        logprobs = torch.log_softmax(picked, dim=-1)
        token_lp = logprobs[torch.arange(len(tok_idx)), torch.tensor(tok_idx)].cpu().tolist()
        sums = [0.0] * len(rows)
        for r, lp in zip(row_idx, token_lp, strict=True):
            sums[r] += lp
        return [sums[i * k : (i + 1) * k] for i in range(len(encoded))]


def _stackable(encoded: Sequence[dict[str, Any]]) -> bool:
    """Whether several images' processor outputs can share one forward pass."""
    if len(encoded) <= 1:
        return True
    import torch

    first = encoded[0]
    for key, value in first.items():
        if not isinstance(value, torch.Tensor):
            return False
        if key == "input_ids" or (value.ndim == 2 and value.shape == first["input_ids"].shape):
            continue  # token-aligned: padded per row
        for enc in encoded[1:]:
            other = enc.get(key)
            if not isinstance(other, torch.Tensor) or other.shape[1:] != value.shape[1:]:
                return False
    return all(set(enc) == set(first) for enc in encoded)

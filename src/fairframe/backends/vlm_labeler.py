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
   model would see. A space goes between them unless the prompt ends in whitespace (so the answer
   ``man`` after ``ASSISTANT:`` is read as in ``ASSISTANT: man``). No end-of-turn token is added.
3. **Score.** With teacher forcing, the score of outcome :math:`o` with tokens :math:`t_1..t_n` is
   :math:`s_o = \\sum_j \\log p(t_j \\mid \\text{image}, \\text{prompt}, t_{<j})`, divided by
   :math:`n` when ``length_normalize`` is true. Each image and prompt go through the model once;
   the resulting KV cache is copied once per outcome and a second pass reads all the answers at
   once (a batch of images whose prompts have equal length shares both passes). Models whose
   forward returns no reusable cache get one full row (prompt + answer) per (image, outcome).
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
    HFModelOptions,
    LazyModel,
    check_common_options,
    dtype_kwarg,
    loading_model,
    model_failures,
)
from fairframe.errors import BackendError, ConfigError, ModelLoadError
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


class VLMLabeler(HFModelOptions):
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
        check_common_options(
            model,
            dtype,
            batch_size,
            missing_model="vlm labeler needs a model: a hub id, a local folder or tiny://llava",
        )
        super().__init__(
            model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size
        )
        self.prompt_template = check_prompt_template(
            DEFAULT_PROMPT_TEMPLATE if prompt_template is None else prompt_template
        )
        self.length_normalize = length_normalize
        self.trust_remote_code = trust_remote_code
        self._lazy: LazyModel[_Loaded] = LazyModel(self._load)

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, instruction template and scoring mode."""
        return {
            **self.base_identity("vlm"),
            "template": self.prompt_template,
            "length_normalize": self.length_normalize,
        }

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> _Loaded:
        transformers = require("transformers", "the vlm labeler")
        require("torch", "the vlm labeler")
        device, dtype, source = self._load_target()
        options = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        with loading_model(self.model):
            processor = transformers.AutoProcessor.from_pretrained(source, **options)
            model = transformers.AutoModelForImageTextToText.from_pretrained(
                source, **options, **{dtype_kwarg(transformers): dtype}
            )
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise BackendError(
                f"the processor of {self.model!r} has no tokenizer; the vlm labeler needs an "
                "image-text-to-text model with a text tokenizer"
            )
        if getattr(model.config, "is_encoder_decoder", False):
            raise ModelLoadError(
                f"{self.model!r} is an encoder-decoder model; the vlm labeler scores answers with "
                "decoder-only image-text-to-text models (LLaVA, Qwen2-VL, SmolVLM, BLIP-2, ...)"
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
        results: list[LabelResult] = []
        with model_failures("vlm labeler", self.model):
            prompt = self._prompt(loaded.processor, question)
            answers = [self._answer_ids(loaded.tokenizer, prompt, o) for o in question.outcomes]
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                for loglik in self._loglik(loaded, chunk, prompt, answers):
                    scores = [
                        ll / len(ids) if self.length_normalize else ll
                        for ll, ids in zip(loglik, answers, strict=True)
                    ]
                    results.append(softmax_scores(question.outcomes, scores))
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
        lengths = {enc["input_ids"].shape[1] for enc in encoded}
        groups = [encoded] if len(lengths) == 1 and _stackable(encoded) else [[e] for e in encoded]
        out: list[list[float]] = []
        for group in groups:
            out.extend(self._forward_cached(loaded, group, answers))
        return out

    def _forward_cached(
        self, loaded: _Loaded, encoded: Sequence[dict[str, Any]], answers: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        """Encode the prompts once, then teacher-force every answer from a copy of the KV cache.

        ``encoded`` holds prompts of one length (no padding). The prompt pass gives the cache and
        the distribution of each answer's first token; the cache is repeated once per outcome and
        one more pass over the answers (all but their last token, right-padded) gives the rest.
        Models without a reusable cache are scored by :meth:`_forward_rows` instead.
        """
        import torch

        k = len(answers)
        batch = _to_device(loaded, _concat(encoded, repeats=1))
        batch.setdefault("attention_mask", torch.ones_like(batch["input_ids"]))
        extra = {"logits_to_keep": 1} if loaded.keeps_logits else {}
        with torch.inference_mode():
            prefill = loaded.model(**batch, use_cache=True, **extra)
        cache = getattr(prefill, "cache", None) or getattr(prefill, "past_key_values", None)
        if cache is None or not hasattr(cache, "batch_repeat_interleave"):
            return self._forward_rows(loaded, encoded, answers)
        first = torch.log_softmax(prefill.logits[:, -1].float(), dim=-1)  # (images, vocab)
        sums = [[float(first[i, answer[0]]) for answer in answers] for i in range(len(encoded))]
        width = max(len(a) for a in answers) - 1
        if width == 0:
            return sums
        # position j of the second pass reads answer token j and predicts token j + 1
        pad_id = _pad_id(loaded)
        inputs = [[*a[:-1], *([pad_id] * (width - len(a) + 1))] for a in answers]
        targets = [[*a[1:], *([pad_id] * (width - len(a) + 1))] for a in answers]
        valid = [[1] * (len(a) - 1) + [0] * (width - len(a) + 1) for a in answers]
        n = len(encoded)
        device = loaded.device
        attention_mask = torch.cat(
            [
                batch["attention_mask"].repeat_interleave(k, dim=0),
                torch.tensor(valid, device=device).repeat(n, 1),
            ],
            dim=1,
        )
        with torch.inference_mode():
            cache.batch_repeat_interleave(k)
            logits = loaded.model(
                input_ids=torch.tensor(inputs, device=device).repeat(n, 1),
                attention_mask=attention_mask,
                use_cache=True,
                **_cache_kwarg(loaded.model, cache),
            ).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        target_ids = torch.tensor(targets, device=logprobs.device).repeat(n, 1)
        token_lp = logprobs.gather(-1, target_ids.unsqueeze(-1)).squeeze(-1)
        mask = torch.tensor(valid, device=logprobs.device).repeat(n, 1)
        totals = (token_lp * mask).sum(dim=-1).cpu().tolist()
        for i in range(n):
            for j in range(k):
                sums[i][j] += totals[i * k + j]
        return sums

    def _forward_rows(
        self, loaded: _Loaded, encoded: Sequence[dict[str, Any]], answers: Sequence[Sequence[int]]
    ) -> list[list[float]]:
        """Score with one full row (prompt + answer, right-padded) per (image, outcome) pair."""
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
        pad_id = _pad_id(loaded)
        batch = _concat(encoded, repeats=k, width=width)
        batch["input_ids"] = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows])
        batch["attention_mask"] = torch.tensor([m + [0] * (width - len(m)) for m in masks])
        batch = _to_device(loaded, batch)

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
        token_lp = logprobs[list(range(len(tok_idx))), tok_idx].cpu().tolist()
        sums = [0.0] * len(rows)
        for r, lp in zip(row_idx, token_lp, strict=True):
            sums[r] += lp
        return [sums[i * k : (i + 1) * k] for i in range(len(encoded))]


def _pad_id(loaded: _Loaded) -> int:
    pad_id = loaded.tokenizer.pad_token_id
    return 0 if pad_id is None else int(pad_id)


def _concat(
    encoded: Sequence[dict[str, Any]], *, repeats: int, width: int | None = None
) -> dict[str, Any]:
    """Stack processor outputs, each repeated ``repeats`` times, along the batch dimension.

    Tensors aligned with the tokens (shape ``(1, length)``) are right-padded with 0 to ``width``
    when it is given; other tensors are concatenated along their first dimension. Non-tensors
    are taken from the first output (they only occur with a single image, see
    :func:`_stackable`).
    """
    import torch

    first = encoded[0]
    seq_shape = first["input_ids"].shape
    out: dict[str, Any] = {}
    for key, value in first.items():
        if not isinstance(value, torch.Tensor):
            out[key] = value
        elif width is not None and value.ndim == 2 and value.shape == seq_shape:
            out[key] = torch.tensor(
                [
                    e[key][0].tolist() + [0] * (width - e[key].shape[1])
                    for e in encoded
                    for _ in range(repeats)
                ],
                dtype=value.dtype,
            )
        else:
            out[key] = torch.cat([e[key] for e in encoded for _ in range(repeats)], dim=0)
    return out


def _to_device(loaded: _Loaded, batch: dict[str, Any]) -> dict[str, Any]:
    """Move tensors to the model's device; floating tensors also take the model's dtype."""
    import torch

    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            moved = value.to(loaded.device)
            out[key] = moved.to(loaded.dtype) if moved.is_floating_point() else moved
        else:
            out[key] = value
    return out


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


def _cache_kwarg(model: Any, cache: Any) -> dict[str, Any]:
    """Pass a KV cache under the name the model's ``forward`` takes.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name warns); older 5.x
    releases only know ``past_key_values``.
    """
    import inspect

    params = inspect.signature(model.forward).parameters
    return {"cache": cache} if "cache" in params else {"past_key_values": cache}

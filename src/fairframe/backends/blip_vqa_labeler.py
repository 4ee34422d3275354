"""A labeler backed by a BLIP visual-question-answering model (``Salesforce/blip-vqa-base``, ...).

BLIP VQA answers with its text decoder, which reads the question encoded together with the
image. Instead of generating, each outcome (every choice and ``"unknown"``) is scored by the
decoder's likelihood of producing it, the way BLIP ranks candidate answers itself:

* the question sent is ``prompt_template`` filled in (default ``"{question}"``: BLIP was trained on
  bare questions);
* outcome :math:`o` is decoded as ``[BOS] t_1 .. t_n [SEP]`` (BOS is the decoder start token, the
  tokens are the tokenizer's for ``o``, and ``[SEP]`` ends every BLIP answer, so a choice that is
  the first word of a longer answer gets no credit for it). With teacher forcing its score is
  :math:`s_o = \\sum_{j=1}^{n+1} \\log p(t_j \\mid \\text{image}, \\text{question}, t_{<j})`
  (:math:`t_{n+1}` = ``[SEP]``), divided by :math:`n + 1` when ``length_normalize`` is true;
* :math:`P(o) = \\exp(s_o) / \\sum_{o'} \\exp(s_{o'})`.

The image and the question are encoded once per image; the outcomes of a batch of images are
decoded together in one pass.

BLIP-2 and InstructBLIP checkpoints (decoder-only language models behind a Q-Former) are handed
to :class:`~fairframe.backends.vlm_labeler.VLMLabeler`, which scores the answer tokens (without an
end token) after the prompt ``"Question: {question} Answer:"``.
"""

from __future__ import annotations

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
from fairframe.backends.vlm_labeler import VLMLabeler, check_prompt_template, softmax_scores
from fairframe.errors import BackendError, ModelLoadError
from fairframe.types import JSONValue, LabelQuestion, LabelResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["DEFAULT_QUESTION_TEMPLATE", "BlipVQALabeler"]

#: The question sent to the model. Fields: ``{question}``, ``{choices}``, ``{refer_to}``.
DEFAULT_QUESTION_TEMPLATE = "{question}"

#: Model types handed to :class:`~fairframe.backends.vlm_labeler.VLMLabeler`.
_CAUSAL_BLIP_TYPES = frozenset({"blip-2", "instructblip"})


@dataclass(frozen=True)
class _Loaded:
    model: Any
    processor: Any
    device: str
    dtype: Any
    start_id: int
    end_id: int
    pad_id: int


class BlipVQALabeler(HFModelOptions):
    """Answers multiple-choice questions about images with a BLIP VQA model, by answer ranking.

    Every outcome is scored by the answer decoder's log-likelihood (module docstring), and the
    scores are turned into probabilities with a softmax; nothing is sampled. Weights load on the
    first :meth:`label` call (once, thread-safely).

    Parameters
    ----------
    model:
        A ``BlipForQuestionAnswering`` hub id or folder (``"Salesforce/blip-vqa-base"``,
        ``"Salesforce/blip-vqa-capfilt-large"``), ``"tiny://blip-vqa"``, or a BLIP-2 /
        InstructBLIP checkpoint (scored through
        :class:`~fairframe.backends.vlm_labeler.VLMLabeler`).
    revision:
        Hub revision to load and record; ``None`` records ``"main"`` (or a local folder's hash).
    device:
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    dtype:
        ``"float32"``, ``"bfloat16"`` or ``"float16"`` (not on CPU).
    batch_size:
        Images per forward pass; also :attr:`max_batch_size`.
    prompt_template:
        The question, with fields ``{question}``, ``{choices}`` and ``{refer_to}``; ``None`` means
        :data:`DEFAULT_QUESTION_TEMPLATE` (the bare question).
    length_normalize:
        Score an outcome by its mean log-probability per decoded token instead of the sum, which
        removes the sum's preference for answers of fewer tokens.
    trust_remote_code:
        Allow model repositories that ship their own Python code.
    """

    max_batch_size: int

    def __init__(
        self,
        *,
        model: str = "Salesforce/blip-vqa-base",
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
            missing_model="blip-vqa labeler needs a model: a hub id, a folder or tiny://blip-vqa",
        )
        super().__init__(
            model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size
        )
        self.prompt_template = check_prompt_template(
            DEFAULT_QUESTION_TEMPLATE if prompt_template is None else prompt_template
        )
        self.length_normalize = length_normalize
        self.trust_remote_code = trust_remote_code
        self._lazy: LazyModel[_Loaded | VLMLabeler] = LazyModel(self._load)

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, question template and scoring mode."""
        return {
            **self.base_identity("blip-vqa"),
            "template": self.prompt_template,
            "length_normalize": self.length_normalize,
        }

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> _Loaded | VLMLabeler:
        transformers = require("transformers", "the blip-vqa labeler")
        require("torch", "the blip-vqa labeler")
        device, dtype, source = self._load_target()
        options = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        with loading_model(self.model):
            config = transformers.AutoConfig.from_pretrained(source, **options)
        model_type = getattr(config, "model_type", "")
        if model_type in _CAUSAL_BLIP_TYPES:
            return VLMLabeler(
                model=self.model,
                revision=self.revision,
                device=self.device,
                dtype=self.dtype,
                batch_size=self.batch_size,
                prompt_template=self.prompt_template,
                length_normalize=self.length_normalize,
                trust_remote_code=self.trust_remote_code,
            )
        architectures = getattr(config, "architectures", None) or ["BlipForQuestionAnswering"]
        if model_type != "blip" or "BlipForQuestionAnswering" not in architectures:
            raise ModelLoadError(
                f"{self.model!r} is a {model_type or 'unknown'} model "
                f"({', '.join(architectures)}), not BLIP VQA; use a BlipForQuestionAnswering "
                "checkpoint such as Salesforce/blip-vqa-base, or the 'vlm' labeler"
            )
        with loading_model(self.model):
            processor = transformers.AutoProcessor.from_pretrained(source, **options)
            model = transformers.BlipForQuestionAnswering.from_pretrained(
                source, **options, **{dtype_kwarg(transformers): dtype}
            )
        model.to(device).eval()
        text = model.config.text_config
        pad_id = text.pad_token_id if text.pad_token_id is not None else 0
        return _Loaded(
            model=model,
            processor=processor,
            device=device,
            dtype=dtype,
            start_id=int(text.bos_token_id),
            end_id=int(text.sep_token_id),
            pad_id=int(pad_id),
        )

    # -- scoring ----------------------------------------------------------------------------
    def question_text(self, question: LabelQuestion) -> str:
        """The filled ``prompt_template`` for ``question``: the text the model reads."""
        return self.prompt_template.format(
            question=question.question,
            choices=", ".join(question.outcomes),
            refer_to=question.refer_to,
        )

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        """Score every outcome of ``question`` for each image; see the module docstring."""
        if not images:
            return []
        loaded = self._lazy.get()
        if isinstance(loaded, VLMLabeler):
            return loaded.label(images, question)
        results: list[LabelResult] = []
        with model_failures("blip-vqa labeler", self.model):
            answers = [self._answer_ids(loaded, o) for o in question.outcomes]
            text = self.question_text(question)
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                for loglik in self._loglik(loaded, chunk, text, answers):
                    scores = [
                        ll / (len(ids) - 1) if self.length_normalize else ll
                        for ll, ids in zip(loglik, answers, strict=True)
                    ]
                    results.append(softmax_scores(question.outcomes, scores))
        return results

    @staticmethod
    def _answer_ids(loaded: _Loaded, outcome: str) -> list[int]:
        """``[start] tokens [SEP]``: the decoder input for one outcome."""
        ids = loaded.processor.tokenizer(outcome, add_special_tokens=False)["input_ids"]
        if not ids:
            raise BackendError(f"the tokenizer turns the answer {outcome!r} into no tokens")
        return [loaded.start_id, *ids, loaded.end_id]

    def _loglik(
        self,
        loaded: _Loaded,
        images: Sequence[Image.Image],
        text: str,
        answers: Sequence[Sequence[int]],
    ) -> list[list[float]]:
        """Summed log-likelihood of each decoded answer (after its start token), per image."""
        import torch

        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        enc = loaded.processor(
            images=rgb, text=[text] * len(rgb), return_tensors="pt", padding=True
        )
        pixel_values = enc["pixel_values"].to(loaded.device, loaded.dtype)
        input_ids = enc["input_ids"].to(loaded.device)
        attention_mask = enc["attention_mask"].to(loaded.device)
        k = len(answers)
        width = max(len(a) for a in answers)
        dec_ids = torch.tensor(
            [list(a) + [loaded.pad_id] * (width - len(a)) for a in answers], device=loaded.device
        ).repeat(len(rgb), 1)
        dec_mask = torch.tensor(
            [[1] * len(a) + [0] * (width - len(a)) for a in answers], device=loaded.device
        ).repeat(len(rgb), 1)

        model = loaded.model
        with torch.inference_mode():
            image_embeds = model.vision_model(pixel_values=pixel_values)[0]
            image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=loaded.device)
            question_embeds = model.text_encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                encoder_hidden_states=image_embeds,
                encoder_attention_mask=image_mask,
            )[0]
            logits = model.text_decoder(
                input_ids=dec_ids,
                attention_mask=dec_mask,
                encoder_hidden_states=question_embeds.repeat_interleave(k, dim=0),
                encoder_attention_mask=attention_mask.repeat_interleave(k, dim=0),
            ).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        token_lp = logprobs.gather(-1, dec_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        sums = (token_lp * dec_mask[:, 1:]).sum(dim=-1).cpu().tolist()
        return [sums[i * k : (i + 1) * k] for i in range(len(rgb))]

"""An LLM backed by a local transformers causal language model (Llama, Qwen, Mistral, Phi, ...).

The conversation is rendered with the tokenizer's chat template (``add_generation_prompt=True``);
a tokenizer without one gets :data:`PLAIN_CHAT_FORMAT` (``"System: ...\\nUser: ...\\nAssistant:"``).
Templates that refuse a system turn (Gemma's, for example) get the system text folded into the
first user turn instead.

Decoding:

* ``temperature == 0``: greedy (``do_sample=False``); the same messages give the same reply.
* ``temperature > 0``: each next token is drawn from ``softmax(logits / temperature)`` with a
  ``torch.Generator`` seeded from ``seed``, so a (messages, temperature, seed) triple gives the same
  reply every time, independent of the global torch RNG and of other threads. No top-k / top-p
  filtering is applied, whatever the model's ``generation_config`` suggests.

``max_tokens`` caps the new tokens; the reply is only the new text, decoded without special tokens
and stripped of surrounding whitespace.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fairframe._deps import require
from fairframe.backends._hf import (
    HFModelOptions,
    LazyModel,
    check_common_options,
    dtype_kwarg,
    loading_model,
    model_failures,
)
from fairframe.errors import ConfigError
from fairframe.types import ChatMessage, JSONValue

__all__ = ["PLAIN_CHAT_FORMAT", "TransformersLLM"]

#: How a conversation is written for a tokenizer without a chat template: one ``Role: text``
#: line per message, then ``Assistant:``.
PLAIN_CHAT_FORMAT = "{lines}\nAssistant:"


@dataclass(frozen=True)
class _Loaded:
    model: Any
    tokenizer: Any
    device: str


def _plain_prompt(messages: Sequence[ChatMessage]) -> str:
    lines = "\n".join(f"{m.role.capitalize()}: {m.content}" for m in messages)
    return PLAIN_CHAT_FORMAT.format(lines=lines)


def _fold_system(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """Merge system messages into the first user message (for templates without a system role)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    out = [m.to_json() for m in messages if m.role != "system"]
    for message in out:
        if message["role"] == "user":
            message["content"] = (
                f"{system}\n\n{message['content']}" if system else message["content"]
            )
            break
    else:
        out.insert(0, {"role": "user", "content": system})
    return out


class TransformersLLM(HFModelOptions):
    """A chat model run locally with transformers (``AutoModelForCausalLM`` + ``AutoTokenizer``).

    Weights load on the first :meth:`chat` call (once, thread-safely). The module docstring
    describes the prompt and the decoding.

    Parameters
    ----------
    model:
        A hub id (``"Qwen/Qwen2.5-1.5B-Instruct"``, ``"meta-llama/Llama-3.2-3B-Instruct"``), a
        local folder, or ``"tiny://causal-lm"``.
    revision:
        Hub revision to load and record; ``None`` records ``"main"`` (or a local folder's hash).
    device:
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    dtype:
        ``"float32"``, ``"bfloat16"`` or ``"float16"`` (not on CPU).
    trust_remote_code:
        Allow model repositories that ship their own Python code.

    Examples
    --------
    >>> from fairframe.types import ChatMessage
    >>> llm = TransformersLLM(model="tiny://causal-lm")
    >>> llm.chat([ChatMessage("user", "hello")], max_tokens=4)  # doctest: +SKIP
    'where the medium can'
    """

    def __init__(
        self,
        *,
        model: str,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        trust_remote_code: bool = False,
    ) -> None:
        check_common_options(
            model,
            dtype,
            missing_model=(
                "transformers llm needs a model: a hub id, a local folder or tiny://causal-lm"
            ),
        )
        super().__init__(model=model, revision=revision, device=device, dtype=dtype)
        self.trust_remote_code = trust_remote_code
        self._lazy: LazyModel[_Loaded] = LazyModel(self._load)

    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision and dtype."""
        return self.base_identity("transformers")

    def _load(self) -> _Loaded:
        transformers = require("transformers", "the transformers llm")
        require("torch", "the transformers llm")
        device, dtype, source = self._load_target()
        options = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        with loading_model(self.model):
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **options)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                source, **options, **{dtype_kwarg(transformers): dtype}
            )
        model.to(device).eval()
        return _Loaded(model, tokenizer, device)

    def prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The text the model continues: the rendered chat, ending with the assistant's turn."""
        tokenizer = self._lazy.get().tokenizer
        if not getattr(tokenizer, "chat_template", None):
            return _plain_prompt(messages)
        conversation = [m.to_json() for m in messages]
        try:
            text: str = tokenizer.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False
            )
        except Exception:
            if not any(m.role == "system" for m in messages):
                raise
            text = tokenizer.apply_chat_template(
                _fold_system(messages), add_generation_prompt=True, tokenize=False
            )
        return text

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> str:
        """Reply to ``messages``; greedy at ``temperature == 0``, seeded sampling above it.

        Raises
        ------
        ConfigError
            ``temperature < 0`` or ``max_tokens < 1``.
        BackendError
            The model failed while generating.
        """
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        if not messages:
            raise ConfigError("chat needs at least one message")
        loaded = self._lazy.get()
        with model_failures("transformers llm", self.model):
            return self._generate(loaded, self.prompt(messages), temperature, max_tokens, seed)

    def _generate(
        self, loaded: _Loaded, prompt: str, temperature: float, max_tokens: int, seed: int
    ) -> str:
        import torch
        from transformers import LogitsProcessorList

        tokenizer = loaded.tokenizer
        bos = getattr(tokenizer, "bos_token", None)
        enc = tokenizer(
            prompt, return_tensors="pt", add_special_tokens=not (bos and prompt.startswith(bos))
        )
        enc = {k: enc[k].to(loaded.device) for k in ("input_ids", "attention_mask") if k in enc}
        config = copy.deepcopy(loaded.model.generation_config)
        config.max_new_tokens = max_tokens
        config.max_length = None
        config.do_sample = False
        config.num_beams = 1
        config.temperature = None
        config.top_p = None
        config.top_k = None
        config.min_p = None
        config.typical_p = None
        if config.pad_token_id is None:
            eos = config.eos_token_id
            if isinstance(eos, list):
                eos = eos[0] if eos else None
            pad = tokenizer.pad_token_id
            config.pad_token_id = pad if pad is not None else eos
        processors = LogitsProcessorList()
        if temperature > 0:
            generator = torch.Generator(device=loaded.device).manual_seed(seed)
            processors.append(_SeededSampler(temperature, generator))
        with torch.inference_mode():
            out = loaded.model.generate(
                **enc, generation_config=config, logits_processor=processors
            )
        new = out[0, enc["input_ids"].shape[1] :]
        text: str = tokenizer.decode(new, skip_special_tokens=True)
        return text.strip()


class _SeededSampler:
    """A logits processor that draws the next token itself, with its own generator.

    It samples from ``softmax(scores / temperature)`` and leaves only the drawn token finite, so
    the greedy step that follows it picks exactly that token.
    """

    def __init__(self, temperature: float, generator: Any) -> None:
        self.temperature = temperature
        self.generator = generator

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        picked = torch.multinomial(probs, num_samples=1, generator=self.generator)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, picked, 0.0)

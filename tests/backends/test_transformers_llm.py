from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from fairframe.backends.transformers_llm import TransformersLLM
from fairframe.errors import ConfigError, ModelLoadError
from fairframe.types import ChatMessage
from tests.contract.suites import LLMContract

pytestmark = pytest.mark.models

MESSAGES = [
    ChatMessage("system", "Answer in JSON."),
    ChatMessage("user", 'prompt: "a photo of a doctor"'),
]


@cache
def shared_llm() -> TransformersLLM:
    return TransformersLLM(model="tiny://causal-lm", device="cpu")


class TestTransformersLLMContract(LLMContract):
    def make_llm(self) -> TransformersLLM:
        return shared_llm()


def test_greedy_reply_is_only_the_new_text() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fairframe.testing.tiny import tiny_model_path

    path = tiny_model_path("causal-lm")
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    ids = tok.apply_chat_template(
        [m.to_json() for m in MESSAGES], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert ids[0] == tok.bos_token_id
    new: list[int] = []
    with torch.no_grad():
        for _ in range(6):
            logits = model(torch.tensor([ids + new])).logits[0, -1]
            token = int(logits.argmax())
            if token == tok.eos_token_id:
                break
            new.append(token)
    expected = tok.decode(new, skip_special_tokens=True).strip()

    reply = shared_llm().chat(MESSAGES, temperature=0.0, max_tokens=6)
    assert reply == expected
    assert "photo of a doctor" not in reply
    assert "<|assistant|>" not in reply


def test_prompt_uses_the_chat_template() -> None:
    assert shared_llm().prompt(MESSAGES) == (
        '<s><|system|> Answer in JSON. <|end|> <|user|> prompt: "a photo of a doctor" <|end|> '
        "<|assistant|>"
    )


def test_sampling_is_seeded_and_leaves_the_global_rng_alone() -> None:
    import torch

    llm = shared_llm()
    state = torch.get_rng_state()
    a = llm.chat(MESSAGES, temperature=1.0, max_tokens=8, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert llm.chat(MESSAGES, temperature=1.0, max_tokens=8, seed=1) == a
    replies = {llm.chat(MESSAGES, temperature=1.0, max_tokens=8, seed=s) for s in range(4)}
    assert len(replies) > 1
    assert llm.chat(MESSAGES, temperature=0.0, max_tokens=8, seed=1) == llm.chat(
        MESSAGES, temperature=0.0, max_tokens=8, seed=2
    )


def test_max_tokens_caps_the_reply() -> None:
    reply = shared_llm().chat(MESSAGES, temperature=1.0, max_tokens=3, seed=0)
    assert 1 <= len(reply.split()) <= 3


def test_loads_once_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    calls: list[str] = []
    original = transformers.AutoModelForCausalLM.from_pretrained

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("load")
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", counting)
    llm = TransformersLLM(model="tiny://causal-lm", device="cpu")
    assert llm.identity() == {
        "backend": "transformers",
        "model": "tiny://causal-lm",
        "revision": llm.identity()["revision"],
        "dtype": "float32",
    }
    assert calls == [] and not llm._lazy.loaded
    llm.chat(MESSAGES, max_tokens=2)
    llm.chat(MESSAGES, max_tokens=2, temperature=0.5)
    assert calls == ["load"]


def test_missing_folder_is_a_one_line_model_load_error(tmp_path: Path) -> None:
    llm = TransformersLLM(model=str(tmp_path / "no-such-model"), device="cpu")
    with pytest.raises(ModelLoadError) as info:
        llm.chat(MESSAGES)
    assert "\n" not in str(info.value)
    assert "no-such-model" in str(info.value)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [({"temperature": -0.1}, "temperature"), ({"max_tokens": 0}, "max_tokens")],
)
def test_bad_arguments_are_config_errors(options: dict[str, float], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        shared_llm().chat(MESSAGES, **options)


def test_plain_prompt_and_system_folding() -> None:
    from fairframe.backends.transformers_llm import _fold_system, _plain_prompt

    assert _plain_prompt(MESSAGES) == (
        'System: Answer in JSON.\nUser: prompt: "a photo of a doctor"\nAssistant:'
    )
    assert _fold_system(MESSAGES) == [
        {"role": "user", "content": 'Answer in JSON.\n\nprompt: "a photo of a doctor"'}
    ]


def test_templates_without_a_system_role_get_it_folded_into_the_user_turn() -> None:
    llm = TransformersLLM(model="tiny://causal-lm", device="cpu")
    tokenizer = llm._lazy.get().tokenizer
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    assert llm.prompt(MESSAGES) == (
        '<|user|> Answer in JSON.\n\nprompt: "a photo of a doctor" <|end|> <|assistant|>'
    )
    assert isinstance(llm.chat(MESSAGES, max_tokens=2), str)

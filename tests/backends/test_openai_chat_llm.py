"""OpenAIChatLLM against the loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fairframe.backends import LLMS
from fairframe.backends.openai_chat_llm import OpenAIChatLLM
from fairframe.errors import EndpointError
from fairframe.testing.openai_server import OpenAICompatibleServer, chat_response
from fairframe.types import ChatMessage
from tests.contract.suites import LLMContract

FAST: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 5.0}
MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "hi")]


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as srv:
        yield srv


def make(server: OpenAICompatibleServer, **options: Any) -> OpenAIChatLLM:
    return OpenAIChatLLM(**{"base_url": server.base_url, "model": "tiny-lm", **FAST, **options})


class TestOpenAIChatLLMContract(LLMContract):
    @pytest.fixture(autouse=True)
    def _server(self, server: OpenAICompatibleServer) -> None:
        self.server = server

    def make_llm(self) -> OpenAIChatLLM:
        return make(self.server)


def test_is_registered() -> None:
    assert LLMS.get("openai-chat") is OpenAIChatLLM


def test_request_and_reply(server: OpenAICompatibleServer) -> None:
    server.chat_handler = lambda body: "the reply"
    with make(server) as llm:
        assert llm.chat(MESSAGES, temperature=0.3, max_tokens=12, seed=5) == "the reply"
    assert server.requests[0].body == {
        "model": "tiny-lm",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
        "temperature": 0.3,
        "max_tokens": 12,
        "seed": 5,
    }


def test_json_mode_sends_response_format(server: OpenAICompatibleServer) -> None:
    with make(server, json_mode=True) as llm:
        reply = llm.chat(MESSAGES)
    assert server.requests[0].body["response_format"] == {"type": "json_object"}
    assert "echo" in json.loads(reply)


def test_identity_is_complete_and_has_no_key(
    server: OpenAICompatibleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FF_CHAT_KEY", "sk-from-env")
    llm = make(server, api_key_env="FF_CHAT_KEY", json_mode=True)
    assert dict(llm.identity()) == {
        "backend": "openai-chat",
        "base_url": server.base_url,
        "model": "tiny-lm",
        "json_mode": True,
    }
    llm.chat(MESSAGES)
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-env"
    assert "sk-from-env" not in json.dumps(dict(llm.identity()))
    llm.close()


def test_401_names_the_env_var(
    server: OpenAICompatibleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.require_api_key = "sk-right"
    monkeypatch.setenv("FF_CHAT_KEY", "sk-wrong")
    with (
        make(server, api_key_env="FF_CHAT_KEY") as llm,
        pytest.raises(EndpointError, match=r"401 .*check the API key in \$FF_CHAT_KEY"),
    ):
        llm.chat(MESSAGES)


def test_retries_then_gives_up(server: OpenAICompatibleServer) -> None:
    server.fail_next(2, status=500)
    with make(server, max_retries=2) as llm:
        assert llm.chat(MESSAGES).startswith("echo ")
        server.fail_next(3, status=500)
        with pytest.raises(EndpointError, match="500 .*after 3 attempts") as info:
            llm.chat(MESSAGES)
    assert "\n" not in str(info.value)
    assert [r.status for r in server.requests] == [500, 500, 200, 500, 500, 500]


def test_refused_port_is_reported_quickly() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    start = time.monotonic()
    llm = OpenAIChatLLM(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, **FAST)
    with pytest.raises(EndpointError, match=f"cannot reach http://127.0.0.1:{port}/v1/chat"):
        llm.chat(MESSAGES)
    assert time.monotonic() - start < 3.0
    llm.close()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("{oops", "not JSON"),
        ({"object": "chat.completion"}, "without choices\\[0\\].message"),
        (chat_response(None), "without choices\\[0\\].message.content"),
    ],
)
def test_malformed_answers_are_endpoint_errors(
    server: OpenAICompatibleServer, body: Any, match: str
) -> None:
    if isinstance(body, str):
        server.fail_next(1, status=200, body=body)
    else:
        server.chat_handler = lambda req: body
    with make(server) as llm, pytest.raises(EndpointError, match=match):
        llm.chat(MESSAGES)

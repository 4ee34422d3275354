"""An LLM backend that calls an OpenAI-compatible ``POST /chat/completions`` endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fairframe.backends._openai_http import OpenAIBackend, chat_content
from fairframe.types import ChatMessage, JSONValue

__all__ = ["OpenAIChatLLM"]

_PATH = "chat/completions"


class OpenAIChatLLM(OpenAIBackend):
    """A chat model behind an OpenAI-compatible API (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).

    :meth:`chat` sends ``model``, ``messages``, ``temperature``, ``max_tokens`` and ``seed`` (plus
    ``response_format={"type": "json_object"}`` with ``json_mode``) and returns
    ``choices[0].message.content``.

    Parameters
    ----------
    base_url:
        The API root, usually ending in ``/v1``.
    model:
        The model id the server knows.
    api_key:
        The API key; when ``None`` it is read from ``$api_key_env`` at request time. Never recorded.
    api_key_env:
        Environment variable holding the key.
    json_mode:
        Ask the server for a JSON object answer (OpenAI "JSON mode"; vLLM, Ollama and llama.cpp
        support it too).
    timeout_s, max_retries, backoff_s:
        Per-attempt timeout and retry policy.
    headers:
        Extra HTTP headers (never recorded).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        json_mode: bool = False,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._init_backend(model, "chat model")
        self.json_mode = bool(json_mode)
        self._connect(base_url, api_key, api_key_env, timeout_s, max_retries, backoff_s, headers)

    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, server, model and JSON mode (never the key)."""
        return {**self.base_identity("openai-chat"), "json_mode": self.json_mode}

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> str:
        """Return the assistant's reply to ``messages``.

        Raises
        ------
        fairframe.errors.EndpointError
            The server is unreachable, refuses, or answers without message text.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_json() for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        data = self._client.post_json(_PATH, body)
        return chat_content(data, self._shown_url(_PATH))

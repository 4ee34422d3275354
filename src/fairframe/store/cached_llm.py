"""An LLM wrapper that answers repeated calls from the cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fairframe.protocols import LLM
from fairframe.store.keys import make_key
from fairframe.store.sqlite_store import Store
from fairframe.types import ChatMessage, JSONValue

__all__ = ["CachedLLM"]


class CachedLLM:
    """Wraps an :class:`~fairframe.protocols.LLM`; calls are keyed by the model's identity, the
    messages and the parameters (temperature, max_tokens, seed).

    Attributes
    ----------
    hits, misses:
        How many calls the cache answered, and how many went to the model.
    """

    def __init__(self, llm: LLM, store: Store, *, read: bool = True) -> None:
        self.llm = llm
        self.store = store
        self.read = read
        self.hits = 0
        self.misses = 0

    def identity(self) -> Mapping[str, JSONValue]:
        return self.llm.identity()

    def request(
        self, messages: Sequence[ChatMessage], temperature: float, max_tokens: int, seed: int
    ) -> dict[str, JSONValue]:
        """The cache-key payload of one call."""
        return {
            "llm": dict(self.llm.identity()),
            "messages": [m.to_json() for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
        }

    def is_cached(
        self, messages: Sequence[ChatMessage], *, temperature: float = 0.0,
        max_tokens: int = 1024, seed: int = 0,
    ) -> bool:
        """Whether this exact call is in the cache."""
        req = self.request(messages, temperature, max_tokens, seed)
        return self.store.get_llm(make_key("llm", req)) is not None

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> str:
        req = self.request(messages, temperature, max_tokens, seed)
        key = make_key("llm", req)
        if self.read:
            cached = self.store.get_llm(key)
            if cached is not None:
                self.hits += 1
                return cached
        reply = self.llm.chat(messages, temperature=temperature, max_tokens=max_tokens, seed=seed)
        self.misses += 1
        self.store.put_llm(key, req, reply)
        return reply

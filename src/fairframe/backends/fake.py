"""Instant, deterministic stand-ins for a generator, a labeler and an LLM.

They need no model and no network, cost microseconds, and are what the benchmarks,
``fairframe doctor`` and users' own tests use to exercise the pipeline. Outputs are pure functions
of the inputs, so a run with fake backends is exactly reproducible.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from fairframe.types import (
    UNKNOWN,
    ChatMessage,
    GeneratedImage,
    GenerationRequest,
    JSONValue,
    LabelQuestion,
    LabelResult,
)

__all__ = ["FakeGenerator", "FakeLLM", "FakeLabeler"]


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts' text."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FakeGenerator:
    """Makes a small noise image per request, seeded by the prompt and the seed.

    Parameters
    ----------
    size:
        Side of the square images when the request gives no size.
    delay_s:
        Seconds to sleep per image (to simulate a slow model in tests).
    batch_size:
        Largest batch the pipeline sends at once.
    """

    def __init__(self, *, size: int = 32, delay_s: float = 0.0, batch_size: int = 64) -> None:
        if size < 8:
            raise ValueError(f"size must be >= 8, got {size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.size = size
        self.delay_s = delay_s
        self.max_batch_size = batch_size

    def identity(self) -> Mapping[str, JSONValue]:
        return {"backend": "fake", "model": "noise", "revision": "1", "size": self.size}

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedImage]:
        out = []
        for req in requests:
            if self.delay_s:
                time.sleep(self.delay_s)
            h = req.height or self.size
            w = req.width or self.size
            key = json.dumps(req.params(), sort_keys=True)
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
            arr = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            out.append(GeneratedImage(req, Image.fromarray(arr, "RGB"), {"fake": True}))
        return out


class FakeLabeler:
    """Answers from a hash of the image, following configurable class shares.

    For each image a uniform number ``u`` is derived from the pixels and the question. With
    probability ``unknown_rate`` the answer is :data:`~fairframe.types.UNKNOWN`; otherwise the class
    is drawn from ``shares`` (default: 70% on the first choice, the rest split evenly), so a run
    shows a known bias. The chosen outcome gets probability ``confidence``; the rest is spread
    evenly.

    Parameters
    ----------
    shares:
        Class share by choice name (renormalised over the question's choices); missing choices
        get the default split.
    first_share:
        Share of the first choice when ``shares`` does not name the choices.
    unknown_rate:
        Share of images answered :data:`~fairframe.types.UNKNOWN`.
    confidence:
        Probability given to the chosen outcome.
    """

    max_batch_size = 256

    def __init__(
        self,
        *,
        shares: Mapping[str, float] | None = None,
        first_share: float = 0.7,
        unknown_rate: float = 0.0,
        confidence: float = 0.9,
    ) -> None:
        if not 0.0 <= unknown_rate < 1.0:
            raise ValueError(f"unknown_rate must be in [0, 1), got {unknown_rate}")
        if not 0.0 < confidence <= 1.0:
            raise ValueError(f"confidence must be in (0, 1], got {confidence}")
        if not 0.0 <= first_share <= 1.0:
            raise ValueError(f"first_share must be in [0, 1], got {first_share}")
        self.shares = dict(shares or {})
        self.first_share = first_share
        self.unknown_rate = unknown_rate
        self.confidence = confidence

    def identity(self) -> Mapping[str, JSONValue]:
        return {
            "backend": "fake",
            "shares": dict(sorted(self.shares.items())),
            "first_share": self.first_share,
            "unknown_rate": self.unknown_rate,
            "confidence": self.confidence,
        }

    def _class_shares(self, choices: Sequence[str]) -> list[float]:
        named = [self.shares.get(c) for c in choices]
        if any(s is not None for s in named):
            vals = [float(s or 0.0) for s in named]
        else:
            k = len(choices)
            rest = (1.0 - self.first_share) / (k - 1)
            vals = [self.first_share] + [rest] * (k - 1)
        total = sum(vals)
        return [v / total for v in vals]

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        outcomes = question.outcomes
        cum = np.cumsum(self._class_shares(question.choices))
        results = []
        for img in images:
            digest = hashlib.sha256(img.tobytes()).hexdigest()
            u = _unit(digest, question.question, question.choices)
            if u < self.unknown_rate:
                pick = UNKNOWN
            else:
                v = (u - self.unknown_rate) / (1.0 - self.unknown_rate)
                idx = min(int(np.searchsorted(cum, v, side="right")), len(cum) - 1)
                pick = question.choices[idx]
            rest = (1.0 - self.confidence) / (len(outcomes) - 1)
            probs = [self.confidence if o == pick else rest for o in outcomes]
            results.append(LabelResult.from_scores(outcomes, probs, answer=pick))
        return results


class FakeLLM:
    """Replies from a script, or with one valid gender/age proposal when no script is given.

    Parameters
    ----------
    responses:
        Replies returned in order, cycling. Use them to test parsing, repair and retries.
    """

    def __init__(self, *, responses: Sequence[str] | None = None) -> None:
        self.responses = list(responses or [])
        self.calls = 0

    def identity(self) -> Mapping[str, JSONValue]:
        return {"backend": "fake", "responses": self.responses}

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> str:
        self.calls += 1
        if self.responses:
            return self.responses[(self.calls - 1) % len(self.responses)]
        default: dict[str, Any] = {
            "bias": [
                {
                    "name": "gender",
                    "refer_to": "person",
                    "classes": ["man", "woman"],
                    "question": "What is the gender of the person?",
                    "present_in_prompt": False,
                },
                {
                    "name": "age",
                    "refer_to": "person",
                    "classes": ["young", "middle-aged", "old"],
                    "question": "How old is the person?",
                    "present_in_prompt": False,
                },
            ]
        }
        return json.dumps(default)

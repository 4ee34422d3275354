"""Values that cross component boundaries: generation requests, generated images, label results.

All are frozen dataclasses with documented fields. Generation arguments use one vocabulary in every
backend (:data:`GENERATION_PARAMS`), and a labeler always answers with a probability for each choice
plus :data:`UNKNOWN`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "GENERATION_PARAMS",
    "SAFETY_LEVELS",
    "refuse_safety",
    "UNKNOWN",
    "ChatMessage",
    "GeneratedImage",
    "GenerationRequest",
    "JSONValue",
    "LabelQuestion",
    "LabelResult",
]

#: The outcome every labeler may give besides the choices: no person / object, or cannot tell.
UNKNOWN = "unknown"

#: The generation arguments every generator understands, with the same names everywhere.
GENERATION_PARAMS = frozenset(
    {
        "prompt",
        "negative_prompt",
        "seed",
        "num_images",
        "height",
        "width",
        "guidance_scale",
        "num_inference_steps",
    }
)

JSONValue = Any
"""A value that survives ``json.dumps`` (str, int, float, bool, None, list, dict)."""

#: Safety-guidance strengths a :class:`GenerationRequest` may ask for, weakest first: the Safe
#: Latent Diffusion presets (``SafetyConfig.WEAK`` .. ``SafetyConfig.MAX`` in diffusers).
SAFETY_LEVELS: tuple[str, ...] = ("weak", "medium", "strong", "max")


@dataclass(frozen=True)
class GenerationRequest:
    """One image to generate.

    Attributes
    ----------
    prompt:
        The text prompt.
    seed:
        The seed of this one image; generators must produce the same image for the same seed
        (where the backend allows it) and record it.
    negative_prompt:
        Text to steer away from, or ``None``.
    height, width:
        Image size in pixels, or ``None`` for the backend's default.
    guidance_scale:
        Classifier-free guidance scale, or ``None`` for the backend's default.
    num_inference_steps:
        Denoising steps, or ``None`` for the backend's default.
    safety:
        Safety guidance during denoising, one of :data:`SAFETY_LEVELS` (``"weak"``,
        ``"medium"``, ``"strong"``, ``"max"``; any case), or ``None`` for none. Only generators
        whose ``supports_safety`` attribute is true honour it (the diffusers backend, with Stable
        Diffusion 1.x/2.x pipelines: Safe Latent Diffusion presets); others refuse such a request
        or are not sent one. It is not part of :data:`GENERATION_PARAMS` because most backends
        cannot do it.

    Raises
    ------
    ConfigError
        ``safety`` is not one of :data:`SAFETY_LEVELS`.
    """

    prompt: str
    seed: int
    negative_prompt: str | None = None
    height: int | None = None
    width: int | None = None
    guidance_scale: float | None = None
    num_inference_steps: int | None = None
    safety: str | None = None

    def __post_init__(self) -> None:
        if self.safety is not None:
            level = str(self.safety).strip().lower()
            if level not in SAFETY_LEVELS:
                from fairframe.errors import ConfigError

                raise ConfigError(
                    f"generation request: safety {self.safety!r} is not a safety level; use one "
                    f"of {', '.join(SAFETY_LEVELS)} or None"
                )
            object.__setattr__(self, "safety", level)

    def params(self) -> dict[str, JSONValue]:
        """The request as a plain dict (part of every image cache key).

        ``safety`` appears only when set, so requests without it keep the cache keys they had
        before the field existed.
        """
        out: dict[str, JSONValue] = {
            "prompt": self.prompt,
            "seed": self.seed,
            "negative_prompt": self.negative_prompt,
            "height": self.height,
            "width": self.width,
            "guidance_scale": self.guidance_scale,
            "num_inference_steps": self.num_inference_steps,
        }
        if self.safety is not None:
            out["safety"] = self.safety
        return out


@dataclass(frozen=True)
class GeneratedImage:
    """An image a generator returned for one :class:`GenerationRequest`.

    Attributes
    ----------
    request:
        The request it answers.
    image:
        An RGB ``PIL.Image.Image``.
    metadata:
        Backend-specific facts worth keeping (e.g. a revised prompt, the source file), JSON-able.
    """

    request: GenerationRequest
    image: Image.Image
    metadata: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelQuestion:
    """A multiple-choice question about one image.

    Attributes
    ----------
    question:
        The question, e.g. ``"What is the gender of the person?"``.
    choices:
        The answer classes, e.g. ``("man", "woman")``. :data:`UNKNOWN` is implied and must not be
        listed.
    refer_to:
        What the question is about (``"person"``), which labelers may use to phrase prompts
        (CLIP: "a photo of a {choice} {refer_to}").
    """

    question: str
    choices: tuple[str, ...]
    refer_to: str = ""

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"a question needs at least two choices, got {list(self.choices)}")
        lowered = [c.strip().lower() for c in self.choices]
        if UNKNOWN in lowered:
            raise ValueError(f"{UNKNOWN!r} is implied and must not be listed as a choice")
        if len(set(lowered)) != len(lowered):
            raise ValueError(f"choices must be distinct, got {list(self.choices)}")

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The choices followed by :data:`UNKNOWN`: the keys of every :class:`LabelResult`."""
        return (*self.choices, UNKNOWN)


@dataclass(frozen=True)
class LabelResult:
    """A labeler's answer to one :class:`LabelQuestion` for one image.

    Attributes
    ----------
    probs:
        Probability of each outcome (every choice and :data:`UNKNOWN`); non-negative, sums to 1.
    answer:
        The raw answer text when the labeler produced one (VQA, chat), else ``None``.
    """

    probs: Mapping[str, float]
    answer: str | None = None

    def __post_init__(self) -> None:
        if UNKNOWN not in self.probs:
            raise ValueError(f"a label result must include {UNKNOWN!r}, got {sorted(self.probs)}")
        total = 0.0
        for key, p in self.probs.items():
            if not (p >= 0.0 and math.isfinite(p)):
                raise ValueError(f"probability of {key!r} is {p}; it must be finite and >= 0")
            total += p
        if not math.isclose(total, 1.0, abs_tol=1e-4):
            raise ValueError(f"probabilities sum to {total}, not 1")

    @classmethod
    def from_scores(
        cls, outcomes: Sequence[str], probs: Sequence[float], answer: str | None = None
    ) -> LabelResult:
        """Build a result from aligned outcomes and (possibly unnormalised) non-negative weights."""
        total = float(sum(probs))
        if total <= 0 or not math.isfinite(total):
            raise ValueError(f"cannot normalise weights {list(probs)}")
        return cls({o: float(p) / total for o, p in zip(outcomes, probs, strict=True)}, answer)

    @classmethod
    def certain(
        cls, outcomes: Sequence[str], outcome: str, answer: str | None = None
    ) -> LabelResult:
        """All mass on one outcome (e.g. an abstention maps to :data:`UNKNOWN`)."""
        if outcome not in outcomes:
            raise ValueError(f"{outcome!r} is not one of {list(outcomes)}")
        return cls({o: (1.0 if o == outcome else 0.0) for o in outcomes}, answer)

    @property
    def top(self) -> str:
        """The most probable outcome; ties go to the outcome listed first."""
        best, best_p = "", -1.0
        for key, p in self.probs.items():
            if p > best_p:
                best, best_p = key, p
        return best

    def to_json(self) -> dict[str, JSONValue]:
        """A JSON-able dict; :meth:`from_json` reverses it."""
        return {"probs": dict(self.probs), "answer": self.answer}

    @classmethod
    def from_json(cls, data: Mapping[str, JSONValue]) -> LabelResult:
        """Inverse of :meth:`to_json`."""
        return cls(dict(data["probs"]), data.get("answer"))


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat conversation (OpenAI roles)."""

    role: Literal["system", "user", "assistant"]
    content: str

    def to_json(self) -> dict[str, str]:
        """The OpenAI wire form ``{"role", "content"}``."""
        return {"role": self.role, "content": self.content}


def refuse_safety(requests: Sequence[GenerationRequest], backend: str) -> None:
    """Raise :class:`~fairframe.errors.ConfigError` when a request sets ``safety`` (for
    generators that cannot apply safety guidance, so it is never silently ignored)."""
    if any(r.safety is not None for r in requests):
        from fairframe.errors import ConfigError

        raise ConfigError(
            f"the {backend} generator cannot apply safety guidance (GenerationRequest.safety); "
            "only the diffusers generator with a Stable Diffusion pipeline can — drop 'safety' "
            "or switch generators"
        )

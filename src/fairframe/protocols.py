"""The extension points: what a generator, a labeler and an LLM must provide.

Implementers need not inherit from anything; structural typing is enough. Every component:

* has a keyword-only, cheap constructor (it stores configuration; weights load lazily, once,
  thread-safely, on first use);
* describes itself with :meth:`identity`, a JSON-able mapping of everything that changes its output
  (backend name, model id, revision, dtype, ...). The identity is part of every cache key and of the
  run manifest, so two components with equal identities must give equal outputs.

Register a new component under a stable name with an entry point (see ``docs/plugins.md``)::

    [project.entry-points."fairframe.generators"]
    my-generator = "my_package.generator:MyGenerator"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from fairframe.types import (
    ChatMessage,
    GeneratedImage,
    GenerationRequest,
    JSONValue,
    LabelQuestion,
    LabelResult,
)

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["LLM", "Generator", "Labeler"]


@runtime_checkable
class Generator(Protocol):
    """Turns prompts into images, one recorded seed per image.

    A generator that honours :attr:`~fairframe.types.GenerationRequest.safety` (Safe Latent
    Diffusion presets) also has a ``supports_safety`` attribute that is ``True``; it is read with
    ``getattr(generator, "supports_safety", False)`` and is not a member of this protocol, so
    generators without it still match. A generator without support refuses a request that sets
    ``safety`` with a :class:`~fairframe.errors.ConfigError`.
    """

    #: Largest number of requests :meth:`generate` should receive at once.
    max_batch_size: int

    def identity(self) -> Mapping[str, JSONValue]:
        """Everything that changes the images: backend, model id, revision, dtype, scheduler..."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedImage]:
        """Generate one RGB image per request, in order.

        Raises
        ------
        fairframe.errors.BackendError
            The model or endpoint failed; nothing partial is returned.
        """
        ...


@runtime_checkable
class Labeler(Protocol):
    """Answers a multiple-choice question about images with a distribution over the choices."""

    #: Largest number of images :meth:`label` should receive at once.
    max_batch_size: int

    def identity(self) -> Mapping[str, JSONValue]:
        """Everything that changes the answers: backend, model id, revision, prompt template..."""
        ...

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        """Answer ``question`` for each RGB image, in order.

        Each result holds a probability for every choice and for :data:`~fairframe.types.UNKNOWN`.
        Labelers are deterministic: they score choices or decode greedily, never sample.
        """
        ...


@runtime_checkable
class LLM(Protocol):
    """A chat model, used to propose biases for a caption."""

    def identity(self) -> Mapping[str, JSONValue]:
        """Everything that changes the answers: backend, model id, revision."""
        ...

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> str:
        """Return the assistant's reply to ``messages``.

        ``temperature=0`` means greedy decoding. Raises :class:`~fairframe.errors.BackendError`
        when the model cannot answer.
        """
        ...

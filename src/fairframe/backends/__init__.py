"""Generators, labelers and LLMs, found by stable names.

=================  ==========================================================================
registry           built-in names
=================  ==========================================================================
``GENERATORS``     ``diffusers``, ``openai-images``, ``folder``, ``fake``
``LABELERS``       ``vlm``, ``blip-vqa``, ``clip``, ``openai-vision``, ``fake``, and the
                   measurements ``skin-tone``, ``face-count``, ``colorfulness``, ``nudity``
``LLMS``           ``openai-chat``, ``transformers``, ``fake``
=================  ==========================================================================

Third parties add names through the entry-point groups ``fairframe.generators``,
``fairframe.labelers`` and ``fairframe.llms``; ``"package.module:Name"`` works as a name too.
:func:`build_component` turns a config section into a constructed component.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from fairframe.errors import ConfigError
from fairframe.protocols import LLM, Generator, Labeler
from fairframe.registry import Registry

__all__ = ["GENERATORS", "LABELERS", "LLMS", "build_component"]

_B = "fairframe.backends"

GENERATORS: Registry[Any] = Registry(
    "generator",
    {
        "diffusers": f"{_B}.diffusers_generator:DiffusersGenerator",
        "openai-images": f"{_B}.openai_images_generator:OpenAIImagesGenerator",
        "folder": f"{_B}.folder_generator:FolderGenerator",
        "fake": f"{_B}.fake:FakeGenerator",
    },
)

LABELERS: Registry[Any] = Registry(
    "labeler",
    {
        "vlm": f"{_B}.vlm_labeler:VLMLabeler",
        "blip-vqa": f"{_B}.blip_vqa_labeler:BlipVQALabeler",
        "clip": f"{_B}.clip_labeler:CLIPLabeler",
        "openai-vision": f"{_B}.openai_vision_labeler:OpenAIVisionLabeler",
        "fake": f"{_B}.fake:FakeLabeler",
        "skin-tone": "fairframe.measure.labelers:SkinToneLabeler",
        "face-count": "fairframe.measure.labelers:FaceCountLabeler",
        "colorfulness": "fairframe.measure.labelers:ColorfulnessLabeler",
        "nudity": "fairframe.measure.labelers:NudityLabeler",
    },
)

LLMS: Registry[Any] = Registry(
    "llm",
    {
        "openai-chat": f"{_B}.openai_chat_llm:OpenAIChatLLM",
        "transformers": f"{_B}.transformers_llm:TransformersLLM",
        "fake": f"{_B}.fake:FakeLLM",
    },
)

_PROTOCOLS: dict[str, type] = {"generator": Generator, "labeler": Labeler, "llm": LLM}

T = TypeVar("T")


def build_component(
    registry: Registry[Any], name: str, options: Mapping[str, Any], *, where: str = ""
) -> Any:
    """Construct the component registered as ``name`` with keyword ``options``.

    Unknown or missing options raise :class:`~fairframe.errors.ConfigError` naming the option, the
    config location ``where`` and the allowed options, instead of a ``TypeError`` traceback.
    """
    factory = registry.get(name)
    loc = f"{where}: " if where else ""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        params = sig.parameters
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        allowed = [n for n, p in params.items() if p.kind in named]
        unknown = [k for k in options if k not in params]
        if unknown and not takes_kwargs:
            raise ConfigError(
                f"{loc}unknown option {unknown[0]!r} for {registry.kind} {name!r}; "
                f"allowed: {', '.join(sorted(allowed)) or '(none)'}"
            )
        missing = [
            n
            for n, p in params.items()
            if p.default is p.empty
            and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            and n not in options
        ]
        if missing:
            raise ConfigError(f"{loc}{registry.kind} {name!r} needs option {missing[0]!r}")
    try:
        component = factory(**options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{loc}invalid options for {registry.kind} {name!r}: {exc}") from exc
    proto = _PROTOCOLS.get(registry.kind)
    if proto is not None and not isinstance(component, proto):
        raise ConfigError(
            f"{loc}{name!r} does not implement the {registry.kind} protocol "
            f"(see fairframe.protocols.{proto.__name__})"
        )
    return component

"""A generator that calls an OpenAI-compatible ``POST /images/generations`` endpoint."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin

from fairframe.backends._openai_http import OpenAIBackend, redact_url, require_field
from fairframe.errors import ConfigError, EndpointError, InputDataError
from fairframe.images import load_image
from fairframe.types import GeneratedImage, GenerationRequest, JSONValue, refuse_safety

__all__ = ["OpenAIImagesGenerator"]

_PATH = "images/generations"


class OpenAIImagesGenerator(OpenAIBackend):
    """Generate images with an OpenAI-compatible images API (OpenAI, LocalAI, vLLM-omni, ...).

    Each :class:`~fairframe.types.GenerationRequest` becomes one
    ``POST {base_url}/images/generations`` with ``model``, ``prompt``, ``n=1``,
    ``size="{width}x{height}"`` and ``response_format="b64_json"`` (plus ``quality`` and ``style``
    when set).

    Parameters
    ----------
    base_url:
        The API root, usually ending in ``/v1``.
    model:
        The model id the server knows (``"dall-e-3"``, ``"stabilityai/sdxl-turbo"``...).
    api_key:
        The API key; when ``None`` it is read from ``$api_key_env`` at request time. Never recorded.
    api_key_env:
        Environment variable holding the key.
    size_default:
        ``(width, height)`` used when a request gives no size.
    quality, style:
        Sent as ``quality`` / ``style`` when not ``None`` (OpenAI: ``"hd"``, ``"vivid"``...).
    send_extra_params:
        Also send ``seed``, ``negative_prompt``, ``guidance_scale`` and ``num_inference_steps``.
        Many local servers accept them; OpenAI rejects or ignores them, so it is off by default and
        the seed then does not reach the server.
    timeout_s, max_retries, backoff_s:
        Per-attempt timeout and retry policy (see ``fairframe.backends._openai_http``).
    batch_size:
        Largest batch :meth:`generate` should receive; up to this many requests run concurrently.
    deterministic:
        Whether the server reproduces an image from its seed (recorded in :meth:`identity`, so
        audits can say whether re-running reproduces images).
    headers:
        Extra HTTP headers (never recorded).

    Notes
    -----
    Answers may carry ``data[0].b64_json`` or ``data[0].url``. A ``url`` is used only when it is a
    ``data:`` URL or lies on the same scheme, host and port as ``base_url`` (then it is fetched with
    the same client and key); Fairframe never fetches images from third-party hosts, so point such
    servers at ``response_format="b64_json"``. A ``revised_prompt`` in the answer is kept in the
    image metadata.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        size_default: Sequence[int] = (1024, 1024),
        quality: str | None = None,
        style: str | None = None,
        send_extra_params: bool = False,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        batch_size: int = 1,
        deterministic: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if len(size_default) != 2 or not all(isinstance(v, int) and v >= 8 for v in size_default):
            raise ConfigError(f"size_default must be (width, height) >= 8, got {size_default!r}")
        self._init_backend(model, "model", batch_size)
        self.size_default = (int(size_default[0]), int(size_default[1]))
        self.quality = quality
        self.style = style
        self.send_extra_params = bool(send_extra_params)
        self.deterministic = bool(deterministic)
        self._connect(base_url, api_key, api_key_env, timeout_s, max_retries, backoff_s, headers)

    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, server, model and every option that changes the images (never the key)."""
        return {
            **self.base_identity("openai-images"),
            "quality": self.quality,
            "style": self.style,
            "size_default": list(self.size_default),
            "send_extra_params": self.send_extra_params,
            "deterministic": self.deterministic,
        }

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body sent for ``request``."""
        width = request.width or self.size_default[0]
        height = request.height or self.size_default[1]
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": request.prompt,
            "n": 1,
            "size": f"{width}x{height}",
            "response_format": "b64_json",
        }
        if self.quality is not None:
            body["quality"] = self.quality
        if self.style is not None:
            body["style"] = self.style
        if self.send_extra_params:
            body["seed"] = request.seed
            extras = {
                "negative_prompt": request.negative_prompt,
                "guidance_scale": request.guidance_scale,
                "num_inference_steps": request.num_inference_steps,
            }
            body.update({k: v for k, v in extras.items() if v is not None})
        return body

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedImage]:
        """One image per request, in order; any failure raises and nothing partial is returned.

        Raises
        ------
        fairframe.errors.EndpointError
            The server is unreachable, refuses, or answers without a decodable image.
        """
        requests = list(requests)
        refuse_safety(requests, "openai-images")
        workers = min(self.max_batch_size, len(requests))
        if workers <= 1:
            return [self._generate_one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ff-openai-images") as pool:
            return list(pool.map(self._generate_one, requests))

    def _generate_one(self, request: GenerationRequest) -> GeneratedImage:
        url = self._shown_url(_PATH)
        data = self._client.post_json(_PATH, self.payload(request))
        item = require_field(data, ("data", 0), url)
        if not isinstance(item, dict):
            raise EndpointError(f"{url} answered data[0] that is not an object")
        raw = self._image_bytes(item, url)
        try:
            image = load_image(raw, source=f"from {url}")
        except InputDataError as exc:
            raise EndpointError(f"{url} answered an unusable image: {exc}") from exc
        metadata: dict[str, JSONValue] = {"seed_sent": self.send_extra_params}
        revised = item.get("revised_prompt")
        if isinstance(revised, str):
            metadata["revised_prompt"] = revised
        return GeneratedImage(request, image, metadata)

    def _image_bytes(self, item: Mapping[str, Any], url: str) -> bytes:
        b64 = item.get("b64_json")
        if isinstance(b64, str):
            return _b64(b64, url, "data[0].b64_json")
        link = item.get("url")
        if isinstance(link, str):
            if link.startswith("data:"):
                head, sep, encoded = link.partition(",")
                if not sep or not head.endswith(";base64"):
                    raise EndpointError(f"{url} answered a data: URL that is not base64")
                return _b64(encoded, url, "data[0].url")
            absolute = urljoin(self._client.base_url + "/", link)
            if not self._client.same_host(absolute):
                raise EndpointError(
                    f"{url} answered an image URL on another host ({redact_url(absolute)}); "
                    "Fairframe only fetches same-host URLs: configure the server to return "
                    "b64_json"
                )
            return self._client.get_bytes(absolute)
        raise EndpointError(
            f"{url} answered without data[0].b64_json (or data[0].url); check that the server "
            "supports response_format='b64_json'"
        )


def _b64(text: str, url: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EndpointError(f"{url} answered {what} that is not valid base64") from exc

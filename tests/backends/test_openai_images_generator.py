"""OpenAIImagesGenerator against the loopback OpenAI-compatible server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from fairframe.backends import GENERATORS
from fairframe.backends.openai_images_generator import OpenAIImagesGenerator
from fairframe.errors import EndpointError
from fairframe.images import to_png_bytes
from fairframe.testing.openai_server import OpenAICompatibleServer, fake_png, images_response
from fairframe.types import GenerationRequest
from tests.contract.suites import GeneratorContract

FAST: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 5.0}


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as srv:
        yield srv


def make(server: OpenAICompatibleServer, **options: Any) -> OpenAIImagesGenerator:
    options = {"base_url": server.base_url, "model": "tiny-sd", **FAST, **options}
    return OpenAIImagesGenerator(**options)


class TestOpenAIImagesGeneratorContract(GeneratorContract):
    deterministic = True

    @pytest.fixture(autouse=True)
    def _server(self, server: OpenAICompatibleServer) -> None:
        self.server = server

    def make_generator(self) -> OpenAIImagesGenerator:
        return make(self.server, send_extra_params=True, deterministic=True, batch_size=2)


def req(prompt: str = "a photo of a doctor", seed: int = 7, **kw: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, seed=seed, **kw)


def test_is_registered() -> None:
    assert GENERATORS.get("openai-images") is OpenAIImagesGenerator


def test_sends_openai_fields_only_by_default(server: OpenAICompatibleServer) -> None:
    with make(server) as gen:
        out = gen.generate([req(height=48, width=64, guidance_scale=3.0, negative_prompt="x")])
    assert out[0].image.size == (64, 48)
    assert out[0].image.mode == "RGB"
    assert server.requests[0].path == "/v1/images/generations"
    assert server.requests[0].body == {
        "model": "tiny-sd",
        "prompt": "a photo of a doctor",
        "n": 1,
        "size": "64x48",
        "response_format": "b64_json",
    }
    assert out[0].metadata == {"seed_sent": False}


def test_sends_extra_params_quality_and_style_when_asked(server: OpenAICompatibleServer) -> None:
    with make(server, send_extra_params=True, quality="hd", style="natural",
              size_default=(40, 32)) as gen:
        gen.generate([req(num_inference_steps=3, negative_prompt="blurry")])
    body = server.requests[0].body
    assert body["size"] == "40x32"
    assert (body["quality"], body["style"]) == ("hd", "natural")
    assert (body["seed"], body["negative_prompt"], body["num_inference_steps"]) == (7, "blurry", 3)
    assert "guidance_scale" not in body  # None values are not sent


def test_seed_changes_the_image_when_sent(server: OpenAICompatibleServer) -> None:
    with make(server, send_extra_params=True) as gen:
        a, b = gen.generate([req(seed=1, height=32, width=32), req(seed=2, height=32, width=32)])
    assert not np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_identity_is_complete_and_has_no_key(server: OpenAICompatibleServer) -> None:
    gen = make(server, api_key="sk-secret", deterministic=True)
    ident = dict(gen.identity())
    assert ident == {
        "backend": "openai-images",
        "base_url": server.base_url,
        "model": "tiny-sd",
        "quality": None,
        "style": None,
        "size_default": [1024, 1024],
        "send_extra_params": False,
        "deterministic": True,
    }
    assert "sk-secret" not in json.dumps(ident)
    gen.generate([req(height=16, width=16)])
    assert server.requests[0].headers["authorization"] == "Bearer sk-secret"
    gen.close()


def test_revised_prompt_is_kept(server: OpenAICompatibleServer) -> None:
    server.images_handler = lambda body: images_response(
        [fake_png("k", 16, 16)], revised_prompt="a doctor, photo"
    )
    with make(server) as gen:
        (out,) = gen.generate([req()])
    assert out.metadata["revised_prompt"] == "a doctor, photo"


def test_data_url_answers_are_accepted(server: OpenAICompatibleServer) -> None:
    png = fake_png("data-url", 24, 16)
    link = "data:image/png;base64," + base64.b64encode(png).decode()
    server.images_handler = lambda body: {"data": [{"url": link}]}
    with make(server) as gen:
        (out,) = gen.generate([req()])
    assert out.image.size == (24, 16)


def test_same_host_urls_are_fetched(server: OpenAICompatibleServer) -> None:
    png = fake_png("same-host", 16, 24)
    absolute = server.add_file("a.png", png)
    server.images_handler = lambda body: {"data": [{"url": absolute}]}
    with make(server) as gen:
        (out,) = gen.generate([req()])
        server.images_handler = lambda body: {"data": [{"url": "/files/a.png"}]}
        (again,) = gen.generate([req()])
    assert to_png_bytes(out.image) == to_png_bytes(again.image)
    assert out.image.size == (16, 24)
    assert [r.path for r in server.requests].count("/files/a.png") == 2


def test_foreign_urls_are_refused(server: OpenAICompatibleServer) -> None:
    server.images_handler = lambda body: {"data": [{"url": "https://cdn.example.com/x.png"}]}
    with make(server) as gen, pytest.raises(EndpointError, match="another host .*b64_json"):
        gen.generate([req()])
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"created": 0}, "without data\\[0\\]"),
        ({"data": []}, "without data\\[0\\]"),
        ({"data": [{"revised_prompt": "x"}]}, "without data\\[0\\].b64_json"),
        ({"data": [{"b64_json": "!!not base64!!"}]}, "not valid base64"),
        ({"data": [{"b64_json": base64.b64encode(b"not a png").decode()}]}, "unusable image"),
    ],
)
def test_wrong_shaped_answers_are_endpoint_errors(
    server: OpenAICompatibleServer, answer: dict[str, Any], match: str
) -> None:
    server.images_handler = lambda body: answer
    with make(server) as gen, pytest.raises(EndpointError, match=match) as info:
        gen.generate([req()])
    assert server.base_url + "/images/generations" in str(info.value)


def test_a_failure_in_a_batch_raises(server: OpenAICompatibleServer) -> None:
    server.fail_next(5, status=400)
    with make(server, batch_size=4) as gen, pytest.raises(EndpointError, match="400"):
        gen.generate([req(seed=s, height=16, width=16) for s in range(4)])


def test_batches_keep_order(server: OpenAICompatibleServer) -> None:
    reqs = [req(prompt=f"p{i}", height=16, width=16) for i in range(6)]
    with make(server, batch_size=3) as gen:
        batch = gen.generate(reqs)
    with make(server, batch_size=1) as gen:
        single = gen.generate(reqs)
    assert [o.request for o in batch] == reqs
    assert [to_png_bytes(o.image) for o in batch] == [to_png_bytes(o.image) for o in single]


def test_retries_transient_failures(server: OpenAICompatibleServer) -> None:
    server.fail_next(2, status=502)
    with make(server, max_retries=2) as gen:
        gen.generate([req(height=16, width=16)])
    assert [r.status for r in server.requests] == [502, 502, 200]


def test_safety_guidance_is_refused_before_any_request(server: OpenAICompatibleServer) -> None:
    from fairframe.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot apply safety guidance"):
        make(server).generate([req(safety="strong")])
    assert server.requests == []

"""VLMJudge against the loopback OpenAI-compatible server, with handlers that look at the image."""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import BackendError, ConfigError, EndpointError
from fairframe.guard.image.stage import ImageStage
from fairframe.guard.image.vlm_judge import VLMJudge, vlm_system_prompt
from fairframe.guard.policy import CATEGORY_DESCRIPTIONS, Category
from fairframe.testing.openai_server import OpenAICompatibleServer

FAST: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 5.0, "max_retries": 0}
ALL = [c.value for c in Category]


def sent_image(body: dict[str, Any]) -> Image.Image:
    """The image of a chat request, decoded from its data URL."""
    parts = body["messages"][1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def sent_text(body: dict[str, Any]) -> str:
    parts = body["messages"][1]["content"]
    return str(next(p["text"] for p in parts if p["type"] == "text"))


def by_colour(body: dict[str, Any]) -> str:
    """Answers from the pixels: a red image is violence 0.9, anything else 0.05; the sexual score
    is 0.8 when the prompt mentions 'nude'."""
    r, g, b = np.asarray(sent_image(body).convert("RGB"), dtype=float).mean(axis=(0, 1))
    red = r > 150 and g < 80 and b < 80
    nude = "nude" in sent_text(body)
    return json.dumps({
        "categories": {"violence": 0.9 if red else 0.05, "sexual": 0.8 if nude else 0.0},
        "rationale": "red everywhere" if red else "plain",
    })


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(chat=by_colour) as srv:
        yield srv


def make(server: OpenAICompatibleServer, **options: Any) -> VLMJudge:
    return VLMJudge(**{"base_url": server.base_url, "model": "vlm", **FAST, **options})


def test_scores_follow_the_image_and_the_request_shape(server: OpenAICompatibleServer) -> None:
    red = Image.new("RGB", (40, 30), (220, 10, 10))
    blue = Image.new("RGB", (40, 30), (10, 10, 220))
    with make(server) as judge:
        assert isinstance(judge, ImageStage) and judge.name == "vlm_judge"
        r_red, r_blue = judge.check_images([red, blue], ["a nude figure", None])
    assert set(r_red.scores) == set(ALL)
    assert r_red.scores["violence"] == 0.9 and r_red.scores["sexual"] == 0.8
    assert r_red.scores["hate"] == 0.0  # asked about, not answered
    assert r_blue.scores["violence"] == 0.05 and r_blue.scores["sexual"] == 0.0
    assert sorted((f.category, f.score) for f in r_red.findings) == [
        ("sexual", 0.8), ("violence", 0.9)
    ]
    for f in r_red.findings:
        assert f.stage == "vlm_judge" and f.evidence.box is None
        assert f.evidence.label == "red everywhere"
    assert r_blue.findings == ()

    bodies = sorted((r.body for r in server.requests), key=lambda b: "nude" not in sent_text(b))
    body = bodies[0]
    assert body["model"] == "vlm" and body["temperature"] == 0 and body["seed"] == 0
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    for category in Category:
        assert f"- {category.value}: {CATEGORY_DESCRIPTIONS[category]}" in system
    assert sent_image(body).size == (40, 30)
    assert '"""\na nude figure\n"""' in sent_text(body)
    assert "prompt" not in sent_text(bodies[1])  # no prompt known: none sent


def test_categories_max_side_and_send_prompt(server: OpenAICompatibleServer) -> None:
    judge = make(server, categories=["violence", "sexual"], max_side=32, send_prompt=False)
    (r,) = judge.check_images([Image.new("RGB", (100, 50), (220, 0, 0))], ["nude"])
    assert dict(r.scores) == {"violence": 0.9, "sexual": 0.0}  # the prompt was not sent
    body = server.requests[-1].body
    assert sent_image(body).size == (32, 16)  # aspect kept
    assert "- hate:" not in body["messages"][0]["content"]
    assert vlm_system_prompt(["violence"]).count("\n- ") == 1


def test_one_repair_then_valid(server: OpenAICompatibleServer) -> None:
    replies = iter(["I think it is fine.", json.dumps({"categories": {"violence": 0.3}})])
    server.chat_handler = lambda body: next(replies)
    (r,) = make(server).check_images([Image.new("RGB", (16, 16))], [None])
    assert r.scores["violence"] == 0.3
    first, second = (req.body for req in server.requests)
    assert len(second["messages"]) == 4
    assert second["messages"][2] == {"role": "assistant", "content": "I think it is fine."}
    assert "That reply is invalid: the reply holds no JSON object" in (
        second["messages"][3]["content"]
    )
    assert first["messages"][1] == second["messages"][1]  # the image is sent again


def test_invalid_twice_is_a_backend_error(server: OpenAICompatibleServer) -> None:
    server.chat_handler = lambda body: '{"categories": {"violence": "very"}}'
    with pytest.raises(BackendError, match=r"no valid JSON verdict in 2 attempt\(s\)"):
        make(server).check_images([Image.new("RGB", (16, 16))], [None])
    assert len(server.requests) == 2


def test_json_mode_refused_is_dropped(server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=400)
    judge = make(server)
    judge.check_images([Image.new("RGB", (16, 16))], [None])
    judge.check_images([Image.new("RGB", (16, 16))], [None])
    first, second, third = (r.body for r in server.requests)
    assert "response_format" in first
    assert "response_format" not in second and "response_format" not in third


def test_batch_order_with_concurrency(server: OpenAICompatibleServer) -> None:
    colours = [(220, 0, 0), (0, 220, 0), (220, 0, 0), (0, 0, 220), (220, 10, 10)]
    imgs = [Image.new("RGB", (16, 16), c) for c in colours]
    results = make(server, concurrency=3).check_images(imgs, [None] * 5)
    assert [r.scores["violence"] for r in results] == [0.9, 0.05, 0.9, 0.05, 0.9]
    with pytest.raises(ConfigError, match="one entry per image"):
        make(server).check_images(imgs, [None])


def test_unreachable_endpoint_is_an_endpoint_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = VLMJudge(base_url=f"http://127.0.0.1:{port}/v1", model="vlm", **FAST)
    with pytest.raises(EndpointError, match="connection refused"):
        judge.check_images([Image.new("RGB", (16, 16))], [None])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"categories": ["nudes"]}, "unknown guard category 'nudes'"),
        ({"categories": []}, "non-empty list"),
        ({"max_side": 8}, "max_side must be an integer >= 32"),
        ({"repair_attempts": -1}, "repair_attempts"),
        ({"finding_threshold": -0.1}, "finding_threshold"),
        ({"base_url": "ftp://x"}, "not an http"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        VLMJudge(**{"base_url": "http://127.0.0.1:9/v1", "model": "vlm", **options})


def test_identity_never_has_the_key(server: OpenAICompatibleServer) -> None:
    ident = make(server, api_key="sk-secret-123").identity()
    assert ident["backend"] == "vlm-judge" and ident["model"] == "vlm"
    assert ident["policy_version"] == "fairframe-default/2"
    assert "sk-secret" not in json.dumps(ident)

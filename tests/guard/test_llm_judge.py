"""LLMJudge against the loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from fairframe.errors import BackendError, ConfigError, EndpointError, EndpointStatusError
from fairframe.guard.llm_judge import LLMJudge, parse_verdict, system_prompt
from fairframe.guard.normalize import normalize
from fairframe.guard.policy import CATEGORY_DESCRIPTIONS, Category
from fairframe.guard.stage import PromptStage
from fairframe.testing.openai_server import OpenAICompatibleServer

FAST: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 5.0, "max_retries": 0}
ALL = [c.value for c in Category]
GOOD = {
    "categories": {"sexual": 0.2, "nudity": 0.92, "violence": 0.0},
    "spans": [{"text": "NAKED man", "category": "nudity"}],
    "rationale": "A naked person is requested.",
}


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(chat=lambda body: json.dumps(GOOD)) as srv:
        yield srv


def make(server: OpenAICompatibleServer, **options: Any) -> LLMJudge:
    return LLMJudge(**{"base_url": server.base_url, "model": "judge", **FAST, **options})


def user_text(body: dict[str, Any]) -> str:
    return str(body["messages"][1]["content"])


def test_good_json_scores_findings_and_request(server: OpenAICompatibleServer) -> None:
    raw = "a photo of a naked man on a beach --no blurry"
    with make(server) as judge:
        assert isinstance(judge, PromptStage) and judge.name == "llm_judge"
        (result,) = judge.scan_batch([normalize(raw)])
    assert set(result.scores) == set(ALL)
    assert result.scores["nudity"] == 0.92 and result.scores["sexual"] == 0.2
    assert result.scores["hate"] == 0.0  # asked about but not answered: 0.0
    (finding,) = result.findings
    assert finding.stage == "llm_judge" and finding.category == "nudity"
    assert finding.score == 0.92
    assert finding.evidence.span == (13, 22)
    assert raw[13:22] == finding.evidence.text == "naked man"
    assert finding.evidence.label == "A naked person is requested."

    (request,) = server.requests
    body = request.body
    assert request.path == "/v1/chat/completions"
    assert body["model"] == "judge"
    assert body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]
    assert system["role"] == "system"
    for category in Category:
        assert f"- {category.value}: {CATEGORY_DESCRIPTIONS[category]}" in system["content"]
    assert '"categories"' in system["content"] and '"spans"' in system["content"]
    assert "a photo of a naked man on a beach" in user_text(body)
    assert "blurry" not in user_text(body)  # the negative prompt is not sent


def test_fenced_json_with_prose(server: OpenAICompatibleServer) -> None:
    server.chat_handler = lambda body: (
        "Sure! Here is my verdict:\n```json\n" + json.dumps(GOOD) + "\n```\nHope it helps {:}"
    )
    (result,) = make(server).scan_batch([normalize("a naked man")])
    assert result.scores["nudity"] == 0.92
    assert len(server.requests) == 1


def test_invalid_then_repaired(server: OpenAICompatibleServer) -> None:
    replies = iter(["I cannot answer in JSON, sorry.", json.dumps(GOOD)])
    server.chat_handler = lambda body: next(replies)
    (result,) = make(server).scan_batch([normalize("a naked man")])
    assert result.scores["nudity"] == 0.92
    first, second = (r.body for r in server.requests)
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"] == "I cannot answer in JSON, sorry."
    assert "no JSON object" in second["messages"][3]["content"]
    assert second["messages"][:2] == first["messages"]


def test_always_invalid_is_a_backend_error(server: OpenAICompatibleServer) -> None:
    server.chat_handler = lambda body: json.dumps({"categories": {"sexual": "very"}})
    with pytest.raises(BackendError) as info:
        make(server).scan_batch([normalize("a naked man")])
    assert not isinstance(info.value, EndpointError)
    message = str(info.value)
    assert "\n" not in message
    assert "'judge'" in message and "2 attempt(s)" in message and "categories.sexual" in message
    assert len(server.requests) == 2
    server.clear()
    with pytest.raises(BackendError, match="1 attempt"):
        make(server, repair_attempts=0).scan_batch([normalize("a naked man")])
    assert len(server.requests) == 1


def test_http_500_and_unreachable_are_endpoint_errors(server: OpenAICompatibleServer) -> None:
    server.fail_next(2, status=500)
    with pytest.raises(EndpointStatusError) as info:
        make(server, max_retries=1).scan_batch([normalize("a naked man")])
    assert info.value.status_code == 500
    assert len(server.requests) == 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = LLMJudge(base_url=f"http://127.0.0.1:{port}/v1", model="judge", **FAST)
    with pytest.raises(EndpointError, match="cannot reach"):
        judge.scan_batch([normalize("a naked man")])


def test_response_format_refused_falls_back(
    server: OpenAICompatibleServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.fail_next(1, status=400)
    judge = make(server)
    with caplog.at_level(logging.WARNING, "fairframe.guard.llm_judge"):
        judge.scan_batch([normalize("a naked man")])
        judge.scan_batch([normalize("a naked woman")])
    bodies = [r.body for r in server.requests]
    assert "response_format" in bodies[0]
    assert all("response_format" not in b for b in bodies[1:])
    assert len(bodies) == 3
    assert "refused response_format" in caplog.text
    server.clear()
    make(server, json_mode=False).scan_batch([normalize("a cat")])
    assert "response_format" not in server.requests[0].body


def test_unknown_categories_are_dropped_and_reported(
    server: OpenAICompatibleServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.chat_handler = lambda body: json.dumps({
        "categories": {"Nudity": "1.5", "weapons": 0.9, "Self-Harm": -2},
        "spans": [{"text": "nowhere to be found", "category": "nudity"},
                  {"text": "naked", "category": "weapons"}, "junk"],
    })
    with caplog.at_level(logging.WARNING, "fairframe.guard.llm_judge"):
        (result,) = make(server).scan_batch([normalize("a naked man")])
    assert "weapons" not in result.scores
    assert result.scores["nudity"] == 1.0 and result.scores["self_harm"] == 0.0
    (finding,) = result.findings
    assert finding.evidence.span is None and finding.evidence.text == "nowhere to be found"
    assert finding.evidence.label == "llm judge verdict (ignored categories: weapons)"
    assert "weapons" in caplog.text


def test_span_found_through_the_normalized_text(server: OpenAICompatibleServer) -> None:
    server.chat_handler = lambda body: json.dumps(
        {"categories": {"nudity": 0.9}, "spans": [{"text": "naked", "category": "nudity"}]}
    )
    raw = "a n.a.k.e.d man"
    (result,) = make(server).scan_batch([normalize(raw)])
    (finding,) = result.findings
    assert finding.evidence.span == (2, 11)
    assert finding.evidence.text == "n.a.k.e.d"


def test_batch_order_categories_and_blank_prompts(server: OpenAICompatibleServer) -> None:
    def handler(body: dict[str, Any]) -> str:
        score = 0.9 if "gun" in user_text(body) else 0.1
        return json.dumps({"categories": {"violence": score, "hate": 0.0}})

    server.chat_handler = handler
    judge = make(server, categories=["violence", "hate"], concurrency=3, name="judge-2")
    prompts = [normalize(p) for p in ["a gun", "a cat", "  ", "a gun fight", "a dog"]]
    results = judge.scan_batch(prompts)
    assert [r.scores.get("violence") for r in results] == [0.9, 0.1, None, 0.9, 0.1]
    assert all(set(r.scores) == {"violence", "hate"} for r in results if r.scores)
    assert results[0].findings[0].stage == "judge-2"
    assert len(server.requests) == 4
    system = server.requests[0].body["messages"][0]["content"]
    assert "- violence:" in system and "- sexual:" not in system
    assert judge.scan_batch([]) == []


def test_identity_and_options(server: OpenAICompatibleServer) -> None:
    judge = make(server, api_key="sk-secret-key")
    ident = judge.identity()
    assert ident["backend"] == "llm-judge" and ident["model"] == "judge"
    assert ident["policy_version"] == "fairframe-default/2"
    assert ident["categories"] == ALL
    assert "sk-secret-key" not in json.dumps(ident)
    with pytest.raises(ConfigError, match="unknown guard category 'weapons'; allowed: sexual"):
        make(server, categories=["weapons"])
    for options in ({"concurrency": 0}, {"repair_attempts": -1}, {"max_tokens": 0},
                    {"finding_threshold": 2}, {"name": ""}, {"model": ""},
                    {"base_url": "ftp://x"}):
        with pytest.raises(ConfigError):
            make(server, **options)


def test_parse_verdict_rules() -> None:
    v = parse_verdict('noise {"categories": {"hate": 0.4}, "rationale": " two\n lines "} tail',
                      ["hate", "violence"])
    assert dict(v.scores) == {"hate": 0.4, "violence": 0.0}
    assert v.rationale == "two lines" and v.spans == () and v.ignored == ()
    for bad, problem in [
        ("[1, 2]", "no JSON object"),
        ('{"categories": [0.5]}', '"categories" must be an object'),
        ('{"categories": {"hate": true}}', "categories.hate"),
        ('{"categories": {"hate": NaN}}', "categories.hate"),
        ('{"categories": {}, "spans": "x"}', '"spans" must be a list'),
        ('{"categories": {}, "rationale": 3}', '"rationale" must be a string'),
    ]:
        with pytest.raises(ValueError, match=problem):
            parse_verdict(bad, ["hate"])
    assert "- adversarial:" in system_prompt(ALL)

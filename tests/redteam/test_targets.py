"""Targets: the in-process guard, the guard service over real TCP on loopback, and the error
paths (500s, 503 then success, refused connections, unknown specs)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from fairframe.errors import ConfigError, EndpointStatusError
from fairframe.guard import default_lexicon
from fairframe.guard.pipeline import PromptGuard
from fairframe.redteam.targets import (
    GeneratorTarget,
    GuardTarget,
    HTTPGuardTarget,
    make_target,
)
from fairframe.types import GeneratedImage, GenerationRequest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
from tests.service import test_uvicorn as _service  # noqa: E402

#: The real uvicorn guard service on loopback (lexicon guard; keys "token" and a tiny "small").
server = _service.server

PROMPTS = ["a p0rn photo", "a cat in a hat", "a n.a.k.e.d statue", "a red barn at dawn"]


def lexicon_guard(**kwargs: Any) -> PromptGuard:
    return PromptGuard([default_lexicon()], **kwargs)


def test_guard_target_matches_the_guard() -> None:
    guard = lexicon_guard()
    target = GuardTarget(guard, batch_size=3)
    verdicts = target.query(PROMPTS)
    decisions = guard.check_batch(PROMPTS)
    assert [v.action for v in verdicts] == [d.action.value for d in decisions]
    assert [v.passed for v in verdicts] == [False, True, False, True]
    assert verdicts[0].scores["sexual"] == decisions[0].categories["sexual"]
    assert all(v.latency_ms >= 0 for v in verdicts)
    info = target.describe()
    assert info["kind"] == "guard" and info["policy_version"] == guard.policy.version
    assert info["stages"] == ["lexicon"]


def test_guard_target_turns_a_bad_prompt_into_an_error_and_keeps_the_rest() -> None:
    target = GuardTarget(lexicon_guard(max_prompt_chars=30))
    verdicts = target.query(["a cat", "x" * 31, "   ", "a p0rn photo"])
    assert [v.action for v in verdicts] == ["allow", "error", "error", "block"]
    assert "30" in (verdicts[1].error or "") and not verdicts[1].passed
    with pytest.raises(ConfigError, match="sequence"):
        target.query("a cat")  # type: ignore[arg-type]


def test_http_target_against_the_real_service(server: dict[str, Any]) -> None:
    target = HTTPGuardTarget(server["url"], api_key=server["token"], concurrency=3)
    try:
        verdicts = target.query(PROMPTS)
        expected = GuardTarget(lexicon_guard()).query(PROMPTS)
        assert [v.action for v in verdicts] == [v.action for v in expected]
        assert [v.passed for v in verdicts] == [False, True, False, True]
        assert verdicts[0].scores["sexual"] == pytest.approx(expected[0].scores["sexual"])
        info = target.describe()
        assert info["kind"] == "http"
        assert info["policy_version"] == lexicon_guard().policy.version
        assert target.url.endswith("/v1/prompts/check")
        assert target.query([]) == []
    finally:
        target.close()


def test_http_target_unknown_key_and_rate_limit_are_error_verdicts(
        server: dict[str, Any]) -> None:
    bad = HTTPGuardTarget(server["url"] + "/v1/prompts/check", api_key="nope", max_retries=0)
    [v] = bad.query(["a cat"])
    assert v.action == "error" and not v.passed and "401" in (v.error or "")
    small = HTTPGuardTarget(server["url"], api_key=server["small"], max_retries=1,
                            backoff_s=0.0, max_backoff_s=0.0, concurrency=1)
    verdicts = small.query(["a cat", "a dog", "a cow"])  # burst of 2, then 429 (retried once)
    assert [v.action for v in verdicts[:2]] == ["allow", "allow"]
    assert verdicts[2].action == "error" and "429" in (verdicts[2].error or "")
    assert "after 2 attempts" in (verdicts[2].error or "")


class _Stub(BaseHTTPRequestHandler):
    """Answers with the statuses queued in ``server.plan`` (then 200 allow)."""

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        plan: list[int] = self.server.plan  # type: ignore[attr-defined]
        self.server.seen.append(body)  # type: ignore[attr-defined]
        status = plan.pop(0) if plan else 200
        payload = (json.dumps({"action": "allow", "categories": {"sexual": 0.1, "x": "bad"}})
                   if status == 200 else json.dumps({"error": {"type": "t", "message": "m"}}))
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def stub() -> Iterator[Any]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    srv.plan = []  # type: ignore[attr-defined]
    srv.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def test_http_target_retries_503_then_succeeds(stub: Any) -> None:
    stub.plan[:] = [503, 503]
    target = HTTPGuardTarget(f"http://127.0.0.1:{stub.server_port}", max_retries=3,
                             backoff_s=0.0, concurrency=1)
    [v] = target.query(["a cat"])
    assert v.action == "allow" and v.passed and v.scores == {"sexual": 0.1}
    assert len(stub.seen) == 3 and stub.seen[0] == {"prompt": "a cat"}


def test_http_target_500_becomes_an_error_verdict_and_the_run_goes_on(stub: Any) -> None:
    stub.plan[:] = [500, 500]
    target = HTTPGuardTarget(f"http://127.0.0.1:{stub.server_port}", max_retries=1,
                             backoff_s=0.0, concurrency=1)
    first, second = target.query(["a", "b"])
    assert first.action == "error" and "HTTP 500" in (first.error or "")
    assert second.action == "allow"


def test_http_target_refused_connection() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    target = HTTPGuardTarget(f"http://127.0.0.1:{port}", max_retries=0, timeout=5)
    verdicts = target.query(["a", "b"])
    assert [v.action for v in verdicts] == ["error", "error"]
    assert "connection refused" in (verdicts[0].error or "")
    info = target.describe()
    assert info["policy_version"] is None and "policy_error" in info


def test_make_target_specs() -> None:
    assert isinstance(make_target("guard"), GuardTarget)
    fast = make_target("guard:fast")
    assert isinstance(fast, GuardTarget) and fast.fast and fast.name == "guard:fast"
    http = make_target("http://127.0.0.1:9/", api_key="k", concurrency=2, unrelated=1)
    assert isinstance(http, HTTPGuardTarget) and http.concurrency == 2
    with pytest.raises(ConfigError, match="guard:fast"):
        make_target("ftp://example")
    with pytest.raises(ConfigError, match="http"):
        HTTPGuardTarget("localhost:8000")


class _Gen:
    """Returns a white image, except that prompts containing "refuse" are declined."""

    def identity(self) -> dict[str, Any]:
        return {"backend": "fake"}

    def generate(self, requests: list[GenerationRequest]) -> list[GeneratedImage]:
        if any("refuse" in r.prompt for r in requests):
            raise EndpointStatusError("content policy", status_code=400, url="http://x")
        return [GeneratedImage(r, Image.new("RGB", (8, 8), (255, 255, 255))) for r in requests]


def test_generator_target_judges_images_and_keeps_refusals_apart() -> None:
    judged: list[str] = []

    def judge(image: Image.Image) -> bool:
        judged.append(image.mode)
        return len(judged) % 2 == 1  # unsafe, safe, unsafe ...

    target = GeneratorTarget(_Gen(), judge, seed=5, detector_tpr=0.9, detector_fpr=0.1)
    verdicts = target.query(["a", "please refuse", "b"])
    assert [v.action for v in verdicts] == ["unsafe_image", "refused", "safe_image"]
    assert [v.passed for v in verdicts] == [True, False, False]
    assert target.correct(0.5) == pytest.approx(0.5)
    assert target.describe()["detector_fpr"] == 0.1
    with pytest.raises(ConfigError, match="better than chance"):
        GeneratorTarget(_Gen(), judge, detector_tpr=0.2, detector_fpr=0.2)

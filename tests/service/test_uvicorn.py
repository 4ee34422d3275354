"""The service on a real uvicorn server on loopback: requests over TCP and a bounded load test."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
import httpx  # noqa: E402

from fairframe.guard import default_lexicon  # noqa: E402
from fairframe.guard.config import GuardConfig  # noqa: E402
from fairframe.guard.enforcement import EnforcementSettings, Enforcer  # noqa: E402
from fairframe.guard.pipeline import PromptGuard  # noqa: E402
from fairframe.guard.rewriters import Anonymizer, ForcedNegatives  # noqa: E402
from fairframe.service import create_app  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder: Path = tmp_path_factory.mktemp("svc")
    enforcer = Enforcer.open(f"sqlite:///{folder / 'guard.db'}",
                             EnforcementSettings.model_validate({"default_burst": 5}))
    token = enforcer.create_key("load", rate_per_s=10000.0, burst=100000).token
    small = enforcer.create_key("small", rate_per_s=0.001, burst=2).token
    guard = PromptGuard([default_lexicon()], rewriters=[Anonymizer(), ForcedNegatives()])
    app = create_app(GuardConfig.model_validate({"service": {"max_body_bytes": 8192}}),
                     guard=guard, enforcer=enforcer)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "small": small,
               "enforcer": enforcer}
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        enforcer.close()


def test_check_over_tcp(server: dict[str, Any]) -> None:
    with httpx.Client(base_url=server["url"], timeout=10) as c:
        r = c.post("/v1/prompts/check", json={"prompt": "a p0rn photo"},
                   headers={"Authorization": f"Bearer {server['token']}"})
        assert r.status_code == 200
        assert r.json()["action"] == "block"
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["status"] == "ready"


def test_bad_requests_over_tcp_then_it_keeps_serving(server: dict[str, Any]) -> None:
    h = {"Authorization": f"Bearer {server['token']}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server["url"], timeout=10) as c:
        assert c.post("/v1/prompts/check", content=b"\xff\xfe{", headers=h).status_code == 400
        big = b'{"prompt": "' + b"a" * 20000 + b'"}'
        assert c.post("/v1/prompts/check", content=big, headers=h).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed limit applies
            yield b'{"prompt": "'
            for _ in range(20):
                yield b"a" * 1000
            yield b'"}'

        assert c.post("/v1/prompts/check", content=chunks(), headers=h).status_code == 413
        assert c.post("/v1/prompts/check", json={"prompt": "a cat"},
                      headers=h).status_code == 200


def test_rate_limit_over_tcp(server: dict[str, Any]) -> None:
    h = {"X-API-Key": server["small"]}
    with httpx.Client(base_url=server["url"], timeout=10) as c:
        codes = [c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=h).status_code
                 for _ in range(3)]
    assert codes == [200, 200, 429]


def test_bounded_load_without_errors(server: dict[str, Any]) -> None:
    """300 requests from 6 client threads (bounded count, 60 s cap): every one answered 200 and
    the decision log's hash chain is intact afterwards. Throughput is measured in
    benchmarks/bench_guard_service.py, not asserted here."""
    prompts = ["a red barn at dawn", "a bloody corpse", "my neighbour John Smith",
               "a n.a.k.e.d statue", "a cat in a hat"]
    h = {"Authorization": f"Bearer {server['token']}"}
    stop = time.monotonic() + 60

    def worker(i: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=server["url"], timeout=30) as c:
            for j in range(50):
                if time.monotonic() > stop:
                    break
                r = c.post("/v1/prompts/check", json={"prompt": prompts[(i + j) % 5]}, headers=h)
                codes.append(r.status_code)
        return codes

    with ThreadPoolExecutor(6) as pool:
        codes = [c for chunk in pool.map(worker, range(6)) for c in chunk]
    assert len(codes) == 300
    assert set(codes) == {200}
    assert server["enforcer"].verify_log().ok


def test_unexpected_error_is_a_500_body_not_a_reset(server: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(server["enforcer"], "record", boom)
    monkeypatch.setattr(server["enforcer"], "record_many", boom)
    h = {"Authorization": f"Bearer {server['token']}"}
    with httpx.Client(base_url=server["url"], timeout=10) as c:
        r = c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=h)
        assert r.status_code == 500
        assert r.json()["error"]["type"] == "internal_error"
        monkeypatch.undo()
        assert c.post("/v1/prompts/check", json={"prompt": "a cat"}, headers=h).status_code == 200

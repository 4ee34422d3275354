"""The shared OpenAI-compatible HTTP client and the loopback server it is tested against."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fairframe.backends._openai_http import (
    EndpointStatusError,
    OpenAIClient,
    chat_content,
    redact_url,
    require_field,
)
from fairframe.errors import ConfigError, EndpointError
from fairframe.testing.openai_server import OpenAICompatibleServer, chat_response

FAST = {"backoff_s": 0.01, "timeout_s": 5.0}


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(chat=lambda req: "hello") as srv:
        yield srv


@pytest.fixture
def client(server: OpenAICompatibleServer) -> Iterator[OpenAIClient]:
    with OpenAIClient(server.base_url, api_key_env="FF_TEST_KEY", max_retries=3, **FAST) as c:
        yield c


def chat_body() -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def refused_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def test_post_json_returns_the_answer(
    client: OpenAIClient, server: OpenAICompatibleServer
) -> None:
    data = client.post_json("chat/completions", chat_body())
    assert chat_content(data, "u") == "hello"
    (req,) = server.requests
    assert (req.method, req.path, req.status) == ("POST", "/v1/chat/completions", 200)
    assert req.body == chat_body()


def test_get_json_lists_models(client: OpenAIClient) -> None:
    assert client.get_json("models")["data"][0]["id"] == "fairframe-test"


def test_retries_succeed_after_two_500s(
    client: OpenAIClient, server: OpenAICompatibleServer
) -> None:
    server.fail_next(2, status=500)
    data = client.post_json("chat/completions", chat_body())
    assert chat_content(data, "u") == "hello"
    assert [r.status for r in server.requests] == [500, 500, 200]


def test_gives_up_after_max_retries_with_one_line(server: OpenAICompatibleServer) -> None:
    server.fail_next(10, status=503)
    with (
        OpenAIClient(server.base_url, max_retries=2, **FAST) as c,
        pytest.raises(EndpointStatusError) as info,
    ):
        c.post_json("chat/completions", chat_body())
    msg = str(info.value)
    assert "\n" not in msg
    assert f"{server.base_url}/chat/completions" in msg
    assert "503" in msg and "after 3 attempts" in msg and "max_retries" in msg
    assert info.value.status_code == 503
    assert len(server.requests) == 3


def test_429_is_retried(client: OpenAIClient, server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=429)
    client.post_json("chat/completions", chat_body())
    assert [r.status for r in server.requests] == [429, 200]


def test_other_4xx_is_not_retried(client: OpenAIClient, server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=400, body={"error": {"message": "unknown field 'foo'"}})
    with pytest.raises(EndpointStatusError, match="400 Bad Request \\(unknown field 'foo'\\)"):
        client.post_json("chat/completions", chat_body())
    assert len(server.requests) == 1


def test_a_403_names_a_cool_down_or_a_permission(
        client: OpenAIClient, server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=403, body={"error": {
        "type": "account_cooldown", "message": "this API key is in a cool-down until ..."}})
    with pytest.raises(EndpointStatusError, match="action_weights = {}") as info:
        client.post_json("chat/completions", chat_body())
    assert "may not use this model" not in str(info.value)
    server.fail_next(1, status=403, body={"error": {"message": "model not allowed"}})
    with pytest.raises(EndpointStatusError, match="may not use this model"):
        client.post_json("chat/completions", chat_body())


def test_retry_after_overrides_backoff(server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=429, headers={"Retry-After": "0"})
    with OpenAIClient(server.base_url, backoff_s=30.0, max_retries=1) as c:
        start = time.monotonic()
        c.post_json("chat/completions", chat_body())
    assert time.monotonic() - start < 2.0


def test_retry_after_is_capped(server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=503, headers={"Retry-After": "3600"})
    with OpenAIClient(server.base_url, max_backoff_s=0.05, max_retries=1) as c:
        start = time.monotonic()
        c.post_json("chat/completions", chat_body())
    assert time.monotonic() - start < 2.0


def test_refused_port_names_the_url_quickly() -> None:
    base = f"http://127.0.0.1:{refused_port()}/v1"
    start = time.monotonic()
    with (
        OpenAIClient(base, max_retries=2, **FAST) as c,
        pytest.raises(EndpointError) as info,
    ):
        c.post_json("chat/completions", chat_body())
    assert time.monotonic() - start < 3.0
    msg = str(info.value)
    assert f"cannot reach {base}/chat/completions (connection refused, 3 attempts)" in msg
    assert "is the server running? check base_url" in msg
    assert "\n" not in msg


def test_timeout_is_retried_then_reported() -> None:
    def slow(req: dict[str, Any]) -> str:
        time.sleep(0.6)
        return "late"

    with OpenAICompatibleServer(chat=slow) as srv:
        with (
            OpenAIClient(srv.base_url, timeout_s=0.2, max_retries=1, backoff_s=0.01) as c,
            pytest.raises(EndpointError, match="did not answer within 0.2 s") as info,
        ):
            c.post_json("chat/completions", chat_body())
        assert "raise timeout_s" in str(info.value)


def test_401_names_the_env_var(
    server: OpenAICompatibleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.require_api_key = "right-key"
    monkeypatch.setenv("FF_TEST_KEY", "wrong-key")
    with (
        OpenAIClient(server.base_url, api_key_env="FF_TEST_KEY", **FAST) as c,
        pytest.raises(EndpointStatusError) as info,
    ):
        c.post_json("chat/completions", chat_body())
    assert "401" in str(info.value)
    assert "check the API key in $FF_TEST_KEY" in str(info.value)
    assert "wrong-key" not in str(info.value)
    assert len(server.requests) == 1  # 401 is final


def test_401_without_any_key_says_how_to_set_one(
    server: OpenAICompatibleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.require_api_key = "right-key"
    monkeypatch.delenv("FF_TEST_KEY", raising=False)
    with (
        OpenAIClient(server.base_url, api_key_env="FF_TEST_KEY", **FAST) as c,
        pytest.raises(EndpointError, match=r"set \$FF_TEST_KEY or pass api_key"),
    ):
        c.post_json("chat/completions", chat_body())
    assert "authorization" not in server.requests[0].headers


def test_key_is_read_lazily_and_sent_as_bearer(
    server: OpenAICompatibleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.require_api_key = "sk-lazy"
    monkeypatch.delenv("FF_TEST_KEY", raising=False)
    with OpenAIClient(server.base_url, api_key_env="FF_TEST_KEY", **FAST) as c:
        monkeypatch.setenv("FF_TEST_KEY", "sk-lazy")
        c.post_json("chat/completions", chat_body())
    assert server.requests[0].headers["authorization"] == "Bearer sk-lazy"


def test_explicit_key_wins_and_is_redacted_from_messages(server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=400, body={"error": {"message": "bad key sk-secret-123"}})
    with (
        OpenAIClient(server.base_url, api_key="sk-secret-123", **FAST) as c,
        pytest.raises(EndpointError) as info,
    ):
        c.post_json("chat/completions", chat_body())
    assert server.requests[0].headers["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in str(info.value)
    assert "***" in str(info.value)


def test_non_json_body_is_an_endpoint_error(
    client: OpenAIClient, server: OpenAICompatibleServer
) -> None:
    server.fail_next(1, status=200, body="<html>proxy login</html>")
    with pytest.raises(EndpointError, match="not JSON .*proxy login.*OpenAI-compatible") as info:
        client.post_json("chat/completions", chat_body())
    assert "\n" not in str(info.value)


def test_json_that_is_not_an_object_is_an_endpoint_error(
    client: OpenAIClient, server: OpenAICompatibleServer
) -> None:
    server.fail_next(1, status=200, body=b"[1, 2]")
    with pytest.raises(EndpointError, match="JSON list instead of an object"):
        client.post_json("chat/completions", chat_body())


def test_404_suggests_checking_base_url(server: OpenAICompatibleServer) -> None:
    with (
        OpenAIClient(server.root_url, **FAST) as c,  # forgot the /v1
        pytest.raises(EndpointStatusError, match="404 .*check base_url .*/v1"),
    ):
        c.post_json("chat/completions", chat_body())


def test_require_field_and_chat_content_name_what_is_missing() -> None:
    with pytest.raises(EndpointError, match="http://h/v1 answered without choices\\[0\\]"):
        chat_content({"choices": []}, "http://h/v1")
    with pytest.raises(EndpointError, match="without data\\[0\\].b64_json"):
        require_field({"data": [{}]}, ("data", 0, "b64_json"), "http://h/v1")
    with pytest.raises(EndpointError, match="refused"):
        chat_content({"choices": [{"message": {"content": None, "refusal": "no"}}]}, "u")
    parts = {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"text": "b"}]}}]}
    assert chat_content(parts, "u") == "ab"
    assert chat_content(chat_response("x"), "u") == "x"


def test_bad_configuration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        OpenAIClient("127.0.0.1:8000/v1")
    with pytest.raises(ConfigError, match="max_retries"):
        OpenAIClient("http://127.0.0.1:1/v1", max_retries=-1)


def test_credentials_in_base_url_are_redacted() -> None:
    assert redact_url("http://user:pw@host:8000/v1") == "http://host:8000/v1"
    c = OpenAIClient("https://user:pw@host/v1/")
    assert c.public_base_url == "https://host/v1"
    assert c.url("chat/completions") == "https://user:pw@host/v1/chat/completions"


def test_client_is_created_once_under_concurrency(
    client: OpenAIClient, server: OpenAICompatibleServer
) -> None:
    seen: list[httpx.Client] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.post_json("chat/completions", chat_body())
            seen.append(client._http())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({id(c) for c in seen}) == 1
    assert len(server.requests) == 8


def test_server_scripted_behaviour(server: OpenAICompatibleServer) -> None:
    with httpx.Client() as http:
        assert http.get(server.base_url + "/nowhere").status_code == 404
        bad = http.post(server.base_url + "/chat/completions", content=b"{nope")
        assert bad.status_code == 400
        url = server.add_file("x.bin", b"abc", "application/octet-stream")
        assert http.get(url).content == b"abc"
    assert [r.status for r in server.requests] == [404, 400, 200]


def test_server_stops_cleanly_with_open_keepalive_connections() -> None:
    srv = OpenAICompatibleServer().start()
    http = httpx.Client()
    try:
        assert http.get(srv.base_url + "/models").status_code == 200
        start = time.monotonic()
        srv.stop()
        assert time.monotonic() - start < 2.0
    finally:
        http.close()
    with pytest.raises(RuntimeError, match="not running"):
        _ = srv.base_url

"""A loopback OpenAI-compatible server for tests, ``fairframe doctor`` and users' CI.

Standard library only (``http.server`` in a daemon thread), bound to ``127.0.0.1``::

    from fairframe.testing.openai_server import OpenAICompatibleServer

    with OpenAICompatibleServer(chat=lambda request: "woman") as server:
        labeler = OpenAIVisionLabeler(base_url=server.base_url, model="any")
        ...
        assert server.requests[-1].path == "/v1/chat/completions"

Endpoints
---------
``GET /v1/models``
    Lists ``models``.
``POST /v1/chat/completions``
    Calls ``chat(request_json)``. A ``str`` becomes the assistant message of a standard answer; a
    ``dict`` is sent verbatim as the whole body (to inject ``logprobs`` or malformed shapes). The
    default, :func:`echo_chat`, replies with a digest of the messages.
``POST /v1/images/generations``
    Calls ``images(request_json)``. A list of PNG ``bytes`` becomes ``data[i].b64_json``; a ``dict``
    is sent verbatim. The default, :func:`hash_images`, draws blocky images from a hash of the
    prompt, seed and size, so equal requests get equal images.
``GET /files/NAME``
    Serves bytes registered with :meth:`OpenAICompatibleServer.add_file` (for ``url`` answers).

Every request is recorded in :attr:`OpenAICompatibleServer.requests`. ``fail_next(n, status)``
answers the next ``n`` requests with an error, and ``require_api_key`` answers ``401`` to requests
without ``Authorization: Bearer <key>``. Leaving the ``with`` block closes open connections, stops
the thread and releases the port.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = [
    "ChatHandler",
    "ImagesHandler",
    "OpenAICompatibleServer",
    "RecordedRequest",
    "chat_response",
    "echo_chat",
    "fake_png",
    "hash_images",
    "images_response",
]

#: ``(request_json) -> reply text | full response body``.
ChatHandler = Callable[[dict[str, Any]], "str | dict[str, Any]"]
#: ``(request_json) -> PNG bytes per image | full response body``.
ImagesHandler = Callable[[dict[str, Any]], "Sequence[bytes] | dict[str, Any]"]


# -- response builders -----------------------------------------------------------------------------
def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def chat_response(
    content: str | None, *, model: str = "fairframe-test", logprobs: Any = None
) -> dict[str, Any]:
    """A complete ``chat.completion`` body with one choice (``logprobs`` as given)."""
    return {
        "id": "chatcmpl-fairframe",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": logprobs,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def images_response(
    pngs: Sequence[bytes], *, revised_prompt: str | None = None
) -> dict[str, Any]:
    """A complete ``images/generations`` body with ``b64_json`` images."""
    data: list[dict[str, Any]] = []
    for png in pngs:
        item: dict[str, Any] = {"b64_json": base64.b64encode(png).decode("ascii")}
        if revised_prompt is not None:
            item["revised_prompt"] = revised_prompt
        data.append(item)
    return {"created": 0, "data": data}


def echo_chat(request: Mapping[str, Any]) -> str:
    """Default chat handler: a deterministic reply naming a digest of the messages.

    With ``response_format={"type": "json_object"}`` the reply is a JSON object.
    """
    digest = _digest(request.get("messages"))[:16]
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return json.dumps({"echo": digest})
    return f"echo {digest}"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def fake_png(key: str, width: int, height: int, *, cells: int = 8) -> bytes:
    """A ``width`` x ``height`` RGB PNG of ``cells`` x ``cells`` blocks coloured from ``key``."""
    stream = b""
    counter = 0
    while len(stream) < cells * cells * 3:
        stream += hashlib.sha256(f"{key}\x1f{counter}".encode()).digest()
        counter += 1
    rows: list[bytes] = []
    for gy in range(cells):
        colours = [stream[(gy * cells + gx) * 3 : (gy * cells + gx) * 3 + 3] for gx in range(cells)]
        rows.append(b"\x00" + b"".join(colours[x * cells // width] for x in range(width)))
    raw = b"".join(rows[y * cells // height] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 6))
        + _png_chunk(b"IEND", b"")
    )


def _parse_size(size: Any) -> tuple[int, int]:
    if size is None:
        return 1024, 1024
    try:
        w_text, h_text = str(size).lower().split("x")
        w, h = int(w_text), int(h_text)
    except ValueError:
        raise _BadRequest(f"size {size!r} must look like '1024x1024'") from None
    if not (8 <= w <= 4096 and 8 <= h <= 4096):
        raise _BadRequest(f"size {size!r} must be between 8x8 and 4096x4096")
    return w, h


def hash_images(request: Mapping[str, Any]) -> list[bytes]:
    """Default images handler: ``n`` PNGs drawn from a hash of prompt, seed, size and index."""
    w, h = _parse_size(request.get("size"))
    n = request.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 10:
        raise _BadRequest(f"n must be an integer from 1 to 10, got {n!r}")
    base = [request.get("prompt"), request.get("seed"), f"{w}x{h}"]
    return [fake_png(_digest([*base, i]), w, h) for i in range(n)]


class _BadRequest(Exception):
    """A handler rejects the request: answered with ``400``."""


# -- recording -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received.

    Attributes
    ----------
    method, path:
        HTTP method and path (without the query string).
    headers:
        Request headers, names in lower case.
    body:
        The parsed JSON body, or ``None`` when there was none.
    status:
        The status the server answered.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(repr=False)
    body: Any
    status: int


@dataclass
class _Failure:
    status: int
    body: Any
    headers: dict[str, str]


# -- the HTTP plumbing -----------------------------------------------------------------------------
class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: OpenAICompatibleServer, port: int) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.workers: set[threading.Thread] = set()
        self.track_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self.track_lock:
            self.open_sockets.add(request)
            self.workers = {t for t in self.workers if t.is_alive()}
            self.workers.add(worker)
        worker.start()

    def shutdown_request(self, request: Any) -> None:
        with self.track_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are normal in tests; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FairframeOpenAI/1"
    timeout = 30  # idle keep-alive connections are closed after this

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = cast(_HTTPServer, self.server).owner
        status, body, extra = owner._respond(method, self.path, headers, raw)
        if isinstance(body, bytes):
            payload, ctype = body, "application/octet-stream"
        elif isinstance(body, str):
            payload, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = json.dumps(body).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", ctype))
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client went away
            self.close_connection = True


def _error_body(message: str, kind: str, status: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": status}}


class OpenAICompatibleServer:
    """A loopback OpenAI-compatible HTTP server that runs in a background thread.

    Parameters
    ----------
    chat:
        Chat handler ``(request_json) -> str | dict``; see the module docstring. Defaults to
        :func:`echo_chat`. An exception it raises is answered with ``500``.
    images:
        Images handler ``(request_json) -> list[bytes] | dict``. Defaults to :func:`hash_images`.
    models:
        Model ids listed by ``GET /v1/models``.
    port:
        Port on ``127.0.0.1``; ``0`` picks a free one.
    require_api_key:
        When set, requests without ``Authorization: Bearer <require_api_key>`` get ``401``.

    Examples
    --------
    >>> import httpx
    >>> with OpenAICompatibleServer() as server:
    ...     httpx.get(server.base_url + "/models").json()["data"][0]["id"]
    'fairframe-test'
    """

    def __init__(
        self,
        *,
        chat: ChatHandler | None = None,
        images: ImagesHandler | None = None,
        models: Sequence[str] = ("fairframe-test",),
        port: int = 0,
        require_api_key: str | None = None,
    ) -> None:
        self.chat_handler: ChatHandler = chat or echo_chat
        self.images_handler: ImagesHandler = images or hash_images
        self.models = list(models)
        self.port = port
        self.require_api_key = require_api_key
        self._requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._files: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> OpenAICompatibleServer:
        """Bind the port and serve in a daemon thread (idempotent)."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(self, self.port)
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fairframe-openai-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the listening socket, join the threads."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        thread.join()
        with httpd.track_lock:
            open_sockets = list(httpd.open_sockets)
            workers = list(httpd.workers)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join(timeout=5.0)
        httpd.server_close()
        self._httpd = self._thread = None

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (valid once started)."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it in a `with` block or start() it")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what OpenAI clients take as ``base_url``."""
        return self.root_url + "/v1"

    # -- scripting ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget recorded requests and pending failures."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        body: dict[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` and ``body`` (any endpoint).

        ``body`` defaults to an OpenAI-style error object; a ``str`` or ``bytes`` is sent raw (use
        ``status=200, body="not json"`` to test malformed answers).
        """
        if body is None:
            body = _error_body(f"injected failure ({status})", "fairframe_injected", status)
        with self._lock:
            for _ in range(n):
                self._failures.append(_Failure(status, body, dict(headers or {})))

    def add_file(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve ``data`` at ``GET /files/NAME`` and return its absolute URL."""
        with self._lock:
            self._files[name] = (data, content_type)
        return f"{self.root_url}/files/{name}"

    # -- answering ------------------------------------------------------------------------------
    def _respond(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        path = urlsplit(raw_path).path
        body: Any = None
        status, answer, extra = 200, None, {}
        if raw:
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = raw.decode("utf-8", "replace")
                status, answer = 400, _error_body("body is not JSON", "invalid_request_error", 400)
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, answer, extra = failure.status, failure.body, dict(failure.headers)
        elif status == 200:
            status, answer, extra = self._route(method, path, headers, body)
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers, body, status))
        return status, answer, extra

    def _route(
        self, method: str, path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if (
            self.require_api_key is not None
            and path.startswith("/v1/")
            and headers.get("authorization") != f"Bearer {self.require_api_key}"
        ):
            return 401, _error_body("Incorrect API key provided.", "invalid_request_error", 401), {}
        if method == "GET" and path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fairframe"}
                    for m in self.models]
            return 200, {"object": "list", "data": data}, {}
        if method == "GET" and path.startswith("/files/"):
            with self._lock:
                found = self._files.get(path.removeprefix("/files/"))
            if found is None:
                return 404, _error_body(f"no file at {path}", "not_found", 404), {}
            return 200, found[0], {"Content-Type": found[1]}
        if method == "POST" and path in ("/v1/chat/completions", "/v1/images/generations"):
            if not isinstance(body, dict):
                return 400, _error_body("expected a JSON object", "invalid_request_error", 400), {}
            try:
                if path == "/v1/chat/completions":
                    return 200, self._chat(body), {}
                return 200, self._images(body), {}
            except _BadRequest as exc:
                return 400, _error_body(str(exc), "invalid_request_error", 400), {}
            except Exception as exc:  # a handler bug: answer 500 like a real server would
                return 500, _error_body(
                    f"handler failed: {type(exc).__name__}: {exc}", "server_error", 500
                ), {}
        return 404, _error_body(f"no route for {method} {path}", "not_found", 404), {}

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("messages"), list):
            raise _BadRequest("'messages' must be a list")
        reply = self.chat_handler(body)
        if isinstance(reply, dict):
            return reply
        out = chat_response(str(reply), model=str(body.get("model", "fairframe-test")))
        out["created"] = int(time.time())
        return out

    def _images(self, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("prompt"), str):
            raise _BadRequest("'prompt' must be a string")
        result = self.images_handler(body)
        if isinstance(result, dict):
            return result
        return images_response(list(result))

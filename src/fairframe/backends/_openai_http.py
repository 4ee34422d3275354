"""One small HTTP client shared by the backends that talk to OpenAI-compatible servers.

vLLM, Ollama, llama.cpp's server, LM Studio and hosted APIs all speak the same JSON-over-HTTP
dialect. :class:`OpenAIClient` sends one JSON request, retries what is worth retrying, and turns
every failure into a one-line :class:`~fairframe.errors.EndpointError` that names the URL, what went
wrong, and what to do about it. The API key never appears in a message, a URL or an identity.
:class:`OpenAIBackend` is what the backends built on it share: the checked ``model``, the client,
the start of the identity, and ``close`` / ``with``.

Retry policy
------------
Connect errors, timeouts, dropped connections, ``429 Too Many Requests`` and every ``5xx`` answer
are retried up to ``max_retries`` times (so at most ``max_retries + 1`` attempts), waiting
``backoff_s * 2**attempt`` seconds between attempts, or the server's ``Retry-After`` when it sends
one; either wait is capped at ``max_backoff_s``. Other ``4xx`` answers are final.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import httpx

from fairframe.errors import ConfigError, EndpointError, EndpointStatusError
from fairframe.types import JSONValue

__all__ = [
    "EndpointStatusError",
    "OpenAIBackend",
    "OpenAIClient",
    "chat_content",
    "redact_url",
    "require_field",
]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_DETAIL_CHARS = 200


def redact_url(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part (safe for messages and identities)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _one_line(text: str, limit: int = _DETAIL_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


def require_field(data: Any, path: Sequence[str | int], url: str) -> Any:
    """Return ``data[path[0]][path[1]]...``, or raise an :class:`EndpointError` naming the gap.

    Examples
    --------
    >>> require_field({"data": [{"b64_json": "x"}]}, ("data", 0, "b64_json"), "http://h/v1")
    'x'
    """
    current = data
    for key in path:
        if isinstance(key, int):
            found = isinstance(current, list) and -len(current) <= key < len(current)
        else:
            found = isinstance(current, dict) and key in current
        if not found:
            raise EndpointError(
                f"{url} answered without {_dotted(path)}; check that base_url points at "
                "an OpenAI-compatible API that serves this endpoint"
            )
        current = current[key]
    return current


def chat_content(data: Mapping[str, Any], url: str, *, refusal_ok: bool = False) -> str:
    """The assistant text of a chat-completion answer (``choices[0].message.content``).

    Content given as a list of parts is joined. With ``refusal_ok``, a refusal (``content: null``
    plus ``refusal: "..."``) is returned as the text; otherwise it raises :class:`EndpointError`.
    """
    message = require_field(data, ("choices", 0, "message"), url)
    if not isinstance(message, dict):
        raise EndpointError(f"{url} answered choices[0].message that is not an object")
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        if texts and all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if isinstance(t, str))
    refusal = message.get("refusal")
    if isinstance(refusal, str):
        if refusal_ok:
            return refusal
        raise EndpointError(f"{url}: the model refused to answer ({_one_line(refusal)})")
    raise EndpointError(
        f"{url} answered without choices[0].message.content text; check that base_url points at "
        "an OpenAI-compatible chat endpoint"
    )


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _transport_reason(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timed out"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or (
        "name resolution" in text
    ):
        return "host name not found"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "server closed the connection without answering"
    return _one_line(str(exc) or type(exc).__name__, 120)


def _server_detail(response: httpx.Response) -> str:
    """The server's own explanation of an error answer, on one line, or ``""``."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        try:
            return _one_line(response.text)
        except (UnicodeDecodeError, ValueError):  # pragma: no cover - undecodable bodies
            return ""
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if isinstance(err, str):
            return _one_line(err)
        if err is not None:
            return _one_line(json.dumps(err))
    return _one_line(json.dumps(data))


class OpenAIClient:
    """A keep-alive JSON client for one OpenAI-compatible server, with retries and clear errors.

    Parameters
    ----------
    base_url:
        The API root, usually ending in ``/v1`` (``http://127.0.0.1:8000/v1``).
    api_key:
        The API key. When ``None``, the environment variable ``api_key_env`` is read at each
        request; when that is unset too, no ``Authorization`` header is sent (local servers).
    api_key_env:
        Name of the environment variable holding the key.
    timeout_s:
        Seconds to wait for connecting, and for each read, of one attempt.
    max_retries:
        Extra attempts after the first for retryable failures (see the module docstring).
    backoff_s:
        First wait between attempts; it doubles after each retry.
    max_backoff_s:
        Cap on any single wait, including a server's ``Retry-After``.
    headers:
        Extra headers sent with every request (never recorded anywhere).

    Raises
    ------
    fairframe.errors.ConfigError
        ``base_url`` is not an ``http://`` or ``https://`` URL, or a number is out of range.

    Notes
    -----
    The underlying ``httpx.Client`` is created lazily and thread-safely on the first request and
    closed by :meth:`close`, by leaving a ``with`` block, or when the client is garbage-collected.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"base_url {redact_url(base_url)!r} is not an http(s) URL; "
                "write it like 'http://127.0.0.1:8000/v1'"
            )
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ConfigError(f"timeout_s must be a positive number of seconds, got {timeout_s}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        if backoff_s < 0 or max_backoff_s < 0:
            raise ConfigError(
                f"backoff_s and max_backoff_s must be >= 0, got {backoff_s} and {max_backoff_s}"
            )
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self._api_key = api_key
        self._headers = dict(headers or {})
        self._client: httpx.Client | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()

    # -- identity and URLs ------------------------------------------------------------------
    @property
    def public_base_url(self) -> str:
        """``base_url`` without credentials: what identities and messages show."""
        return redact_url(self.base_url)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` under ``base_url`` (``"chat/completions"``)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def same_host(self, url: str) -> bool:
        """Whether ``url`` has the same scheme, host and port as ``base_url``."""
        a, b = urlsplit(self.base_url), urlsplit(url)
        try:
            return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
        except ValueError:  # an invalid port in ``url``
            return False

    # -- lifecycle ------------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                host = urlsplit(self.base_url).hostname or ""
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout_s),
                    headers=self._headers,
                    follow_redirects=False,
                    # Proxy variables must not capture loopback servers.
                    trust_env=host not in _LOOPBACK_HOSTS,
                )
                self._finalizer = weakref.finalize(self, self._client.close)
            return self._client

    def close(self) -> None:
        """Close pooled connections; a later request opens new ones."""
        with self._lock:
            finalizer, self._finalizer, self._client = self._finalizer, None, None
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- keys -------------------------------------------------------------------------------------
    def _current_key(self) -> str | None:
        if self._api_key is not None:
            return self._api_key or None
        return os.environ.get(self.api_key_env) or None

    def _key_hint(self) -> str:
        if self._api_key:
            return "check the api_key option"
        if os.environ.get(self.api_key_env):
            return f"check the API key in ${self.api_key_env}"
        return f"no API key was sent; set ${self.api_key_env} or pass api_key"

    def _redact(self, text: str) -> str:
        key = self._current_key()
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    # -- requests ---------------------------------------------------------------------------------
    def post_json(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``payload`` as JSON to ``path`` and return the answer, a JSON object.

        Raises
        ------
        fairframe.errors.EndpointError
            The server cannot be reached, keeps failing, refuses the request, or answers with
            something that is not a JSON object (:class:`EndpointStatusError` for HTTP errors).
        """
        url = self.url(path)
        return self._decode(url, self._send("POST", url, payload))

    def get_json(self, path: str) -> dict[str, Any]:
        """GET ``path`` and return the answer, a JSON object (e.g. ``"models"``)."""
        url = self.url(path)
        return self._decode(url, self._send("GET", url, None))

    def get_bytes(self, url: str) -> bytes:
        """GET an absolute ``url`` (same retries and errors) and return the raw body."""
        return self._send("GET", url, None).content

    def _send(self, method: str, url: str, payload: Mapping[str, Any] | None) -> httpx.Response:
        shown = redact_url(url)
        attempts = self.max_retries + 1
        outcome: httpx.Response | httpx.TransportError | None = None
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = self._http().request(
                    method, url, json=payload, headers=self._auth_headers()
                )
            except httpx.UnsupportedProtocol as exc:
                raise EndpointError(
                    self._redact(f"cannot request {shown} ({exc}); base_url must be http(s)")
                ) from exc
            except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
                outcome = exc
            else:
                if response.status_code < 400:
                    return response
                if not self._retryable(response.status_code):
                    raise self._status_error(shown, response, attempt + 1)
                outcome = response
                retry_after = _parse_retry_after(response.headers.get("retry-after"))
            if attempt + 1 < attempts:
                delay = self.backoff_s * (2**attempt) if retry_after is None else retry_after
                time.sleep(min(delay, self.max_backoff_s))
        if isinstance(outcome, httpx.Response):
            raise self._status_error(shown, outcome, attempts)
        assert outcome is not None  # the loop ran at least once
        raise self._transport_error(shown, outcome, attempts) from outcome

    @staticmethod
    def _retryable(status: int) -> bool:
        return status == 429 or status >= 500

    def _auth_headers(self) -> dict[str, str]:
        key = self._current_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _transport_error(
        self, url: str, exc: httpx.TransportError, attempts: int
    ) -> EndpointError:
        tries = f", {attempts} attempts" if attempts > 1 else ""
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            msg = (
                f"{url} did not answer within {self.timeout_s:g} s ({type(exc).__name__}{tries}); "
                "raise timeout_s or check that the server is not overloaded"
            )
        else:
            msg = (
                f"cannot reach {url} ({_transport_reason(exc)}{tries}); "
                "is the server running? check base_url"
            )
        return EndpointError(self._redact(msg))

    def _status_error(
        self, url: str, response: httpx.Response, attempts: int
    ) -> EndpointStatusError:
        status = response.status_code
        detail = _server_detail(response)
        head = f"{url} answered {status} {response.reason_phrase}".rstrip()
        if detail:
            head += f" ({detail})"
        if attempts > 1:
            head += f" after {attempts} attempts"
        if status == 401:
            fix = self._key_hint()
        elif status == 403 and ("cool-down" in detail or "suspended" in detail):
            fix = ("the server refuses this key for now (a Fairframe guard puts a key that "
                   "collected strikes for blocked prompts in a cool-down); red-team a service "
                   "whose config turns strikes off ([service.enforcement.strikes] "
                   "action_weights = {}), or have an administrator reinstate the key")
        elif status == 403:
            fix = f"the key may not use this model or endpoint; {self._key_hint()}"
        elif status == 404:
            fix = "check base_url (it usually ends in /v1), the model name, and the endpoint"
        elif status == 413:
            fix = "the request is too large; send smaller images or prompts"
        elif status == 429:
            fix = "the server is rate-limiting; lower batch_size or raise max_retries"
        elif status >= 500:
            fix = "the server failed; check its logs or raise max_retries"
        else:
            fix = "check the model name and options the server accepts"
        return EndpointStatusError(
            self._redact(f"{head}; {fix}"), status_code=status, url=url
        )

    def _decode(self, url: str, response: httpx.Response) -> dict[str, Any]:
        shown = redact_url(url)
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            snippet = _one_line(response.content[:200].decode("utf-8", "replace"), 80)
            raise EndpointError(
                self._redact(
                    f"{shown} answered {response.status_code} with a body that is not JSON "
                    f"({snippet!r}); check that base_url points at an OpenAI-compatible API"
                )
            ) from exc
        if not isinstance(data, dict):
            raise EndpointError(
                f"{shown} answered a JSON {type(data).__name__} instead of an object; check that "
                "base_url points at an OpenAI-compatible API"
            )
        return data


class OpenAIBackend:
    """Base of the backends that talk to one OpenAI-compatible server through :class:`OpenAIClient`.

    A subclass's ``__init__`` checks its own options, then calls :meth:`_init_backend` (checks
    ``batch_size`` and ``model``) and :meth:`_connect` (builds the client, which checks the
    connection options), in that order.
    """

    model: str
    _client: OpenAIClient
    #: Calls a remote endpoint (the guard service's ``batching = "auto"`` stays off for guards
    #: with such a stage or rewriter: one slow call would hold up a whole batch).
    remote: bool = True

    def _init_backend(self, model: str, kind: str, batch_size: int | None = None) -> None:
        """Check ``batch_size`` (when given) and ``model``; store ``model`` and ``max_batch_size``.

        ``kind`` names the model in the message (``"chat model"``, ``"vision model"``, ``"model"``).
        """
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if not model:
            raise ConfigError(f"model must name the {kind} the server serves")
        self.model = model
        if batch_size is not None:
            #: Largest batch a call should receive; up to this many requests run concurrently.
            self.max_batch_size = int(batch_size)

    def _connect(
        self,
        base_url: str,
        api_key: str | None,
        api_key_env: str,
        timeout_s: float,
        max_retries: int,
        backoff_s: float,
        headers: Mapping[str, str] | None,
        /,
    ) -> None:
        """Create the client (arguments in the order the backends' constructors take them)."""
        self._client = OpenAIClient(
            base_url,
            api_key=api_key,
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            headers=headers,
        )

    def base_identity(self, backend: str) -> dict[str, JSONValue]:
        """``backend``, the credential-free ``base_url`` and ``model``, in that order."""
        return {"backend": backend, "base_url": self._client.public_base_url, "model": self.model}

    def _shown_url(self, path: str) -> str:
        """The URL of ``path`` as messages show it (without credentials)."""
        return redact_url(self._client.url(path))

    def close(self) -> None:
        """Close pooled HTTP connections."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""The FastAPI application: a thin HTTP shell over the guard (:class:`~fairframe.guard.PromptGuard`,
the image path in :mod:`fairframe.guard.incoming`, :class:`~fairframe.guard.generate.
GuardedGenerator`) and the enforcement store.

Every endpoint parses its input, calls the same library functions a Python user would, and maps
Fairframe errors to HTTP statuses:

==========================================  ======  =============================================
error                                       status  when
==========================================  ======  =============================================
malformed JSON / invalid UTF-8              400     the body cannot be parsed
schema violation, empty or too long prompt  422     the message names the field and the limit
bad base64, truncated file, not an image,   422     the message names the field and the fix
image too small or over the pixel limit
missing or unknown API key                  401     ``Authorization: Bearer <key>`` or ``X-API-Key``
role missing, account cooling down or       403     the body says until when
suspended
unknown review, incident, decision or key   404
a review/appeal change the state forbids    409     e.g. resolving an item nobody claimed
rate limit exceeded                         429     ``Retry-After`` header in seconds
body over ``service.max_body_bytes``        413     (``max_image_body_bytes`` under
                                                    ``/v1/images/``)
a required classifier failed                503     fail closed: nothing is served
no generator configured (``/v1/generate``)  503     ``not_configured``
anything unexpected                         500     logged with a request id; the service goes on
==========================================  ======  =============================================

Error bodies are ``{"error": {"type": ..., "message": ...}}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import inspect
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fairframe._deps import require
from fairframe.errors import (
    CommitUnknownError,
    ConfigError,
    FairframeError,
    InputDataError,
    MissingDependencyError,
    NotFoundError,
    StateError,
    StoreError,
)
from fairframe.guard.batching import MicroBatcher
from fairframe.guard.config import GuardConfig
from fairframe.guard.enforcement import RecordRequest
from fairframe.guard.pipeline import GuardUnavailableError, PromptGuard
from fairframe.service._metrics import Metrics
from fairframe.service.schemas import (
    B64_PATTERN,
    ERROR_RESPONSES,
    MAX_ID,
    SOME_TEXT,
    TEXT,
    VISIBLE,
    AccountStatusOut,
    AppealRequest,
    CheckRequest,
    CheckResponse,
    CreatedKeyOut,
    GenerateRequest,
    GenerateResponse,
    HealthOut,
    ImageCheckRequest,
    IncidentOut,
    IncidentRequest,
    IncidentsOut,
    IncidentStatusName,
    KeyCreateRequest,
    LogEntryOut,
    LogVerificationOut,
    PolicyOut,
    ReadyOut,
    ResolveRequest,
    ReviewItemOut,
    ReviewItemsOut,
    ReviewStatusName,
    RevokedOut,
    TransformCheckRequest,
    check_request_model,
    generate_request_model,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from fairframe.guard.enforcement import Enforcer

__all__ = ["create_app", "serve"]

log = logging.getLogger("fairframe.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths under this prefix take base64 images: their body limit is
#: ``service.max_image_body_bytes`` instead of ``service.max_body_bytes``.
IMAGE_PREFIX = "/v1/images/"


class _Edge:
    """The outermost ASGI middleware (plain ASGI: Starlette's ``BaseHTTPMiddleware`` costs a task
    and a stream per request).

    - refuses bodies over ``limit`` bytes with 413 (by Content-Length, or while reading a streamed
      body);
    - counts requests and their latency per route and status for ``/metrics``;
    - turns an exception that escaped every handler into a logged 500 JSON answer (past this point
      the client would only see the connection reset).
    """

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics, image_limit: int = 0) -> None:
        self.app = app
        self.limit = limit
        self.image_limit = max(limit, image_limit)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]
        started = [False]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                started[0] = True
            await send(message)

        try:
            await self._limited(scope, receive, tracking_send)
        except Exception:
            rid = uuid.uuid4().hex[:12]
            log.exception("unexpected error (request %s)", rid)
            if not started[0]:
                await _send_error(tracking_send, 500, "internal_error",
                                  f"unexpected error; see the service log for {rid}")
        route = getattr(scope.get("route"), "path", None)
        if route is None:  # refused here (413) before routing: name the route if there is one
            route = self._route_of(scope)
        self.metrics.requests.labels(route, str(status[0])).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - t0)

    def _route_of(self, scope: Scope) -> str:
        """The route template matching the request's path, else ``"unmatched"`` (a few fixed
        label values, whatever paths clients send)."""
        from starlette.routing import Match

        app = scope.get("app")
        for r in getattr(getattr(app, "router", None), "routes", ()):
            try:
                if r.matches(scope)[0] is Match.FULL:
                    return str(getattr(r, "path", "unmatched"))
            except Exception:  # a route that cannot judge this scope
                continue
        return "unmatched"

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.image_limit if scope.get("path", "").startswith(IMAGE_PREFIX) else self.limit
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_error(send, 413, "payload_too_large",
                                      f"request body is over {limit} bytes")
                    return
        # read the whole body here (it is at most `limit` bytes), then replay it to the app
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                await _send_error(send, 413, "payload_too_large",
                                  f"request body is over {limit} bytes")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that yields ``messages`` first, then defers to the real one."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _send_error(send: Send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(
    config: GuardConfig | None = None,
    *,
    guard: PromptGuard | None = None,
    enforcer: Enforcer | None = None,
    image_guard: Any = None,
    generator: Any = None,
) -> FastAPI:
    """Build the ASGI application.

    Parameters
    ----------
    config:
        The guard configuration (``[service]`` holds the HTTP settings); default: all defaults.
    guard:
        A ready guard; default ``config.build_guard()``.
    enforcer:
        A ready enforcement store; default: opened from ``config.service.database_url`` at startup
        and closed at shutdown.
    image_guard:
        A ready :class:`~fairframe.guard.image.pipeline.ImageGuard`; default: built from the
        config's ``[image]`` section on the first image request.
    generator:
        A ready :class:`~fairframe.guard.generate.GuardedGenerator` for ``/v1/generate``;
        default: built from ``[generate]`` on the first request (503 when none is configured).

    Raises
    ------
    MissingDependencyError
        When the ``service`` extra is not installed.
    """
    require("fastapi", extra="service", purpose="the guard HTTP service")
    import anyio
    from fastapi import Depends, FastAPI, Path, Query, Request, Security
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
    from starlette.exceptions import HTTPException as StarletteHTTPException

    cfg = config if config is not None else GuardConfig()
    settings = cfg.service
    state: dict[str, Any] = {"guard": guard, "enforcer": enforcer, "owns_enforcer": False}
    state_lock = threading.RLock()  # lazy builders nest (the generator needs the image guard)
    image_guard_arg, generator_arg = image_guard, generator
    metrics = Metrics()
    max_chars = guard.max_prompt_chars if guard is not None else cfg.max_prompt_chars
    Check = check_request_model(max_chars)
    Generate = generate_request_model(max_chars)
    _REVIEW_ID = Path(ge=1, le=MAX_ID, description="Review item id")
    _INCIDENT_ID = Path(ge=1, le=MAX_ID, description="Incident id")
    _DECISION_ID = Path(ge=1, le=MAX_ID, description="Decision-log entry id (decision_id)")
    _KEY_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                   description="API key id (the part between 'ff_' and the secret)")
    limiter = anyio.CapacityLimiter(settings.workers_threads)

    # prompt checks get their own worker threads (without micro-batching), so that image and
    # review work cannot starve them
    check_limiter = anyio.CapacityLimiter(settings.workers_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        # an app may be started again after a shutdown (a test client entered twice)
        state["stopping"] = False
        state.pop("warm_error", None)
        try:
            if state["guard"] is None:
                state["guard"] = cfg.build_guard()
            if state["enforcer"] is None:
                state["enforcer"] = cfg.open_enforcer()
                state["owns_enforcer"] = True
            guard_now: PromptGuard = state["guard"]
            warm_up: Callable[[], Any] = guard_now.warm_up
            if batching_on(guard_now):
                # every model call, the warm-up included, runs on the batcher's one thread
                batcher = state["batcher"] = MicroBatcher(
                    run_checks, max_batch=settings.batch_max, name="fairframe-guard-batcher",
                    on_batch=metrics.batch_size.observe, on_start=warm_up,
                )
                warm_up = batcher.started.result
                app.state.guard_batcher = batcher
            log.info("loading the guard (stages: %s; micro-batching %s)",
                     ", ".join(guard_now.stage_names), "on" if batching_on(guard_now) else "off")
            t0 = time.perf_counter()
            try:
                await anyio.to_thread.run_sync(warm_up, limiter=limiter)
            except FairframeError as exc:  # keep serving: checks fail closed, /readyz says why
                state["warm_error"] = str(exc)
                log.error("guard warm-up failed: %s", exc)
            else:
                log.info("guard ready in %.1f s (policy %s)", time.perf_counter() - t0,
                         guard_now.policy.version)
            if not settings.require_api_key:
                log.warning("require_api_key = false: requests without an API key are served "
                            "and no rate limit or strike applies to them")
            yield
        finally:
            state["stopping"] = True  # a batch that starts now answers 503 and touches nothing
            runner_alive = False
            if state.get("batcher") is not None:  # queued checks finish before the store closes
                batcher = state.pop("batcher")
                await anyio.to_thread.run_sync(
                    lambda: batcher.close(timeout=min(settings.batch_timeout_s, 30.0)))
                runner_alive = batcher.running
            if runner_alive:
                log.warning("the guard batcher is still running a batch at shutdown; the "
                            "enforcement store is left open for it")
            elif state["owns_enforcer"]:
                state["enforcer"].close()
                state["enforcer"], state["owns_enforcer"] = None, False  # reopened on a restart

    extra: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        # FastAPI's native OpenTelemetry instrumentation switches itself on whenever
        # opentelemetry is importable (schemathesis brings it in); it adds work to every request,
        # so it is opt-in
        on = settings.opentelemetry
        extra["telemetry"] = {"tracing": on, "metrics": on, "logs": on, "operation_spans": on}
    app = FastAPI(
        title="Fairframe guard",
        version=_version(),
        description="Prompt checks, rewrites, enforcement and incident reports for "
        "text-to-image serving.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        **extra,
    )

    # ------------------------------------------------------------------ errors

    def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None
              ) -> JSONResponse:
        return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if any(e.get("type") in ("json_invalid", "json_type") for e in errs):
            return error(400, "malformed_json",
                         "the request body is not valid JSON (check quoting and UTF-8)")
        ctype = request.headers.get("content-type", "")
        mime = ctype.split(";")[0].strip().lower()
        if request.method in ("POST", "PUT", "PATCH") and mime != "application/json" \
                and not mime.endswith("+json") and any(
                    tuple(e.get("loc", ())) == ("body",) for e in errs):
            sent = (f"as {ctype.split(';')[0].strip()!r}" if mime
                    else "without a Content-Type header")
            return error(415, "unsupported_media_type",
                         f"the body was sent {sent}; send JSON with "
                         "'Content-Type: application/json'")
        parts = []
        for e in errs[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            msg = e.get("msg", "invalid")
            pattern = e.get("ctx", {}).get("pattern")
            if e.get("type") == "string_pattern_mismatch" and pattern == VISIBLE:
                msg = ("must hold a visible character (not only white space, control, "
                       "zero-width or other format characters)")
            elif e.get("type") == "string_pattern_mismatch" and pattern == SOME_TEXT:
                msg = ("must not be empty or only white space, nor hold a NUL character "
                       "(U+0000)")
            elif e.get("type") == "string_pattern_mismatch" and pattern == TEXT:
                msg = "must not hold a NUL character (U+0000)"
            elif e.get("type") == "string_pattern_mismatch" and pattern == B64_PATTERN:
                msg = ("must be base64 image bytes on one line, standard alphabet (A-Z a-z 0-9 + "
                       "/, = padding; no line breaks: `base64 -w0`), optionally as a "
                       "data:image/...;base64, URI")
            parts.append(f"{loc or 'body'}: {msg}")
        return error(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            return error(400, "malformed_json", await _unparsed(request))
        kinds = {404: "not_found", 405: "method_not_allowed"}
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:  # every method of the path, not only the first route's
            methods = {m for r in app.routes if getattr(r, "path_regex", None) is not None
                       and r.path_regex.match(request.url.path)  # type: ignore[attr-defined]
                       for m in getattr(r, "methods", None) or ()}
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
        return error(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail),
                     headers or None)

    @app.exception_handler(InputDataError)
    async def _bad_input(request: Request, exc: InputDataError) -> JSONResponse:
        return error(422, "invalid_request", str(exc))

    @app.exception_handler(GuardUnavailableError)
    async def _unavailable(request: Request, exc: GuardUnavailableError) -> JSONResponse:
        log.error("guard unavailable: %s", exc)
        metrics.failed_closed.inc()
        return error(503, "guard_unavailable", f"{exc} — the request was not served")

    @app.exception_handler(_HTTPError)
    async def _http(request: Request, exc: _HTTPError) -> JSONResponse:
        return error(exc.status, exc.kind, exc.message, exc.headers)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return error(404, "not_found", str(exc))

    @app.exception_handler(StateError)
    async def _conflict(request: Request, exc: StateError) -> JSONResponse:
        return error(409, "conflict", str(exc))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        log.error("enforcement store error: %s", exc)
        return error(503, "store_unavailable", str(exc))

    @app.exception_handler(FairframeError)
    async def _fairframe(request: Request, exc: FairframeError) -> JSONResponse:
        if isinstance(exc, ConfigError):
            return error(422, "invalid_request", str(exc))
        log.error("request failed: %s", exc)
        return error(500, type(exc).__name__, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = uuid.uuid4().hex[:12]
        log.exception("unexpected error (request %s)", rid)
        return error(500, "internal_error", f"unexpected error; see the service log for {rid}")

    app.add_middleware(_Edge, limit=settings.max_body_bytes, metrics=metrics,
                       image_limit=settings.max_image_body_bytes)

    # ------------------------------------------------------------------ auth

    def batching_on(guard: PromptGuard) -> bool:
        """``auto``: on unless a stage or rewriter calls a remote endpoint (a slow call would
        hold up every request of its batch)."""
        if settings.batching != "auto":
            return settings.batching == "on"
        return not any(getattr(x, "remote", False) for x in (*guard.stages, *guard.rewriters))

    def the_guard() -> PromptGuard:
        g: PromptGuard = state["guard"]
        return g

    def the_enforcer() -> Enforcer:
        e: Enforcer | None = state["enforcer"]
        if e is None:  # closed at shutdown; a request still running gets a clean 503
            raise GuardUnavailableError("the service is shutting down")
        return e

    # security schemes, so that the OpenAPI spec says how to authenticate (clients generated
    # from it send the key); auto_error off: the errors are ours, in our format
    bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                        description="Authorization: Bearer <API key> (ff_<id>_<secret>)")
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                                  description="The API key, instead of the Bearer header")

    async def caller(
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),
        x_api_key: str | None = Security(api_key_header),
    ) -> str | None:
        """The API key sent with the request (checked later, in the request's worker thread)."""
        token = x_api_key
        if credentials is not None and credentials.credentials.strip():
            token = credentials.credentials.strip()
        if token is None and settings.require_api_key:
            raise _HTTPError(401, "unauthorized",
                             "send an API key: 'Authorization: Bearer <key>' or 'X-API-Key'")
        return token

    def identify(token: str | None, role: str | None = None) -> Any:
        """The API key behind ``token`` (401 if unknown), holding ``role`` (403 if not)."""
        if token is None:
            return None
        key = the_enforcer().authenticate(token)
        if key is None:
            raise _HTTPError(401, "unauthorized", "unknown or revoked API key")
        if role is not None and not key.has_role(role):
            raise _HTTPError(403, "forbidden", f"this endpoint needs the {role!r} role")
        return key

    def need_role(token: str | None, role: str) -> Any:
        if token is None and not settings.require_api_key:
            return None
        return identify(token, role)

    def admit(token: str | None) -> Any:
        """Authenticate, check the account and take a rate-limit token, in one transaction;
        raises 401/403/429."""
        return None if token is None else admitted(the_enforcer().admit(token))

    def admitted(adm: Any) -> Any:
        """The key of an :class:`Admission`; raises 401/403/429 when it refuses the request."""
        if adm.key is None:
            raise _HTTPError(401, "unauthorized", "unknown or revoked API key")
        if not adm.key.has_role("client"):
            raise _HTTPError(403, "forbidden", "this endpoint needs the 'client' role")
        status = adm.status
        if status is not None and status.state != "active":
            until = getattr(status, "until", None)
            when = (f" until {_utc(until)}" if until
                    else " until an administrator reinstates it")
            what = "in a cool-down" if status.state == "cooldown" else str(status.state)
            why = f" ({status.reason})" if getattr(status, "reason", None) else ""
            raise _HTTPError(
                403, f"account_{status.state}",
                f"this API key is {what}{when}{why} after strikes for refused or rewritten "
                "requests; appeal a decision you think wrong with POST /v1/appeals "
                '{"decision_id": N} (a reviewer who overturns it lifts the strike), or ask an '
                f"administrator to reinstate the key (POST /v1/keys/{adm.key.id}/reinstate)",
                _retry_after(until))
        if adm.rate is not None:
            refuse_over_rate(adm.rate)
        return adm.key

    def refuse_over_rate(rate: Any) -> None:
        """Raise 429 with ``Retry-After`` (whole seconds, at most a week) when ``rate`` (a
        :class:`RateResult`) refused the request."""
        if not rate.allowed:
            wait = rate.retry_after_s if math.isfinite(rate.retry_after_s) else _WEEK_S
            raise _HTTPError(429, "rate_limited", f"rate limit exceeded; retry in {wait:.2f} s",
                             {"Retry-After": str(max(1, min(_WEEK_S, math.ceil(wait))))})

    def admit_other(token: str | None) -> Any:
        """The client key of an appeal or incident report, after taking a rate-limit token (an
        account in a cool-down may still appeal and report); 401/403/429."""
        key = identify(token, "client")
        if key is not None:
            refuse_over_rate(the_enforcer().check_rate(key.id))
        return key

    async def in_thread(job: Any) -> Any:
        """Run ``job`` (database and model work) in the worker pool, one hop per request."""
        return await anyio.to_thread.run_sync(job, limiter=limiter)

    # ------------------------------------------------------------------ endpoints

    def observe(decision: Any, seconds: float) -> None:
        """The Prometheus metrics of one check."""
        metrics.check_seconds.observe(seconds)
        metrics.decisions.labels(decision.action.value).inc()
        for stage, ms in decision.latency_ms.items():
            metrics.stage_seconds.labels(stage).observe(ms / 1e3)

    def check_payload(body: CheckRequest, entry: int, decision: Any,
                      rewrite: bool) -> dict[str, Any]:
        # the CheckResponse schema, built directly (validating it again costs more than the check)
        payload = {"decision_id": entry, **decision.to_dict()}
        if rewrite and payload["prompt_out"] is None and payload["action"] != "block":
            payload["prompt_out"] = body.prompt
        return payload

    def run_check(body: CheckRequest, token: str | None, *, rewrite: bool) -> dict[str, Any]:
        key = admit(token)
        t0 = time.perf_counter()
        decision = the_guard().check(body.prompt, negative_prompt=body.negative_prompt)
        observe(decision, time.perf_counter() - t0)
        entry = the_enforcer().record(decision, key_id=None if key is None else key.id,
                                      prompt=body.prompt)
        return check_payload(body, entry, decision, rewrite)

    def run_checks(items: list[tuple[CheckRequest, str | None, bool]]) -> list[Any]:
        """:func:`run_check` for a micro-batch, on the batcher's thread: the requests are admitted
        in one store transaction, the admitted prompts share one ``check_batch``, and their
        decisions are logged in one more transaction (:func:`admit_batch`,
        :func:`record_batch`). The outcome of each request is its payload or the exception it
        raised; nothing is raised here (the batcher would run the requests again, admitting and
        logging them twice)."""
        outcomes: list[Any] = [None] * len(items)
        try:
            batch_checks(items, outcomes)
        except BaseException as exc:  # never leave an outcome unset, never raise
            log.exception("micro-batch of prompt checks failed")
            for i, outcome in enumerate(outcomes):
                if outcome is None:
                    outcomes[i] = exc
        # each exception leaves this thread without this frame (it holds the other requests)
        return [o.with_traceback(None) if isinstance(o, BaseException) else o for o in outcomes]

    def batch_checks(items: list[tuple[CheckRequest, str | None, bool]],
                     outcomes: list[Any]) -> None:
        if state.get("stopping"):
            for i in range(len(items)):
                outcomes[i] = GuardUnavailableError("the service is shutting down")
            return
        keys = admit_batch([token for _, token, _ in items], outcomes)
        for i in keys:
            try:
                the_guard().validate(items[i][0].prompt)
            except Exception as exc:
                outcomes[i] = exc
        todo = [i for i in keys if outcomes[i] is None]
        t0 = time.perf_counter()
        decisions: list[Any]
        try:
            decisions = the_guard().check_batch(
                [items[i][0].prompt for i in todo],
                negative_prompts=[items[i][0].negative_prompt for i in todo])
            if len(decisions) != len(todo):
                raise GuardUnavailableError(
                    f"the guard returned {len(decisions)} decisions for {len(todo)} prompts")
        except Exception:  # one prompt's failure must reach only its own request
            decisions = []
            for i in todo:
                body = items[i][0]
                try:
                    decisions.append(the_guard().check(body.prompt,
                                                       negative_prompt=body.negative_prompt))
                except Exception as exc:
                    decisions.append(exc)
        seconds = time.perf_counter() - t0
        done = []
        for i, decision in zip(todo, decisions, strict=True):
            if isinstance(decision, Exception):
                outcomes[i] = decision
            else:
                observe(decision, seconds)
                done.append((i, decision))
        entries = record_batch([
            RecordRequest(d, None if keys[i] is None else keys[i].id, items[i][0].prompt)
            for i, d in done])
        for (i, decision), entry in zip(done, entries, strict=True):
            body, _, rewrite = items[i]
            outcomes[i] = entry if isinstance(entry, Exception) else check_payload(
                body, entry, decision, rewrite)

    def admit_batch(tokens: list[str | None], outcomes: list[Any]) -> dict[int, Any]:
        """Admit a micro-batch's requests in one transaction (:meth:`Enforcer.admit_many`, see
        :func:`batch_or_each`); the key of each admitted request by index (``None``: no key
        needed), refusals (401/403/429) and errors into ``outcomes``."""
        sent = [i for i, token in enumerate(tokens) if token is not None]
        keys: dict[int, Any] = {i: None for i, token in enumerate(tokens) if token is None}
        enf = the_enforcer()
        adms = batch_or_each("admitting", enf.admit_many, enf.admit,
                             [tokens[i] or "" for i in sent])
        for i, adm in zip(sent, adms, strict=True):
            try:
                if isinstance(adm, Exception):
                    raise adm
                keys[i] = admitted(adm)
            except Exception as exc:
                outcomes[i] = exc
        return {i: keys[i] for i in sorted(keys)}

    def record_batch(requests: list[RecordRequest]) -> list[Any]:
        """Log a micro-batch's decisions in one transaction (:meth:`Enforcer.record_many`, see
        :func:`batch_or_each`): the entry id per decision, or its error."""
        enf = the_enforcer()
        return batch_or_each(
            "logging", enf.record_many,
            lambda r: enf.record(r.decision, key_id=r.key_id, prompt=r.prompt), requests)

    def batch_or_each(what: str, batch: Callable[[list[Any]], Sequence[Any]],
                      one: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """``batch(items)`` in one store transaction; the result or the error per item.

        When the batch transaction fails and was rolled back, each item is done on its own, so
        one request's error reaches only that request; when its COMMIT failed
        (:class:`CommitUnknownError`: it may have landed), every item gets that error (503) and
        nothing is redone: a request is never admitted or logged twice."""
        try:
            return list(batch(items))
        except CommitUnknownError as exc:
            return [exc] * len(items)
        except Exception:  # rolled back: nothing was written
            log.warning("%s a micro-batch in one transaction failed; %s each request on its own",
                        what, what, exc_info=True)
        out: list[Any] = []
        for item in items:
            try:
                out.append(one(item))
            except Exception as exc:
                out.append(exc)
        return out

    async def checked(body: CheckRequest, token: str | None, rewrite: bool) -> JSONResponse:
        batcher = state.get("batcher")
        if batcher is None:
            return JSONResponse(await anyio.to_thread.run_sync(
                lambda: run_check(body, token, rewrite=rewrite), limiter=check_limiter))
        # the whole request runs on the batcher's thread: two thread switches, as without it
        future = batcher.submit_future((body, token, rewrite))
        outcome: Any = None
        with anyio.move_on_after(settings.batch_timeout_s) as scope:
            outcome = await asyncio.wrap_future(future)
        if scope.cancelled_caught:
            raise _HTTPError(503, "guard_timeout",
                             f"no guard decision within {settings.batch_timeout_s} s (a stage is "
                             "hanging); if the check was already running, its decision may "
                             "still be logged")
        if isinstance(outcome, BaseException):
            raise outcome
        return JSONResponse(outcome)

    async def check_prompt(body: CheckRequest, token: Any = Depends(caller)) -> Any:
        return await checked(body, token, False)

    async def rewrite_prompt(body: CheckRequest, token: Any = Depends(caller)) -> Any:
        return await checked(body, token, True)

    # the request model carries this service's prompt limits, so the spec states them exactly
    for fn in (check_prompt, rewrite_prompt):
        fn.__annotations__ = {"body": Check, "token": Any, "return": CheckResponse}
    app.post("/v1/prompts/check", response_model=CheckResponse, tags=["prompts"],
             summary="Check a prompt against the policy")(check_prompt)
    app.post("/v1/prompts/rewrite", response_model=CheckResponse, tags=["prompts"],
             summary="Check a prompt and return the rewritten prompt to generate with"
             )(rewrite_prompt)

    # ------------------------------------------------------------------ images

    def lazy(name: str, build: Callable[[], Any]) -> Any:
        """Build an image-path component on first use (NudeNet and the generator load only when
        an image endpoint is called); a failure answers 503 and is retried next time."""
        with state_lock:
            if state.get(name) is None:
                try:
                    state[name] = build()
                except MissingDependencyError as exc:
                    raise _HTTPError(503, "not_configured", str(exc)) from exc
            return state[name]

    def the_image_guard() -> Any:
        if image_guard_arg is not None:
            return image_guard_arg
        return lazy("image_guard", lambda: cfg.build_image_guard(policy=the_guard().policy))

    def provenance_inputs() -> tuple[Any, bytes | None]:
        return (lazy("watermark", lambda: cfg.build_watermark() or False) or None,
                lazy("anchors", lambda: cfg.trust_anchors_pem() or b"") or None)

    def record(decision: Any, key: Any, prompt: str | None, image: bytes | None) -> int:
        digest = None if image is None else hashlib.sha256(image).hexdigest()
        metrics.decisions.labels(decision.action.value).inc()
        entry: int = the_enforcer().record(decision, key_id=None if key is None else key.id,
                                           prompt=prompt, image_sha256=digest)
        return entry

    @app.post(IMAGE_PREFIX + "check", response_model=CheckResponse, tags=["images"],
              summary="Check an image (classifiers, watermarks, C2PA credentials)")
    async def check_image_route(body: ImageCheckRequest, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            from fairframe.guard.incoming import check_image

            key = admit(token)
            data = decode_base64_image(body.image, "image")
            wm, anchors = provenance_inputs() if body.provenance else (None, None)
            decision = check_image(data, image_guard=the_image_guard(), prompt=body.prompt,
                                   provenance=body.provenance, watermark=wm,
                                   trust_anchors_pem=anchors)
            return {"decision_id": record(decision, key, body.prompt, data),
                    **decision.to_dict()}

        return JSONResponse(await in_thread(job))

    @app.post(IMAGE_PREFIX + "check-transformation", response_model=CheckResponse,
              tags=["images"], summary="Check an img2img/inpainting edit")
    async def check_transformation_route(body: TransformCheckRequest,
                                         token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            from fairframe.guard.incoming import check_transformation

            key = admit(token)
            before = decode_base64_image(body.input_image, "input_image")
            after = decode_base64_image(body.output_image, "output_image")
            wm, anchors = provenance_inputs() if body.provenance else (None, None)
            decision = check_transformation(
                before, after, prompt=body.prompt, image_guard=the_image_guard(),
                transform_check=lazy("transform", cfg.build_transform_check),
                provenance=body.provenance, watermark=wm, trust_anchors_pem=anchors)
            return {"decision_id": record(decision, key, body.prompt, after),
                    **decision.to_dict()}

        return JSONResponse(await in_thread(job))

    async def generate_route(body: GenerateRequest, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            key = admit(token)
            gen = generator_arg if generator_arg is not None else lazy(
                "generator", lambda: cfg.build_guarded_generator(
                    prompt_guard=the_guard(), image_guard=the_image_guard()) or False)
            if not gen:
                raise _HTTPError(503, "not_configured",
                                 "this service has no generator; add a [generate] section "
                                 "(backend, options) to the guard config")
            outcome = gen.generate(body.prompt, negative_prompt=body.negative_prompt,
                                   seed=body.seed, width=body.width, height=body.height,
                                   num_inference_steps=body.num_inference_steps,
                                   guidance_scale=body.guidance_scale)
            entry = record(outcome.decision, key, body.prompt, outcome.image)
            image = outcome.image
            return {
                "decision_id": entry,
                "request_id": outcome.request_id,
                "image": None if image is None else base64.b64encode(image).decode("ascii"),
                "mime_type": outcome.mime_type,
                "image_sha256": None if image is None else hashlib.sha256(image).hexdigest(),
                "decision": {"decision_id": entry, **outcome.decision.to_dict()},
            }

        return JSONResponse(await in_thread(job))

    generate_route.__annotations__ = {"body": Generate, "token": Any, "return": GenerateResponse}
    app.post("/v1/generate", response_model=GenerateResponse, tags=["images"],
             summary="Guarded generation: prompt check, generator, image check, regeneration, "
             "watermark and C2PA")(generate_route)

    @app.post("/v1/incidents", status_code=201, tags=["incidents"], response_model=IncidentOut,
              summary="Report a served image")
    async def report_incident(body: IncidentRequest, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            key = admit_other(token)
            return the_enforcer().report_incident(
                key_id=None if key is None else key.id,
                own_only=key is not None and not key.has_role("admin"), **body.model_dump())
        return _dump(await in_thread(job))

    @app.get("/v1/incidents", tags=["incidents"], response_model=IncidentsOut,
             summary="Incident reports, oldest first")
    async def list_incidents(
        status: IncidentStatusName | None = None,
        after_id: int = Query(0, ge=0, le=MAX_ID),
        limit: int = Query(100, ge=1, le=1000),
        token: Any = Depends(caller),
    ) -> Any:
        def job() -> Any:
            need_role(token, "reviewer")
            return the_enforcer().list_incidents(status, after_id=after_id, limit=limit)
        return [_dump(i) for i in await in_thread(job)]

    async def reviewer_read(token: Any, read: Callable[[], Any], missing: str) -> Any:
        """One record for a reviewer: 403 without the role, 404 (``missing``) when absent."""
        def job() -> Any:
            need_role(token, "reviewer")
            return read()
        found = await in_thread(job)
        if found is None:
            raise _HTTPError(404, "not_found", missing)
        return _dump(found)

    @app.get("/v1/incidents/{incident_id}", tags=["incidents"], response_model=IncidentOut,
             summary="One incident report")
    async def get_incident(incident_id: int = _INCIDENT_ID, token: Any = Depends(caller)) -> Any:
        return await reviewer_read(token, lambda: the_enforcer().get_incident(incident_id),
                                   f"no incident {incident_id}")

    @app.get("/v1/decisions/{decision_id}", tags=["review"], response_model=LogEntryOut,
             summary="One decision-log entry (the prompt text too when store_prompts is on)")
    async def get_decision(decision_id: int = _DECISION_ID, token: Any = Depends(caller)) -> Any:
        return await reviewer_read(token, lambda: the_enforcer().log_entry(decision_id),
                                   f"no decision {decision_id} in the decision log")

    @app.get("/v1/reviews", tags=["review"], response_model=ReviewItemsOut,
             summary="The human-review queue, oldest first")
    async def list_reviews(
        status: ReviewStatusName | None = None,
        after_id: int = Query(0, ge=0, le=MAX_ID),
        limit: int = Query(100, ge=1, le=1000),
        token: Any = Depends(caller),
    ) -> Any:
        def job() -> Any:
            need_role(token, "reviewer")
            return the_enforcer().list_reviews(status=status, after_id=after_id, limit=limit)
        return [_dump(i) for i in await in_thread(job)]

    def reviewer_of(token: str | None, review_id: int) -> tuple[str, Any]:
        """The reviewer's name as claims record it, ``"NAME (KEY ID)"`` (key names need not be
        unique), and the key; 403 when the item is about the reviewer's own requests (only an
        administrator may review those)."""
        key = need_role(token, "reviewer")
        if key is None:
            return "anonymous", None
        if not key.has_role("admin"):
            item = the_enforcer().get_review(review_id)
            if item is not None and item.key_id == key.id:
                raise _HTTPError(403, "forbidden",
                                 f"review item {review_id} is about this key's own requests; "
                                 "another reviewer or an administrator must review it")
        return f"{key.name[:180]} ({key.id})", key

    @app.post("/v1/reviews/{review_id}/claim", tags=["review"], response_model=ReviewItemOut,
              summary="Claim an item")
    async def claim_review(review_id: int = _REVIEW_ID, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            reviewer, _ = reviewer_of(token, review_id)
            return the_enforcer().claim_review(review_id, reviewer=reviewer)
        item = await in_thread(job)
        if item is None:
            raise _HTTPError(404, "not_found", f"no review item {review_id} to claim")
        return _dump(item)

    @app.post("/v1/reviews/{review_id}/release", tags=["review"], response_model=ReviewItemOut,
              summary="Give a claimed item back to the queue (its claimer, or an administrator)")
    async def release_review(review_id: int = _REVIEW_ID, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            reviewer, key = reviewer_of(token, review_id)
            return the_enforcer().release_review(
                review_id, reviewer=reviewer, force=key is not None and key.has_role("admin"))
        return _dump(await in_thread(job))

    @app.post("/v1/reviews/{review_id}/resolve", tags=["review"], response_model=ReviewItemOut,
              summary="Give a verdict")
    async def resolve_review(body: ResolveRequest, review_id: int = _REVIEW_ID,
                             token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            reviewer, _ = reviewer_of(token, review_id)
            return the_enforcer().resolve_review(review_id, verdict=body.verdict,
                                                 reviewer=reviewer, note=body.note)
        return _dump(await in_thread(job))

    @app.post("/v1/appeals", status_code=201, tags=["review"], response_model=ReviewItemOut,
              summary="Appeal a decision made on one of your requests")
    async def appeal(body: AppealRequest, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            key = admit_other(token)
            return the_enforcer().appeal(body.decision_id, key_id=None if key is None else key.id,
                                         reason=body.reason)
        return _dump(await in_thread(job))

    @app.post("/v1/keys", status_code=201, tags=["admin"], response_model=CreatedKeyOut,
              summary="Create an API key")
    async def create_key(body: KeyCreateRequest, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            need_role(token, "admin")
            return the_enforcer().create_key(body.name, roles=tuple(body.roles),
                                             rate_per_s=body.rate_per_s, burst=body.burst)
        return _dump(await in_thread(job))

    @app.delete("/v1/keys/{key_id}", tags=["admin"], response_model=RevokedOut,
                summary="Revoke an API key")
    async def revoke_key(key_id: str = _KEY_ID, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            need_role(token, "admin")
            return the_enforcer().revoke_key(key_id)
        await in_thread(job)
        return {"revoked": key_id}

    @app.post("/v1/keys/{key_id}/reinstate", tags=["admin"], response_model=AccountStatusOut,
              summary="Lift a cool-down or suspension")
    async def reinstate(key_id: str = _KEY_ID, token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            need_role(token, "admin")
            return the_enforcer().reinstate(key_id)
        return _dump(await in_thread(job))

    @app.get("/v1/log/verify", tags=["admin"], response_model=LogVerificationOut,
             summary="Verify the decision log's hash chain")
    async def verify_log(token: Any = Depends(caller)) -> Any:
        def job() -> Any:
            need_role(token, "admin")
            return the_enforcer().verify_log()
        return _dump(await in_thread(job))

    @app.get("/v1/policy", tags=["prompts"], response_model=PolicyOut,
             summary="The policy in force")
    async def policy() -> Any:
        p = the_guard().policy
        return {
            "version": p.version,
            "categories": {c.value: {"threshold": r.threshold, "action": r.action.value}
                           for c, r in p.categories.items()},
        }

    @app.get("/healthz", tags=["ops"], response_model=HealthOut, summary="Liveness")
    async def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], response_model=ReadyOut,
             summary="Readiness: guard loaded and store reachable")
    async def readyz() -> Any:
        if state["guard"] is None or state["enforcer"] is None:
            raise _HTTPError(503, "not_ready", "the guard is still loading")
        if state.get("warm_error"):
            raise _HTTPError(503, "not_ready", f"guard warm-up failed: {state['warm_error']}")
        batcher = state.get("batcher")
        if batcher is not None and not batcher.alive:
            raise _HTTPError(503, "not_ready", "the guard's micro-batching thread has stopped")
        return {"status": "ready", "stages": list(the_guard().stage_names),
                "policy_version": the_guard().policy.version}

    for path, probe in (("/healthz", healthz), ("/readyz", readyz)):  # load balancers' HEAD
        app.add_api_route(path, probe, methods=["HEAD"], include_in_schema=False)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics",
             response_class=PlainTextResponse)
    async def prometheus() -> Any:
        body, content_type = metrics.render()
        return PlainTextResponse(body, media_type=content_type)

    return app


class _HTTPError(Exception):
    def __init__(self, status: int, kind: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers


def _probe_port(host: str, port: int) -> None:
    """Raise a one-line :class:`ConfigError` when ``host:port`` cannot be listened on (in use,
    unknown host), as uvicorn would find out only after the models have loaded."""
    import socket

    if port == 0:
        return
    # the address family uvicorn uses: IPv6 when the host has a colon, else IPv4
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        addresses = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0,
                                       socket.AI_PASSIVE)[:1]
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (unknown "
                          "host); pass --host or set service.host") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc} (another service "
                    "may be using the port); pass --port or set service.port") from exc


def _utc(seconds: float) -> str:
    """Unix seconds as an ISO 8601 UTC time to the second (``2026-11-28T04:05:06Z``)."""
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _unparsed(request: Any) -> str:
    """Why a body FastAPI could not parse was refused: not UTF-8, or nested too deeply."""
    try:
        json.loads((await request.body()).decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"the request body is not UTF-8 (byte {exc.start}): send UTF-8 JSON"
    except RecursionError:
        return ("the request body's JSON is nested too deeply to parse; no field of this API "
                "nests more than a few levels")
    except ValueError:
        pass
    return "the request body could not be parsed: send UTF-8 JSON"


#: The longest ``Retry-After`` sent, in seconds.
_WEEK_S = 7 * 86400


def _retry_after(until: float | None) -> dict[str, str] | None:
    """A ``Retry-After`` header for an account that is active again at ``until``."""
    if not until:
        return None
    return {"Retry-After": str(max(1, int(until - time.time() + 0.999)))}


def decode_base64_image(text: str, field: str) -> bytes:
    """The bytes of a base64 image field (an optional ``data:image/...;base64,`` prefix is
    dropped); :class:`~fairframe.errors.InputDataError` (422) when it is not base64."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputDataError(
            f"{field}: not valid base64 ({exc}); send the encoded image file as standard base64"
        ) from exc


def _dump(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return obj


def _log_to_stderr(level: str) -> None:
    """Send the ``fairframe`` loggers to stderr like uvicorn's own lines (``INFO:     ...``),
    unless the application already configured logging (a handler on ``fairframe`` or root)."""
    pkg = logging.getLogger("fairframe")
    pkg.setLevel(level.upper())
    if pkg.handlers or logging.getLogger().handlers:
        return
    from uvicorn.logging import DefaultFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s", use_colors=None))
    pkg.addHandler(handler)


def _version() -> str:
    from fairframe._version import __version__

    return __version__


def serve(config: GuardConfig, *, host: str | None = None, port: int | None = None,
          log_level: str = "info", access_log: bool = False) -> None:
    """Run the service with uvicorn until interrupted (``fairframe guard serve``).

    Fairframe's own log lines (the store, the guard's stages and warm-up, warnings) go to
    stderr in uvicorn's format at ``log_level``; ``access_log`` adds uvicorn's line per request.
    """
    require("uvicorn", extra="service", purpose="the guard HTTP service")
    import uvicorn

    levels = ("critical", "error", "warning", "info", "debug")
    if log_level not in levels:
        raise ConfigError(f"unknown log level {log_level!r}; use one of {', '.join(levels)}")
    _log_to_stderr(log_level)
    host = host or config.service.host
    port = config.service.port if port is None else port
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range; use a port from 1 to 65535 (0: any)")
    _probe_port(host, port)  # fail fast in one line, before any model loads
    enforcer = config.open_enforcer()
    log.info("enforcement store: %s", enforcer.url)
    app = create_app(config, enforcer=enforcer)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
    finally:
        batcher = getattr(app.state, "guard_batcher", None)
        if batcher is None or not batcher.running:  # never under a batch still running
            enforcer.close()

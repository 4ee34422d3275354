"""Request and response bodies of the guard service (they generate the OpenAPI spec)."""

from __future__ import annotations

from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fairframe.guard.enforcement.audit_log import LogEntry, LogVerification
from fairframe.guard.enforcement.incidents import Incident
from fairframe.guard.enforcement.keys import MAX_RATE, MIN_RATE, ApiKey, CreatedKey
from fairframe.guard.enforcement.review import ReviewItem
from fairframe.guard.enforcement.strikes import AccountStatus
from fairframe.guard.policy import Category
from fairframe.guard.script import invisible_class

Role = Literal["client", "reviewer", "admin"]


def _json_number_or_none(cls: Any, value: Any) -> Any:
    """JSON numbers (or null) only: ``true`` and ``"12"`` are not numbers (pydantic's lax mode
    would coerce them), while ``12.0`` is an integer as JSON Schema defines it."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError("must be a JSON number")
    return value


#: Largest id accepted: 2**53 - 1, exact in every JSON parser (database ids are 64-bit).
MAX_ID = 2**53 - 1
#: Review item states (``fairframe.guard.enforcement.ReviewStatus``).
ReviewStatusName = Literal["pending", "claimed", "appealed", "resolved"]
IncidentStatusName = Literal["open", "investigating", "confirmed", "dismissed"]
_ONE_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
#: Free text: anything but NUL (which PostgreSQL text cannot hold); ``SOME_TEXT``: and not blank.
TEXT = r"^[^\x00]*$"
SOME_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"
#: A prompt: at least one visible character (not white space, control or format characters).
VISIBLE = f"[^{invisible_class()}]"

_M = TypeVar("_M", bound=BaseModel)

__all__ = [
    "B64_PATTERN",
    "ERROR_RESPONSES",
    "MAX_ID",
    "AppealRequest",
    "ErrorBody",
    "CheckRequest",
    "CheckResponse",
    "FindingOut",
    "GenerateRequest",
    "GenerateResponse",
    "ImageCheckRequest",
    "TransformCheckRequest",
    "IncidentRequest",
    "KeyCreateRequest",
    "ResolveRequest",
    "IncidentStatusName",
    "ReviewStatusName",
    "AccountStatusOut",
    "CreatedKeyOut",
    "IncidentsOut",
    "HealthOut",
    "IncidentOut",
    "KeyOut",
    "LogEntryOut",
    "LogVerificationOut",
    "PolicyOut",
    "ReadyOut",
    "ReviewItemOut",
    "ReviewItemsOut",
    "RevokedOut",
    "check_request_model",
    "generate_request_model",
    "with_prompt_limits",
]


class CheckRequest(BaseModel):
    """A prompt to check (and rewrite)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="The text-to-image prompt, as the user wrote it.",
                        examples=["a watercolor of a lighthouse at dawn"])
    negative_prompt: str | None = Field(
        None, description="The user's negative prompt (not scanned; forced negatives join it)."
    )


class FindingOut(BaseModel):
    """One piece of evidence."""

    stage: str
    category: str
    score: float
    evidence: dict[str, Any] = Field(
        description="{span: [start, end] in prompt_in or null, text, label}"
    )


class CheckResponse(BaseModel):
    """A guard decision (the DESIGN format, ``Decision.to_dict()``) plus the id of its
    decision-log entry. The service builds this JSON directly (no second validation on the hot
    path); the schema tests check every answer against it."""

    decision_id: int = Field(description="Id of the decision-log entry (use it to appeal).")
    action: Literal["allow", "flag", "rewrite", "regenerate", "block"]
    categories: dict[str, float]
    findings: list[FindingOut]
    prompt_in: str | None
    prompt_out: str | None = Field(description="The prompt to generate with, when rewritten.")
    negative_prompt_out: str | None
    rewrites: list[dict[str, Any]]
    latency_ms: dict[str, float]
    policy_version: str
    errors: list[str] = Field(description="Optional stages that failed and were skipped.")
    attempts: list[dict[str, Any]] = Field(
        default_factory=list, description="Generation attempts (image path with regeneration)."
    )
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="Watermarks and C2PA credentials found or embedded."
    )
    language: str | None = Field(
        default=None, description="The prompt's language code as the lexicon identified it.")
    unread: list[str] = Field(
        default_factory=list,
        description="Stages that do not read that language; their evidence was capped.")


_B64 = r"^(data:image/[a-z0-9.+-]+;base64,)?[A-Za-z0-9+/]+={0,2}$"
#: The pattern image fields are checked against (the service names it in its 422 message).
B64_PATTERN = _B64


class ImageCheckRequest(BaseModel):
    """An image to check, base64-encoded (a ``data:image/...;base64,`` prefix is accepted)."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=4, pattern=_B64,
                       description="The encoded image (PNG, JPEG, WebP, ...) in base64.")
    prompt: str | None = Field(None, max_length=10_000,
                               description="The prompt the image was made from, when known.")
    provenance: bool = Field(True, description="Also check watermarks and C2PA credentials.")


class TransformCheckRequest(BaseModel):
    """An img2img/inpainting edit: the input image, the output image and the edit prompt."""

    model_config = ConfigDict(extra="forbid")

    input_image: str = Field(min_length=4, pattern=_B64, description="The image before, base64.")
    output_image: str = Field(min_length=4, pattern=_B64, description="The image after, base64.")
    prompt: str = Field(max_length=10_000, description="The edit prompt.")
    provenance: bool = Field(True, description="Also check the input's watermarks and C2PA.")


class GenerateRequest(BaseModel):
    """A guarded generation request (text to image)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=10_000, pattern=VISIBLE,
                        description="The text-to-image prompt.")
    negative_prompt: str | None = Field(None, max_length=10_000)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Default: random.")
    width: int | None = Field(None, ge=64, le=2048, multiple_of=8)
    height: int | None = Field(None, ge=64, le=2048, multiple_of=8)
    num_inference_steps: int | None = Field(None, ge=1, le=150)
    guidance_scale: float | None = Field(None, ge=0.0, le=50.0, allow_inf_nan=False)

    _numbers = field_validator("seed", "width", "height", "num_inference_steps",
                               "guidance_scale", mode="before")(_json_number_or_none)


class GenerateResponse(BaseModel):
    """The outcome of a guarded generation: the merged decision and the image, if served."""

    decision_id: int = Field(description="Id of the decision-log entry.")
    request_id: str = Field(description="Random id; the watermark payload derives from it.")
    image: str | None = Field(description="The served PNG in base64, or null when refused.")
    mime_type: str
    image_sha256: str | None = Field(description="SHA-256 of the served image bytes.")
    decision: CheckResponse



class IncidentRequest(BaseModel):
    """A user's report about a served image: name it by ``decision_id`` or ``image_sha256``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [
            {"required": ["decision_id"], "properties": {"decision_id": {"type": "integer"}}},
            {"required": ["image_sha256"], "properties": {"image_sha256": {"type": "string"}}},
        ]},
    )

    decision_id: int | None = Field(None, ge=1, le=MAX_ID,
                                    description="The decision that served the image.")
    image_sha256: str | None = Field(None, pattern="^[0-9a-f]{64}$",
                                     description="SHA-256 of the image bytes.")
    category: Category = Field(description="The policy category the reporter thinks it violates.")

    _numbers = field_validator("decision_id", mode="before")(_json_number_or_none)
    description: str = Field(min_length=1, max_length=4000, pattern=SOME_TEXT,
                             description="What is wrong with the image.")


class ResolveRequest(BaseModel):
    """A reviewer's verdict."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["upheld", "overturned"]
    note: str = Field("", max_length=4000, pattern=TEXT)


class AppealRequest(BaseModel):
    """A user's appeal against a decision."""

    model_config = ConfigDict(extra="forbid")

    decision_id: int = Field(ge=1, le=MAX_ID)
    reason: str = Field("", max_length=4000, pattern=TEXT)

    _numbers = field_validator("decision_id", mode="before")(_json_number_or_none)


class KeyCreateRequest(BaseModel):
    """A new API key."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=_ONE_LINE,
                      description="Who the key is for (one line).")
    roles: list[Role] = Field(default_factory=lambda: list[Role](["client"]), min_length=1)
    rate_per_s: float | None = Field(None, ge=MIN_RATE, le=MAX_RATE, allow_inf_nan=False,
                                     description="Token refill rate (tokens/s, at least one "
                                                 "a day); default setting.")
    burst: int | None = Field(None, ge=1, le=10**9,
                              description="Bucket capacity; default setting.")

    _numbers = field_validator("rate_per_s", "burst", mode="before")(_json_number_or_none)


# --------------------------------------------------------------------------- responses
# The shapes the enforcement objects' to_dict() give, so that the spec types every answer
# (generated clients get typed results; the fuzz test checks each answer against them).

_OUT = ConfigDict(extra="forbid")


def _mirror(dc: type, doc: str, **fields: Any) -> type[BaseModel]:
    """The response model of a dataclass's ``to_dict()``: its fields with their types (enums
    become their values' strings), ``fields`` overriding or adding some; extra keys forbidden.
    One place to change when the dataclass changes, and the fuzz test checks every answer."""
    import dataclasses
    import typing

    from pydantic import create_model

    hints = typing.get_type_hints(dc)
    spec: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(dc)}
    spec.update({k: (v, ...) for k, v in fields.items()})
    model: type[BaseModel] = create_model(
        f"{dc.__name__}Out", __config__=_OUT, __doc__=doc, **spec)
    return model


IncidentOut = _mirror(Incident, "An incident report.")
ReviewItemOut = _mirror(ReviewItem, "An item of the human-review queue; `claimed_by` and "
                        "`reviewer` are 'NAME (KEY ID)'.")
KeyOut = _mirror(ApiKey, "An API key, never its secret.", roles=list[Role], active=bool)
#: Lists of them (typed ``Any``: FastAPI reads them at run time; they are no static types).
IncidentsOut: Any = list[IncidentOut]  # type: ignore[valid-type]
ReviewItemsOut: Any = list[ReviewItemOut]  # type: ignore[valid-type]


CreatedKeyOut = _mirror(CreatedKey, "A new key and its token (shown this once; only its hash "
                        "is stored).", key=KeyOut)


class RevokedOut(BaseModel):
    """The id of the key revoked."""

    model_config = _OUT

    revoked: str


AccountStatusOut = _mirror(AccountStatus, "A key's account state after a reinstatement.")
LogEntryOut = _mirror(LogEntry, "One decision-log entry (`prompt` only with store_prompts).")
LogVerificationOut = _mirror(LogVerification, "What verifying the hash chain found.")


class PolicyRuleOut(BaseModel):
    """One category's rule."""

    model_config = _OUT

    threshold: float
    action: str


class PolicyOut(BaseModel):
    """The policy in force."""

    model_config = _OUT

    version: str
    categories: dict[str, PolicyRuleOut]


class HealthOut(BaseModel):
    """Liveness."""

    model_config = _OUT

    status: Literal["ok"]


class ReadyOut(BaseModel):
    """Readiness."""

    model_config = _OUT

    status: Literal["ready"]
    stages: list[str]
    policy_version: str


class ErrorDetail(BaseModel):
    """What went wrong, in one line."""

    type: str = Field(description="Machine-readable kind, e.g. rate_limited, invalid_request.")
    message: str = Field(description="One line naming the problem and the fix.")


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"type", "message"}}``."""

    error: ErrorDetail


_ERR: dict[str, Any] = {"model": ErrorBody}

#: The error statuses every endpoint may answer (documented in the OpenAPI spec).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_ERR, "description": "Malformed JSON or invalid UTF-8"},
    401: {**_ERR, "description": "Missing or unknown API key"},
    403: {**_ERR, "description": "Role missing, or the account is cooling down or suspended"},
    404: {**_ERR, "description": "Unknown id"},
    409: {**_ERR, "description": "A state change the current state does not allow"},
    413: {**_ERR, "description": "Request body too large"},
    415: {**_ERR, "description": "The body is not sent as Content-Type: application/json"},
    422: {**_ERR, "description": "Invalid request: the message names the field"},
    429: {**_ERR, "description": "Rate limit exceeded; see Retry-After"},
    500: {**_ERR, "description": "Unexpected error (logged with a request id)"},
    503: {**_ERR, "description": "A required classifier failed (fail closed), the service is "
          "not ready, or the endpoint is not configured (no generator)"},
}


def check_request_model(max_prompt_chars: int) -> type[CheckRequest]:
    """:class:`CheckRequest` with the prompt limits of this service in its schema (so the OpenAPI
    spec says exactly which prompts are accepted: 1 to ``max_prompt_chars`` characters, at least
    one of them visible: :func:`~fairframe.guard.script.is_visible`; a negative prompt of at most
    ``max_prompt_chars``)."""
    return with_prompt_limits(CheckRequest, max_prompt_chars)


def generate_request_model(max_prompt_chars: int) -> type[GenerateRequest]:
    """:class:`GenerateRequest` with this service's prompt limits (see
    :func:`check_request_model`)."""
    return with_prompt_limits(GenerateRequest, max_prompt_chars)


def with_prompt_limits(base: type[_M], max_prompt_chars: int) -> type[_M]:
    """``base`` (a request with ``prompt`` and ``negative_prompt``) with the guard's limits."""
    from pydantic import create_model

    model = create_model(
        base.__name__,
        __base__=base,
        prompt=(str, Field(min_length=1, max_length=max_prompt_chars, pattern=VISIBLE,
                           description="The text-to-image prompt, as the user wrote it.",
                           examples=["a watercolor of a lighthouse at dawn"])),
        negative_prompt=(str | None, Field(
            None, max_length=max_prompt_chars,
            description="The user's negative prompt (not scanned; forced negatives join it).")),
    )
    return cast("type[_M]", model)

"""Settings of the enforcement layer: rate-limit defaults, strikes and escalation, review, storage.

All thresholds live in one frozen pydantic model, :class:`EnforcementSettings`, with documented
defaults; the service passes its ``[service.enforcement]`` table to
:meth:`EnforcementSettings.model_validate`. The formulas the numbers feed:

Token bucket (per API key)
    ``tokens(t) = min(burst, tokens(t0) + rate_per_s * (t - t0))``; a request of cost ``c`` is
    allowed when ``tokens(t) >= c`` and then takes ``c`` tokens. A denied request may retry after
    ``(c - tokens(t)) / rate_per_s`` seconds.

Strike decay
    ``effective(t) = sum_i w_i * 0.5 ** ((t - t_i) / half_life_s)`` over the key's strikes that
    were not removed (an overturned block removes its strike). A strike's weight is
    ``action_weights[action] * max(category_weights.get(c, 1.0) for c in its categories)``.

Escalation (checked when a strike is recorded)
    ``effective >= suspend_at`` suspends the key until an admin reinstates it. Otherwise
    ``effective >= cooldown_at`` (and no cool-down running) starts a cool-down of
    ``min(cooldown_base_s * cooldown_factor ** n, cooldown_max_s)`` seconds, where ``n`` counts
    the key's cool-downs that started in the last ``cooldown_window_s`` seconds (and after its last
    reinstatement); when ``n >= max_cooldowns`` the key is suspended instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fairframe.guard.decision import Action
from fairframe.guard.policy import Category

__all__ = ["EnforcementSettings", "StrikeSettings"]

_DAY = 86_400.0


class StrikeSettings(BaseModel):
    """How blocks turn into strikes, how strikes decay, and when a key cools down or is suspended.

    The defaults: a block weighs 1 strike (5 when the cause is ``sexual_minors``), strikes halve
    every 7 days, 3 effective strikes start a cool-down of 15 minutes that doubles with each
    cool-down in the last 30 days (capped at one day), and 10 effective strikes, or a 7th
    cool-down inside 30 days, suspend the key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    half_life_s: float = Field(
        7 * _DAY, gt=0, description="A strike's weight halves every this many seconds."
    )
    action_weights: dict[str, float] = Field(
        default_factory=lambda: {"block": 1.0},
        description=(
            "Strike weight per decision action; actions not listed (default: all but block) "
            "record no strike."
        ),
    )
    category_weights: dict[str, float] = Field(
        default_factory=lambda: {"sexual_minors": 5.0},
        description=(
            "Multiplier per category of the decision's cause (the highest applies); "
            "categories not listed count 1."
        ),
    )
    cooldown_at: float = Field(
        3.0, gt=0, description="Effective strikes at which a cool-down starts."
    )
    suspend_at: float = Field(
        10.0, gt=0, description="Effective strikes at which the key is suspended."
    )
    cooldown_base_s: float = Field(900.0, gt=0, description="Length of the first cool-down.")
    cooldown_factor: float = Field(
        2.0, ge=1.0, description="Each earlier cool-down in the window multiplies the length."
    )
    cooldown_max_s: float = Field(_DAY, gt=0, description="Longest cool-down.")
    cooldown_window_s: float = Field(
        30 * _DAY, gt=0, description="Cool-downs older than this no longer escalate."
    )
    max_cooldowns: int = Field(
        6,
        ge=0,
        description="A key with this many cool-downs in the window is suspended at the next one.",
    )

    @field_validator("action_weights")
    @classmethod
    def _actions(cls, v: dict[str, float]) -> dict[str, float]:
        allowed = {a.value for a in Action}
        for name, weight in v.items():
            if name not in allowed:
                raise ValueError(
                    f"unknown action {name!r}; allowed: {', '.join(a.value for a in Action)}"
                )
            if not weight >= 0:
                raise ValueError(f"weight of {name!r} must be >= 0, got {weight}")
        return dict(v)

    @field_validator("category_weights")
    @classmethod
    def _categories(cls, v: dict[str, float]) -> dict[str, float]:
        allowed = {c.value for c in Category}
        for name, weight in v.items():
            if name not in allowed:
                raise ValueError(
                    f"unknown category {name!r}; allowed: {', '.join(c.value for c in Category)}"
                )
            if not weight > 0:
                raise ValueError(f"weight of {name!r} must be > 0, got {weight}")
        return dict(v)

    @model_validator(mode="after")
    def _order(self) -> StrikeSettings:
        if self.suspend_at < self.cooldown_at:
            raise ValueError(
                f"suspend_at ({self.suspend_at}) must be >= cooldown_at ({self.cooldown_at})"
            )
        if self.cooldown_max_s < self.cooldown_base_s:
            raise ValueError(
                f"cooldown_max_s ({self.cooldown_max_s}) must be >= cooldown_base_s "
                f"({self.cooldown_base_s})"
            )
        return self


class EnforcementSettings(BaseModel):
    """Everything the :class:`~fairframe.guard.enforcement.Enforcer` can be tuned with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_rate_per_s: float = Field(
        1.0, ge=1 / 86400, le=1e6,  # keys.MIN_RATE, keys.MAX_RATE
        description="Token refill rate of a new key when none is given (tokens/s, at least one "
                    "a day).",
    )
    default_burst: int = Field(
        20, ge=1, description="Bucket capacity of a new key when none is given (tokens)."
    )
    store_prompts: bool = Field(
        False,
        description=(
            "Keep the prompt text in the decision log. Off: only its SHA-256 is kept."
        ),
    )
    review_actions: frozenset[Action] = Field(
        frozenset({Action.FLAG, Action.BLOCK}),
        description="Decisions with these actions are queued for human review.",
    )
    strikes: StrikeSettings = Field(default_factory=StrikeSettings)
    busy_timeout_s: float = Field(
        30.0, gt=0, description="SQLite: how long a writer waits for the database lock."
    )
    connect_timeout_s: int = Field(
        10, ge=1, description="PostgreSQL: seconds to wait for a connection."
    )
    pool_size: int = Field(5, ge=1, le=100, description="Database connections kept per process.")

"""The guard policy: one file that drives the prompt checks and the image checks alike.

A policy gives every :class:`Category` a ``threshold`` and an ``action``. A check that scores a
category at or above its threshold triggers that action; the most severe triggered action wins
(:func:`~fairframe.guard.decision.decide_action`). A policy file (TOML or YAML) looks like::

    version = "acme/2025-06"

    [categories.nudity]
    threshold = 0.6
    action = "flag"

Categories the file leaves out keep the values of the built-in default policy
(``default_policy.toml``, shipped with the package; :func:`default_policy` loads it).

Sexual content involving minors (``sexual_minors``) is **always blocked and not configurable**:
its action must stay ``"block"`` and its threshold may only be lowered (made stricter) from
:data:`MINORS_MAX_THRESHOLD`. A policy that tries otherwise is a
:class:`~fairframe.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fairframe.config import read_config_file
from fairframe.errors import ConfigError
from fairframe.guard.decision import Action

__all__ = [
    "CATEGORY_DESCRIPTIONS",
    "CONTENT_CATEGORIES",
    "MINORS_MAX_THRESHOLD",
    "Category",
    "CategoryRule",
    "Policy",
    "default_policy",
    "load_policy",
    "parse_policy",
]


class Category(StrEnum):
    """The policy categories; the value is the id used in files, scores and JSON."""

    SEXUAL = "sexual"
    NUDITY = "nudity"
    SEXUAL_MINORS = "sexual_minors"
    VIOLENCE = "violence"
    SELF_HARM = "self_harm"
    HATE = "hate"
    ILLEGAL = "illegal"
    PUBLIC_FIGURES = "public_figures"
    COPYRIGHT = "copyright"
    PRIVACY = "privacy"
    DECEPTION = "deception"
    SHOCKING = "shocking"
    ADVERSARIAL = "adversarial"
    APPEARANCE_CHANGE = "appearance_change"

    @property
    def description(self) -> str:
        """One line saying what the category covers."""
        return CATEGORY_DESCRIPTIONS[self]


#: What each category covers.
CATEGORY_DESCRIPTIONS: Mapping[Category, str] = {
    Category.SEXUAL: "Sexually explicit acts, pornography, fetish and sexualized depictions.",
    Category.NUDITY: "Nudity and exposed intimate body parts without an explicit sexual act.",
    Category.SEXUAL_MINORS: (
        "Any sexual or nude depiction involving minors. Always blocked; not configurable."
    ),
    Category.VIOLENCE: "Violence, gore, mutilation, corpses, torture and attacks on people.",
    Category.SELF_HARM: "Suicide, self-injury, eating disorders shown as goals or methods.",
    Category.HATE: "Hate symbols, slurs, dehumanization and harassment of protected groups.",
    Category.ILLEGAL: "Illegal activity: drugs, weapons making, explosives, theft, trafficking.",
    Category.PUBLIC_FIGURES: "Real public figures (politicians, celebrities, royalty).",
    Category.COPYRIGHT: "Copyrighted characters, trademarks and the styles of living artists.",
    Category.PRIVACY: "Personal data, identity documents, covert and non-consensual imagery.",
    Category.DECEPTION: "Deceptive media: fake news photos, forgeries, election disinformation.",
    Category.SHOCKING: (
        "Shocking or disgusting content without an attack: bodily fluids and excrement, "
        "decay, festering wounds, extreme suffering, degradation and humiliation."
    ),
    Category.ADVERSARIAL: (
        "Adversarial prompts: token soup and optimisation-attack strings (Ring-A-Bell, "
        "MMA-Diffusion, SneakyPrompt style) written to slip past filters."
    ),
    Category.APPEARANCE_CHANGE: (
        "Image edits (img2img, inpainting) that change a person's skin tone, body or exposure "
        "without the prompt asking for it. Scored by the transformation check only."
    ),
}

#: The categories a prompt's *content* can show, which the lexicon and the embedding classifier
#: judge: every category but ``adversarial`` (the form of the prompt; the gibberish detector's) and
#: ``appearance_change`` (a difference between two images; the transformation check's).
CONTENT_CATEGORIES: tuple[str, ...] = tuple(
    c.value for c in Category if c not in (Category.ADVERSARIAL, Category.APPEARANCE_CHANGE)
)

#: The highest threshold a policy may give ``sexual_minors`` (it may only go lower).
MINORS_MAX_THRESHOLD = 0.4

_MINORS_KEY = f"categories.{Category.SEXUAL_MINORS.value}"


class CategoryRule(BaseModel):
    """Threshold and action of one category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(
        ge=0.0, le=1.0, description="The category triggers when its score is >= this value."
    )
    action: Action = Field(description="What a triggered category does.")

    @field_validator("threshold", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if isinstance(v, bool):  # pydantic would read true as 1.0
            raise ValueError("threshold must be a number from 0 to 1, not true/false")
        return v


class Policy(BaseModel):
    """A complete guard policy: a rule for every category, plus a version string.

    Build one with :func:`load_policy`, :func:`parse_policy` or :func:`default_policy`; those fill
    categories a file leaves out from the default policy. Constructing :class:`Policy` directly
    needs every category.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(description="Recorded in every decision; change it when a rule changes.")
    description: str = Field("", description="Free text: who owns this policy and why.")
    categories: dict[Category, CategoryRule]

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("version must not be empty")
        return v

    @model_validator(mode="after")
    def _complete_and_minors(self) -> Policy:
        missing = [c.value for c in Category if c not in self.categories]
        if missing:
            raise ValueError(f"categories missing: {', '.join(missing)}")
        _check_minors(self.categories[Category.SEXUAL_MINORS])
        return self

    def rule(self, category: str) -> CategoryRule:
        """The rule of ``category`` (a :class:`Category` or its id).

        Raises
        ------
        ConfigError
            When the id is not a known category.
        """
        try:
            return self.categories[Category(category)]
        except ValueError as exc:
            allowed = ", ".join(c.value for c in Category)
            raise ConfigError(f"unknown guard category {category!r}; allowed: {allowed}") from exc

    @property
    def thresholds(self) -> dict[str, float]:
        """Threshold per category id."""
        return {c.value: r.threshold for c, r in self.categories.items()}


def _check_minors(rule: CategoryRule) -> None:
    if rule.action is not Action.BLOCK:
        raise _MinorsError(
            f"{_MINORS_KEY}.action: sexual content involving minors is always blocked and not "
            f"configurable; it must be 'block' (got {rule.action.value!r})"
        )
    if rule.threshold > MINORS_MAX_THRESHOLD:
        raise _MinorsError(
            f"{_MINORS_KEY}.threshold: sexual content involving minors is always blocked; the "
            f"threshold may only be lowered from {MINORS_MAX_THRESHOLD} (got {rule.threshold})"
        )


class _MinorsError(ValueError):
    """Raised inside validation so the loader can report it as a ConfigError verbatim."""


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p != "[key]"]
        key = ".".join(loc) or "(top level)"
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _MinorsError):
            lines.append(str(ctx_error))
            continue
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            msg = f"unknown key; allowed: {allowed}"
        elif err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "enum":
            msg = f"{err['msg']} (got {err.get('input')!r})"
        else:
            msg = f"{err['msg']} (got {err.get('input')!r})"
        lines.append(f"{key}: {msg}")
    return f"{source}: " + "; ".join(lines)


def _allowed_keys(loc: list[str]) -> str:
    if len(loc) <= 1:
        return ", ".join(sorted(Policy.model_fields))
    if loc[0] == "categories" and len(loc) == 2:
        return ", ".join(c.value for c in Category)
    return ", ".join(sorted(CategoryRule.model_fields))


def parse_policy(
    data: Mapping[str, Any], *, source: str = "<policy>", base: Policy | None = None
) -> Policy:
    """Validate a mapping into a :class:`Policy`.

    Categories missing from ``data`` keep their rule from ``base`` (default: the built-in default
    policy); a category given with only some keys keeps the other keys from ``base`` too.

    Raises
    ------
    ConfigError
        Naming the source, the key and the allowed values.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a policy must be a table/mapping at the top level")
    merged: dict[str, Any] = dict(data)
    cats = merged.get("categories", {})
    if not isinstance(cats, Mapping):
        raise ConfigError(f"{source}: categories: must be a table of category -> rule")
    base = base if base is not None else (None if source == _DEFAULT_SOURCE else default_policy())
    if base is not None:
        full: dict[str, Any] = {
            c.value: {"threshold": r.threshold, "action": r.action.value}
            for c, r in base.categories.items()
        }
        for name, rule in cats.items():
            if isinstance(rule, Mapping) and str(name) in full:
                full[str(name)] = {**full[str(name)], **rule}
            else:
                full[str(name)] = rule
        merged["categories"] = full
    try:
        return Policy.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from exc


def _read(path: Path) -> Any:
    return read_config_file(path, "policy")


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (``.toml``, ``.yaml`` or ``.yml``).

    Raises
    ------
    ConfigError
        When the file is missing, unreadable, not a mapping, or a key is invalid; the message
        names the file, the key and the allowed values.
    """
    path = Path(path)
    data = _read(path)
    if data is None or data == {}:
        raise ConfigError(f"policy file {path} is empty; it needs at least a version key")
    if not isinstance(data, Mapping):
        raise ConfigError(f"policy file {path} must hold a table/mapping at the top level "
                          f"(version, categories), not a {type(data).__name__}")
    return parse_policy(data, source=str(path))


_DEFAULT_SOURCE = "fairframe/guard/default_policy.toml"


@functools.cache
def default_policy() -> Policy:
    """The built-in default policy (``default_policy.toml``, documented inline)."""
    text = resources.files("fairframe.guard").joinpath("default_policy.toml").read_text("utf-8")
    return parse_policy(tomllib.loads(text), source=_DEFAULT_SOURCE)

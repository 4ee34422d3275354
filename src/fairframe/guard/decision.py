"""What a guard check decides: the action, a score per category, the evidence and the latency.

The same types serve the prompt path and the image path. A :class:`Decision` serializes to the
DESIGN data format::

    {
      "action": "block",
      "categories": {"sexual": 0.91, "violence": 0.0},
      "findings": [
        {"stage": "lexicon", "category": "sexual", "score": 0.9,
         "evidence": {"span": [10, 19], "text": "n.a.k.e.d", "label": "naked"}}
      ],
      "prompt_in": "a photo, n.a.k.e.d",
      "prompt_out": null,
      "latency_ms": {"normalize": 0.08, "lexicon": 0.05},
      "policy_version": "fairframe-default/2"
    }

``span`` is a half-open ``[start, end)`` range of character indices in the **original** prompt
(``prompt_in``), or ``null`` for evidence found in an image.

Actions are ordered ``allow < flag < rewrite < regenerate < block``; :func:`decide_action` turns
category scores and a policy into the most severe triggered action.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fairframe.errors import InputDataError

if TYPE_CHECKING:
    from fairframe.guard.policy import Policy

__all__ = [
    "Action",
    "Decision",
    "Evidence",
    "Finding",
    "decide_action",
    "most_severe",
    "triggered_actions",
]


@functools.total_ordering
class Action(Enum):
    """What to do with a request, from least to most severe.

    ``allow``
        Serve it unchanged.
    ``flag``
        Serve it, and record it for review.
    ``rewrite``
        Prompt path: rewrite the prompt (drop or replace the offending spans, add a negative prompt)
        before generating. On the image path it is treated like ``regenerate``.
    ``regenerate``
        Generate with safety steering (negative prompt, safe-latent guidance) and, after an image
        check hits, generate again within the retry budget.
    ``block``
        Refuse.
    """

    ALLOW = "allow"
    FLAG = "flag"
    REWRITE = "rewrite"
    REGENERATE = "regenerate"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        """0 for ``allow`` up to 4 for ``block``."""
        return _SEVERITY[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity < other.severity

    def __str__(self) -> str:
        return self.value


_SEVERITY = {action: i for i, action in enumerate(Action)}


@dataclass(frozen=True)
class Evidence:
    """Where a finding came from.

    Attributes
    ----------
    span:
        Half-open ``(start, end)`` character range in the original prompt, or ``None`` when the
        evidence is not a piece of the prompt (an image region, a whole-image score).
    text:
        The original text of the span (for images: a short description, e.g. a detector class).
    label:
        What matched, e.g. the lexicon term ``"naked"`` or a classifier's class name.
    box:
        For evidence found in an image: the region ``(x, y, width, height)`` in pixels of the
        checked image, or ``None`` for whole-image evidence and for prompt evidence.
    """

    span: tuple[int, int] | None
    text: str
    label: str
    box: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.span is not None:
            start, end = self.span
            if not 0 <= start <= end:
                raise ValueError(f"evidence span must satisfy 0 <= start <= end, got {self.span}")
            object.__setattr__(self, "span", (int(start), int(end)))
        if self.box is not None:
            if len(self.box) != 4 or any(int(v) < 0 for v in self.box):
                raise ValueError(f"evidence box must be (x, y, width, height) >= 0, got {self.box}")
            x, y, w, h = (int(v) for v in self.box)
            object.__setattr__(self, "box", (x, y, w, h))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{span: [start, end] | null, text, label}``, plus ``box`` when set."""
        out: dict[str, Any] = {
            "span": None if self.span is None else [self.span[0], self.span[1]],
            "text": self.text,
            "label": self.label,
        }
        if self.box is not None:
            out["box"] = list(self.box)
        return out


@dataclass(frozen=True)
class Finding:
    """One piece of evidence for one category from one stage.

    Attributes
    ----------
    stage:
        The stage that found it (``"lexicon"``, ``"embedding"``, ``"image"``, ...).
    category:
        The policy category id, e.g. ``"sexual"`` (see :class:`~fairframe.guard.policy.Category`).
    score:
        The stage's score for this evidence, in ``[0, 1]``. 0.0 marks a match that counts for
        nothing, reported so that the decision says why: the lexicon's topic terms inside a
        protective frame (label ``"harassment (framed: prevent*)"``, :mod:`.frames`).
    evidence:
        Where it was found.
    """

    stage: str
    category: str
    score: float
    evidence: Evidence

    def __post_init__(self) -> None:
        _check_score(self.score, f"finding {self.category!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{stage, category, score, evidence}``."""
        return {
            "stage": self.stage,
            "category": self.category,
            "score": self.score,
            "evidence": self.evidence.to_dict(),
        }


@dataclass(frozen=True)
class Decision:
    """The outcome of one guard check.

    Attributes
    ----------
    action:
        The most severe action any category triggered (:func:`decide_action`).
    categories:
        Score in ``[0, 1]`` per category id; categories no stage scored may be absent.
    findings:
        The evidence behind the scores.
    prompt_in:
        The prompt as received, or ``None`` for an image-only check.
    prompt_out:
        The prompt sent to the generator when it differs (after a rewrite), else ``None``.
    latency_ms:
        Wall time per stage in milliseconds.
    policy_version:
        ``Policy.version`` of the policy that decided.
    negative_prompt_out:
        The negative prompt to send with ``prompt_out`` (the user's negative prompt plus forced
        negatives), or ``None`` when nothing was added.
    rewrites:
        What each rewriter changed: ``{rewriter, reason, span, before, after}`` dicts.
    errors:
        One line per optional stage that failed and was skipped (a required stage that fails
        makes the check fail closed instead).
    attempts:
        Image path with regeneration: one record per generation attempt, in order
        (``{attempt, strategy, seed, prompt, negative_prompt, safety, action, categories}``);
        empty when nothing was generated.
    provenance:
        Image path: what the provenance checks found (watermarks, C2PA credentials) or embedded,
        as a JSON-able dict; empty when provenance was not checked.
    language:
        The prompt's language code as the lexicon identified it
        (:mod:`~fairframe.guard.language`), or ``None`` when no stage said.
    unread:
        The stages that do not read that language; the fusion capped their evidence
        (``language_cap``).
    """

    action: Action
    categories: Mapping[str, float] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    prompt_in: str | None = None
    prompt_out: str | None = None
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    policy_version: str = ""
    negative_prompt_out: str | None = None
    rewrites: tuple[Mapping[str, Any], ...] = ()
    errors: tuple[str, ...] = ()
    attempts: tuple[Mapping[str, Any], ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None
    unread: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            raise TypeError(f"action must be an Action, got {self.action!r}")
        for name, score in self.categories.items():
            _check_score(score, f"category {name!r}")
        for stage, ms in self.latency_ms.items():
            if not (isinstance(ms, int | float) and math.isfinite(ms) and ms >= 0):
                raise ValueError(f"latency of stage {stage!r} must be a finite ms >= 0, got {ms!r}")
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))
        object.__setattr__(self, "latency_ms", MappingProxyType(dict(self.latency_ms)))
        object.__setattr__(self, "findings", tuple(self.findings))
        rewrites = tuple(MappingProxyType(dict(r)) for r in self.rewrites)
        object.__setattr__(self, "rewrites", rewrites)
        object.__setattr__(self, "errors", tuple(str(e) for e in self.errors))
        attempts = tuple(MappingProxyType(dict(a)) for a in self.attempts)
        object.__setattr__(self, "attempts", attempts)
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))
        object.__setattr__(self, "unread", tuple(str(u) for u in self.unread))

    @property
    def blocked(self) -> bool:
        """``True`` when the action is ``block``."""
        return self.action is Action.BLOCK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the DESIGN data format (see the module docstring)."""
        return {
            "action": self.action.value,
            "categories": dict(self.categories),
            "findings": [f.to_dict() for f in self.findings],
            "prompt_in": self.prompt_in,
            "prompt_out": self.prompt_out,
            "latency_ms": dict(self.latency_ms),
            "policy_version": self.policy_version,
            "negative_prompt_out": self.negative_prompt_out,
            "rewrites": [dict(r) for r in self.rewrites],
            "errors": list(self.errors),
            "attempts": [dict(a) for a in self.attempts],
            "provenance": dict(self.provenance),
            "language": self.language,
            "unread": list(self.unread),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """The decision as JSON text (keys in the DESIGN order, non-ASCII kept)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Rebuild a decision from :meth:`to_dict` output.

        Raises
        ------
        InputDataError
            When a key is missing or has the wrong type; the message names the key.
        """
        where = "decision"
        try:
            action = Action(data["action"])
            findings = tuple(_finding_from_dict(f) for f in data.get("findings", []))
            return cls(
                action=action,
                categories={str(k): float(v) for k, v in data.get("categories", {}).items()},
                findings=findings,
                prompt_in=_opt_str(data.get("prompt_in")),
                prompt_out=_opt_str(data.get("prompt_out")),
                latency_ms={str(k): float(v) for k, v in data.get("latency_ms", {}).items()},
                policy_version=str(data.get("policy_version", "")),
                negative_prompt_out=_opt_str(data.get("negative_prompt_out")),
                rewrites=tuple(dict(r) for r in data.get("rewrites", [])),
                errors=tuple(str(e) for e in data.get("errors", [])),
                attempts=tuple(dict(a) for a in data.get("attempts", [])),
                provenance=dict(data.get("provenance", {})),
                language=_opt_str(data.get("language")),
                unread=tuple(str(u) for u in data.get("unread", [])),
            )
        except KeyError as exc:
            raise InputDataError(f"{where}: key {exc.args[0]!r} is required") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            allowed = ", ".join(a.value for a in Action)
            raise InputDataError(
                f"{where}: invalid value ({exc}); action must be one of: {allowed}"
            ) from exc

    @classmethod
    def from_json(cls, text: str) -> Decision:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputDataError(f"decision JSON is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InputDataError("decision JSON must be an object at the top level")
        return cls.from_dict(data)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string or null, got {value!r}")
    return value


def _finding_from_dict(data: Mapping[str, Any]) -> Finding:
    ev = data["evidence"]
    span = ev.get("span")
    if span is not None:
        if len(span) != 2:
            raise ValueError(f"evidence span must be [start, end], got {span!r}")
        span = (int(span[0]), int(span[1]))
    box = ev.get("box")
    if box is not None:
        if len(box) != 4:
            raise ValueError(f"evidence box must be [x, y, width, height], got {box!r}")
        box = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
    return Finding(
        stage=str(data["stage"]),
        category=str(data["category"]),
        score=float(data["score"]),
        evidence=Evidence(
            span=span, text=str(ev.get("text", "")), label=str(ev.get("label", "")), box=box
        ),
    )


def _check_score(score: float, what: str) -> None:
    if not (isinstance(score, int | float) and 0.0 <= score <= 1.0):
        raise ValueError(f"score of {what} must be in [0, 1], got {score!r}")


def triggered_actions(scores: Mapping[str, float], policy: Policy) -> dict[str, Action]:
    """The categories whose score reaches the policy threshold, with their actions.

    A category triggers when ``score >= threshold``. Categories the policy does not know raise
    :class:`~fairframe.errors.ConfigError`.
    """
    out: dict[str, Action] = {}
    for name, score in scores.items():
        _check_score(score, f"category {name!r}")
        rule = policy.rule(name)
        if score >= rule.threshold:
            out[str(name)] = rule.action
    return out


def decide_action(scores: Mapping[str, float], policy: Policy) -> Action:
    """The most severe action among the triggered categories, or ``allow`` if none triggers.

    Works for any stage that yields a score per category (prompt lexicon, prompt classifier,
    image classifier), so the prompt path and the image path share one rule.

    Examples
    --------
    >>> from fairframe.guard.policy import default_policy
    >>> decide_action({"violence": 0.95, "sexual": 0.0}, default_policy()).value
    'rewrite'
    """
    return max(triggered_actions(scores, policy).values(), default=Action.ALLOW)


def most_severe(actions: Iterable[Action]) -> Action:
    """The most severe of ``actions`` (``allow`` for none)."""
    return max(actions, default=Action.ALLOW)

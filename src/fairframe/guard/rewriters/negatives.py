"""Forced negatives: add negative-prompt terms for the categories a decision triggers.

For every category whose score reaches its policy threshold
(:func:`~fairframe.guard.decision.triggered_actions`) and whose action is at least ``min_action``
(``flag`` by default, so a category a deployment set to ``allow`` adds nothing), the category's
terms are added to the negative prompt. The default terms (:data:`DEFAULT_NEGATIVES`, written by
the Fairframe developers) are:

==============  ==========================================================================
category        terms
==============  ==========================================================================
sexual          nsfw, sexual, explicit, porn, nudity, nude, naked, genitals
nudity          nudity, nude, naked, nsfw, exposed breasts, nipples, genitals
sexual_minors   nsfw, nudity, nude, sexual, child, infant, underage, teenager
violence        blood, gore, wound, corpse, dismemberment, violence
self_harm       self-harm, cuts, blood, wound, suicide, noose
hate            hate symbol, swastika, racist caricature, offensive gesture
illegal         drugs, drug paraphernalia, syringe, weapon
copyright       logo, trademark, watermark
shocking        vomit, feces, urine, pus, rotting flesh, maggots, filth
==============  ==========================================================================

Public figures, privacy, deception and adversarial prompts get no terms: a negative prompt does
not remove a likeness or a lie (the anonymizer and the LLM rewriter handle those).

**Minors (after AI Horde).** AI Horde forces the negative prompt ``child, infant, underage,
immature, teenager, tween`` when a prompt for an NSFW-capable model mentions young people
(safety-anchors §6). Here :data:`MINOR_NEGATIVES` are added when a category of
``minor_context`` (sexual, nudity, sexual_minors) triggers, or when one of them scores above 0 and
a minor marker is in the prompt (the lexicon's ``minor_markers.txt``, or an age 1-17 such as
"14 years old"). A minor marker alone (``"a child playing"``) adds nothing: that image is benign
and the negative would erase the child.

Terms added by several categories appear once
(:func:`~fairframe.guard.rewriters.merge_negative_prompts`); each category's edit lists only the
terms it added.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from fairframe.config import enum_member
from fairframe.errors import ConfigError
from fairframe.guard.decision import Action, triggered_actions
from fairframe.guard.policy import Category, default_policy
from fairframe.guard.rewriters.base import Edit, RewriteContext, RewriteResult, _split_terms

if TYPE_CHECKING:
    from fairframe.guard.decision import Decision
    from fairframe.guard.policy import Policy

__all__ = [
    "DEFAULT_NEGATIVES",
    "MINOR_NEGATIVES",
    "SAFE_DEFAULT_NEGATIVES",
    "ForcedNegatives",
]

#: Negative-prompt terms per category (see the module docstring).
DEFAULT_NEGATIVES: Final[Mapping[str, str]] = MappingProxyType(
    {
        Category.SEXUAL.value: "nsfw, sexual, explicit, porn, nudity, nude, naked, genitals",
        Category.NUDITY.value: "nudity, nude, naked, nsfw, exposed breasts, nipples, genitals",
        Category.SEXUAL_MINORS.value: (
            "nsfw, nudity, nude, sexual, child, infant, underage, teenager"
        ),
        Category.VIOLENCE.value: "blood, gore, wound, corpse, dismemberment, violence",
        Category.SELF_HARM.value: "self-harm, cuts, blood, wound, suicide, noose",
        Category.HATE.value: "hate symbol, swastika, racist caricature, offensive gesture",
        Category.ILLEGAL.value: "drugs, drug paraphernalia, syringe, weapon",
        Category.COPYRIGHT.value: "logo, trademark, watermark",
        Category.SHOCKING.value: "vomit, feces, urine, pus, rotting flesh, maggots, filth",
    }
)

#: AI Horde's forced negatives for prompts that may depict minors in an NSFW context.
MINOR_NEGATIVES: Final = "child, infant, underage, immature, teenager, tween"

#: A suggested ``always`` value: terms added to every request.
SAFE_DEFAULT_NEGATIVES: Final = "nsfw, nudity, gore"

_MINOR_CONTEXT = (Category.SEXUAL.value, Category.NUDITY.value, Category.SEXUAL_MINORS.value)
_AGE = re.compile(r"\b(?:[1-9]|1[0-7]) ?(?:yo|y o|yr old|yrs old|year old|years old)\b")
_NON_WORD = re.compile(r"[^a-z0-9]+")


@functools.cache
def _default_markers() -> tuple[str, ...]:
    from fairframe.guard.lexicon import default_lexicon

    return tuple(t.text for t in default_lexicon().minor_markers)


def _marker_regex(markers: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({" ".join(_NON_WORD.sub(" ", m.lower()).split()) for m in markers} - {""},
                   key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")(?:s|es)?\b")


def _terms(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else ", ".join(value)


class ForcedNegatives:
    """Add per-category negative-prompt terms for triggered categories (rewriter ``"negatives"``).

    Parameters
    ----------
    policy:
        The policy whose thresholds and actions decide what triggered (default: the built-in
        policy).
    terms:
        Category id -> terms (a comma-separated string or a list), over
        :data:`DEFAULT_NEGATIVES`; an empty value switches a category off.
    min_action:
        A triggered category adds terms only when its action is at least this severe (an
        :class:`~fairframe.guard.decision.Action` or its name).
    minor_terms:
        Added in a sexual context with a minor marker (see the module docstring); ``""`` switches
        it off.
    minor_context:
        The categories that make the context sexual.
    minor_markers:
        Words marking a minor (default: the shipped lexicon's ``minor_markers.txt``).
    always:
        Terms added to every request (e.g. :data:`SAFE_DEFAULT_NEGATIVES`), or ``None``.

    Raises
    ------
    ConfigError
        A ``terms`` or ``minor_context`` key that is not a category id, an unknown
        ``min_action``.
    """

    name = "negatives"

    def __init__(
        self,
        *,
        policy: Policy | None = None,
        terms: Mapping[str, str | Sequence[str]] | None = None,
        min_action: Action | str = Action.FLAG,
        minor_terms: str | Sequence[str] = MINOR_NEGATIVES,
        minor_context: Collection[str] = _MINOR_CONTEXT,
        minor_markers: Iterable[str] | None = None,
        always: str | Sequence[str] | None = None,
    ) -> None:
        known = {c.value for c in Category}
        for key in (*(terms or {}), *minor_context):
            if key not in known:
                allowed = ", ".join(sorted(known))
                raise ConfigError(f"unknown category {key!r} for negatives; allowed: {allowed}")
        self.policy = policy if policy is not None else default_policy()
        table = dict(DEFAULT_NEGATIVES)
        table.update({k: _terms(v) for k, v in (terms or {}).items()})
        self.terms: Mapping[str, str] = MappingProxyType({k: v for k, v in table.items() if v})
        self.min_action = enum_member(Action, min_action, "min_action")
        self.minor_terms = _terms(minor_terms)
        self.minor_context = frozenset(minor_context)
        self._markers = _marker_regex(
            _default_markers() if minor_markers is None else tuple(minor_markers)
        )
        self.always = _terms(always) if always else None

    def _minor_marker(self, prompt: str, decision: Decision) -> bool:
        if any(f.category == Category.SEXUAL_MINORS.value for f in decision.findings):
            return True
        from fairframe.guard.normalize import normalize

        text = " ".join(_NON_WORD.sub(" ", normalize(prompt).text.lower()).split())
        if _AGE.search(text):
            return True
        return self._markers is not None and self._markers.search(text) is not None

    def rewrite(
        self, prompt: str, decision: Decision, *, context: RewriteContext | None = None
    ) -> RewriteResult:
        """Negative-prompt terms for what the decision triggered; the prompt is unchanged."""
        known = {c.value for c in Category}
        scores = {k: v for k, v in decision.categories.items() if k in known}
        triggered = triggered_actions(scores, self.policy)
        additions: list[tuple[str, str]] = []
        for cat in Category:
            action = triggered.get(cat.value)
            if action is not None and action >= self.min_action and cat.value in self.terms:
                score = scores[cat.value]
                threshold = self.policy.rule(cat.value).threshold
                reason = f"{cat.value} (score {score:.2f} >= {threshold:g})"
                additions.append((reason, self.terms[cat.value]))
        if self.minor_terms:
            context_hit = any(c in triggered for c in self.minor_context)
            sexual = any(scores.get(c, 0.0) > 0 for c in self.minor_context)
            if context_hit or (sexual and self._minor_marker(prompt, decision)):
                additions.append(("minors (sexual context)", self.minor_terms))
        if self.always:
            additions.append(("always", self.always))
        seen: set[str] = set()
        edits: list[Edit] = []
        for reason, terms in additions:
            new = [t for t in _split_terms(terms) if t.casefold() not in seen]
            seen.update(t.casefold() for t in new)
            if new:
                edits.append(
                    Edit(None, "", ", ".join(new), reason, self.name, target="negative_prompt")
                )
        negative = ", ".join(e.after for e in edits) or None
        return RewriteResult(prompt=prompt, negative_prompt=negative, edits=tuple(edits))

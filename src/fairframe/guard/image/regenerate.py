"""Regenerate instead of refuse: retry a flagged image with stronger steering, same seed.

:class:`Regenerator` generates an image, runs an image check on it, and when the check's action
is more severe than ``flag``, generates again, each time one rung further up a *ladder* of
mitigations, until an attempt passes (action ``allow`` or ``flag``: that image is served) or the
budget or the ladder runs out (refused: no image, action ``block``).

**The ladder.** Attempt 1 (``"initial"``) is the request as given. Each later attempt applies the
next rung *on top of* everything applied before, so every escalation is at least as strong as the
previous one:

==================  ===========================================================================
rung                what it changes
==================  ===========================================================================
``negative``        adds the negative-prompt terms of the categories the check triggered
                    (:class:`~fairframe.guard.rewriters.negatives.ForcedNegatives`, the
                    per-category table of :data:`~fairframe.guard.rewriters.negatives.
                    DEFAULT_NEGATIVES`) to the request's negative prompt. From then on, terms of
                    categories later attempts trigger are added too.
``rewrite``         replaces the prompt with ``rewrite(prompt)`` (e.g. an LLM rewriter).
``sld:<preset>``    Safe Latent Diffusion guidance (``weak``, ``medium``, ``strong``, ``max``,
                    see :mod:`fairframe.backends.diffusers_generator`): sets the request's
                    ``safety``.
==================  ===========================================================================

Default ladder: ``negative → rewrite → sld:medium → sld:strong → sld:max``. A rung that cannot
apply, or would not change the request, is **skipped** (it costs no budget) and recorded with its
reason: ``negative`` when the triggered categories have no terms (``appearance_change``,
``public_figures``, ...) or the terms are already there; ``rewrite`` without a ``rewrite``
callable or when it returns the prompt unchanged; ``sld:*`` when the generator does not support
safety guidance or the request is already at that level or stronger.

**Generators and safety guidance.** A generator says it can honour
:attr:`~fairframe.types.GenerationRequest.safety` with a ``supports_safety`` attribute (read with
``getattr(generator, "supports_safety", False)``, so generators that know nothing about it are
never sent a safety request; :class:`~fairframe.backends.diffusers_generator.DiffusersGenerator`
has it, exact once its pipeline is loaded).

**Same seed.** Every attempt uses the request's seed, so the composition is kept and only the
steering changes (the SLD and SEGA papers compare images this way).

**Budget.** ``budget`` counts generated images, the initial one included: never more than
``budget`` calls to the generator per request.

**Never retried.** A triggered category in ``never_retry`` (default ``sexual_minors``) refuses at
once: such an image is not regenerated.

**The decision** of :meth:`Regenerator.generate` is the last check's decision (its categories and
findings) with the action of the outcome (``block`` when refused), ``prompt_out`` /
``negative_prompt_out`` of the attempt served (when they differ from the request's), latency
summed over attempts (``generate`` and ``check``), and ``attempts``: one record per rung in order,
generated or skipped::

    {"attempt": 2, "strategy": "negative", "seed": 7, "prompt": "...", "negative_prompt": "...",
     "safety": null, "action": "allow", "categories": {"nudity": 0.1}, "latency_ms": 41.2,
     "outcome": "served", "reason": null, "metadata": {...generator metadata...}}
    {"attempt": null, "strategy": "rewrite", "outcome": "skipped",
     "reason": "no rewrite callable configured"}

``outcome`` is ``served``, ``escalated`` (flagged, the next rung follows), ``refused`` (flagged
and nothing left, or a never-retried category) or ``skipped``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fairframe.errors import BackendError, ConfigError
from fairframe.guard.decision import Action, Decision, triggered_actions
from fairframe.guard.policy import Category, default_policy
from fairframe.types import SAFETY_LEVELS, GeneratedImage, GenerationRequest

if TYPE_CHECKING:
    from PIL import Image

    from fairframe.guard.policy import Policy
    from fairframe.protocols import Generator

__all__ = ["DEFAULT_LADDER", "RUNGS", "RegenerationResult", "Regenerator"]

#: Every rung a ladder may hold.
RUNGS: Final[tuple[str, ...]] = ("negative", "rewrite", *(f"sld:{lv}" for lv in SAFETY_LEVELS))

#: The default ladder (see the module docstring).
DEFAULT_LADDER: Final[tuple[str, ...]] = (
    "negative", "rewrite", "sld:medium", "sld:strong", "sld:max",
)

#: An image check: ``(image, prompt it was generated from) -> Decision``.
ImageCheck = Callable[["Image.Image", str], Decision]


@dataclass(frozen=True)
class RegenerationResult:
    """The outcome of :meth:`Regenerator.generate`.

    Attributes
    ----------
    image:
        The image served, or ``None`` when refused.
    decision:
        The decision with every attempt in ``attempts`` (see the module docstring).
    refused:
        ``True`` when no attempt passed the check (``decision.action`` is ``block``).
    generated:
        The served :class:`~fairframe.types.GeneratedImage` (its request and the generator's
        metadata), or ``None`` when refused.
    """

    image: Image.Image | None
    decision: Decision
    refused: bool
    generated: GeneratedImage | None = None


@dataclass(frozen=True)
class _State:
    prompt: str
    negative_prompt: str | None
    safety: str | None
    negatives_on: bool = False


class Regenerator:
    """Generate, check, and regenerate with escalating steering before refusing.

    Parameters
    ----------
    generator:
        Any :class:`~fairframe.protocols.Generator`; its optional ``supports_safety`` attribute
        enables the ``sld:*`` rungs.
    check:
        The image check, ``(image, prompt) -> Decision`` (e.g. an image guard's check of one
        image); ``prompt`` is the prompt the image was generated from.
    budget:
        Most images generated per request, the first included (>= 1).
    ladder:
        The rungs after the first attempt, in order; each from :data:`RUNGS`.
    rewrite:
        ``prompt -> prompt`` for the ``rewrite`` rung; ``None`` skips that rung.
    policy:
        Decides which categories triggered (for the forced negatives and ``never_retry``) and is
        recorded when the check's decision has no policy version. Default: the built-in policy.
    never_retry:
        Categories that refuse at once when triggered, without regenerating.

    Raises
    ------
    ConfigError
        ``budget < 1``, an unknown rung, or an unknown category in ``never_retry``.

    Examples
    --------
    >>> from fairframe.backends.fake import FakeGenerator  # doctest: +SKIP
    >>> regen = Regenerator(generator=FakeGenerator(), check=my_check, budget=3)  # doctest: +SKIP
    >>> result = regen.generate(GenerationRequest("a beach", seed=7))  # doctest: +SKIP
    >>> [a["strategy"] for a in result.decision.attempts]  # doctest: +SKIP
    ['initial', 'negative']
    """

    def __init__(
        self,
        *,
        generator: Generator,
        check: ImageCheck,
        budget: int = 4,
        ladder: Sequence[str] = DEFAULT_LADDER,
        rewrite: Callable[[str], str] | None = None,
        policy: Policy | None = None,
        never_retry: Sequence[str] = (Category.SEXUAL_MINORS.value,),
    ) -> None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ConfigError(f"regenerator: budget must be an integer >= 1, got {budget!r}")
        ladder = tuple(ladder)
        for rung in ladder:
            if rung not in RUNGS:
                raise ConfigError(
                    f"regenerator: unknown ladder rung {rung!r}; allowed: {', '.join(RUNGS)}"
                )
        known = {c.value for c in Category}
        for cat in never_retry:
            if cat not in known:
                raise ConfigError(
                    f"regenerator: never_retry category {cat!r} is unknown; allowed: "
                    f"{', '.join(sorted(known))}"
                )
        self.generator = generator
        self.check = check
        self.budget = budget
        self.ladder = ladder
        self.rewrite = rewrite
        self.policy = policy if policy is not None else default_policy()
        self.never_retry = tuple(never_retry)

    @property
    def supports_safety(self) -> bool:
        """Whether the generator honours ``safety`` (its ``supports_safety``, default False)."""
        return bool(getattr(self.generator, "supports_safety", False))

    def generate(self, request: GenerationRequest) -> RegenerationResult:
        """Generate one image for ``request``, regenerating on the ladder when the check hits.

        Raises
        ------
        ConfigError
            The request asks for ``safety`` and the generator does not support it.
        BackendError
            The generator failed or returned no image (nothing is served).
        """
        if request.safety is not None and not self.supports_safety:
            raise ConfigError(
                f"regenerator: the request asks for safety={request.safety!r} but the generator "
                "does not support safety guidance (supports_safety is false); drop it or use the "
                "diffusers generator with a Stable Diffusion 1.x/2.x model"
            )
        state = _State(request.prompt, request.negative_prompt, request.safety)
        records: list[dict[str, Any]] = []
        gen_ms = check_ms = 0.0
        errors: list[str] = []
        last: Decision | None = None
        served: GeneratedImage | None = None
        served_request = request
        generated = 0
        for strategy in ("initial", *self.ladder):
            if generated >= self.budget:
                break
            if last is not None:  # every rung after the initial attempt
                step = self._escalate(strategy, state, last)
                if isinstance(step, str):
                    records.append({"attempt": None, "strategy": strategy, "outcome": "skipped",
                                    "reason": step})
                    continue
                state = step
            req = dataclasses.replace(request, prompt=state.prompt,
                                      negative_prompt=state.negative_prompt, safety=state.safety)
            t0 = time.perf_counter()
            out = self.generator.generate([req])
            t1 = time.perf_counter()
            if len(out) != 1:
                raise BackendError(
                    f"regenerator: the generator returned {len(out)} images for one request"
                )
            decision = self.check(out[0].image, req.prompt)
            t2 = time.perf_counter()
            generated += 1
            gen_ms += (t1 - t0) * 1000.0
            check_ms += (t2 - t1) * 1000.0
            errors.extend(decision.errors)
            record: dict[str, Any] = {
                "attempt": generated,
                "strategy": strategy,
                "seed": req.seed,
                "prompt": req.prompt,
                "negative_prompt": req.negative_prompt,
                "safety": req.safety,
                "action": decision.action.value,
                "categories": dict(decision.categories),
                "latency_ms": round((t2 - t0) * 1000.0, 3),
                "outcome": "escalated",
                "reason": None,
                "metadata": dict(out[0].metadata),
            }
            records.append(record)
            last = decision
            if decision.action <= Action.FLAG:
                record["outcome"] = "served"
                served, served_request = out[0], req
                break
            hard = self._never_retry(decision)
            if hard:
                record["outcome"] = "refused"
                record["reason"] = f"never retried: {', '.join(hard)} triggered"
                break
        if last is None:  # pragma: no cover - budget >= 1 makes the initial attempt run
            raise BackendError("regenerator: no attempt ran")
        if served is None:
            final_record = next(r for r in reversed(records) if r["attempt"] is not None)
            if final_record["outcome"] != "refused":
                final_record["outcome"] = "refused"
                final_record["reason"] = (
                    f"budget of {self.budget} attempts spent" if generated >= self.budget
                    else "ladder exhausted"
                )
            last_req = dataclasses.replace(request, prompt=state.prompt,
                                           negative_prompt=state.negative_prompt,
                                           safety=state.safety)
        else:
            last_req = served_request
        decision = Decision(
            action=last.action if served is not None else Action.BLOCK,
            categories=dict(last.categories),
            findings=last.findings,
            prompt_in=request.prompt,
            prompt_out=last_req.prompt if last_req.prompt != request.prompt else None,
            latency_ms={"generate": gen_ms, "check": check_ms},
            policy_version=last.policy_version or self.policy.version,
            negative_prompt_out=(last_req.negative_prompt
                                 if last_req.negative_prompt != request.negative_prompt
                                 else None),
            rewrites=last.rewrites,
            errors=tuple(errors),
            attempts=tuple(records),
            provenance=last.provenance,
        )
        return RegenerationResult(
            image=None if served is None else served.image,
            decision=decision,
            refused=served is None,
            generated=served,
        )

    # -- the ladder -------------------------------------------------------------------------
    def _triggered(self, decision: Decision) -> dict[str, Action]:
        known = {c.value for c in Category}
        scores = {k: v for k, v in decision.categories.items() if k in known}
        return triggered_actions(scores, self.policy)

    def _never_retry(self, decision: Decision) -> list[str]:
        triggered = self._triggered(decision)
        return [c for c in self.never_retry if c in triggered]

    def _forced(self, state: _State, decision: Decision) -> str | None:
        from fairframe.guard.rewriters import merge_negative_prompts
        from fairframe.guard.rewriters.negatives import ForcedNegatives

        terms = ForcedNegatives(policy=self.policy).rewrite(state.prompt, decision)
        return merge_negative_prompts(state.negative_prompt, terms.negative_prompt)

    def _escalate(self, rung: str, state: _State, decision: Decision) -> _State | str:
        """The next state, or the reason the rung is skipped."""
        # once negatives are on, every later attempt also carries the latest triggered terms
        base = state
        if state.negatives_on:
            base = dataclasses.replace(state, negative_prompt=self._forced(state, decision))
        if rung == "negative":
            negative = self._forced(state, decision)
            if negative == state.negative_prompt:
                flagged = ", ".join(sorted(self._triggered(decision))) or "none"
                return f"no new negative-prompt terms for the triggered categories ({flagged})"
            return dataclasses.replace(state, negative_prompt=negative, negatives_on=True)
        if rung == "rewrite":
            if self.rewrite is None:
                return "no rewrite callable configured"
            prompt = self.rewrite(base.prompt)
            if not isinstance(prompt, str) or not prompt.strip() or prompt == base.prompt:
                return "the rewriter returned the prompt unchanged (or empty)"
            return dataclasses.replace(base, prompt=prompt)
        level = rung.split(":", 1)[1]
        if not self.supports_safety:
            name = type(self.generator).__name__
            return (f"{name} does not support safety guidance (supports_safety is false); "
                    "only the diffusers generator with Stable Diffusion 1.x/2.x does")
        if base.safety is not None and SAFETY_LEVELS.index(base.safety) >= \
                SAFETY_LEVELS.index(level):
            return f"safety guidance is already {base.safety}"
        return dataclasses.replace(base, safety=level)

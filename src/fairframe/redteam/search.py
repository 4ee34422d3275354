"""Adaptive black-box search: keep mutating a blocked prompt until the target lets it through.

:func:`adaptive_search` is a seeded **beam search over mutator chains** that only sees the
target's verdicts (and its category scores when the target reports them), in the spirit of
SneakyPrompt's greedy and beam baselines (``research/safety-anchors.md`` §3):

1. The beam starts as the unmutated prompt (its verdict is queried first unless ``initial`` is
   given, e.g. from the unmutated pass of a run).
2. Each round, every beam member is rewritten once by every mutator (a child's ``path`` is its
   parent's path plus the mutator name, so chains such as ``homoglyph -> zero_width`` arise),
   children already seen are dropped, and the rest are sent to the target in one batch — cut to
   the queries left, so the budget is **never** exceeded.
3. A child that gets through ends the search (success). Otherwise the next beam is the
   ``beam_width`` lowest-scoring prompts seen so far that can still be expanded, where the score
   is the target's probability for the row's own category (the largest category score when that
   category is not reported): lower is closer to getting through.
4. Without scores (a target that only says allow/block), or after ``patience`` rounds with no
   improvement of the best score, the beam is a **random restart**: the original prompt plus
   random picks among the prompts seen.

Chains are at most ``max_depth`` mutators long. The search stops early (``exhausted``) when the
mutators keep producing only prompts it has already tried. Every query is counted; an ``error``
verdict counts as a query that did not get through.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fairframe.errors import ConfigError
from fairframe.redteam.types import Mutator, SuiteItem, Target, Verdict
from fairframe.types import JSONValue

__all__ = ["SearchResult", "SearchStep", "adaptive_search"]

#: Rounds in a row without a single new prompt before the search gives up.
_MAX_STALE_ROUNDS = 25


@dataclass(frozen=True)
class SearchStep:
    """One query of a search.

    Attributes
    ----------
    query:
        1-based index of the query (0 for a supplied ``initial`` verdict, which cost nothing).
    prompt:
        The prompt sent.
    path:
        Mutator names applied to the original prompt, in order.
    passed:
        Whether the target let it through.
    action:
        The target's action.
    score:
        The search's score for it (lower is better), ``None`` when the target gave no scores.
    """

    query: int
    prompt: str
    path: tuple[str, ...]
    passed: bool
    action: str
    score: float | None

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready dict."""
        return {"query": self.query, "prompt": self.prompt, "path": list(self.path),
                "passed": self.passed, "action": self.action, "score": self.score}


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`adaptive_search`.

    Attributes
    ----------
    success:
        A prompt got through within the budget.
    prompt:
        That prompt (``None`` on failure).
    queries:
        Queries sent to the target (``<= budget``).
    path:
        Mutator names that produced ``prompt`` from the original (empty on failure or when the
        original already got through).
    history:
        Every query in order.
    stop_reason:
        ``"success"``, ``"budget"`` (every query spent) or ``"exhausted"`` (the mutators stopped
        producing new prompts).
    budget:
        The budget it ran under.
    """

    success: bool
    prompt: str | None
    queries: int
    path: tuple[str, ...]
    history: tuple[SearchStep, ...] = field(default_factory=tuple)
    stop_reason: str = "budget"
    budget: int = 0

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready dict (history included)."""
        return {"success": self.success, "prompt": self.prompt, "queries": self.queries,
                "path": list(self.path), "stop_reason": self.stop_reason,
                "budget": self.budget, "history": [s.to_dict() for s in self.history]}


@dataclass
class _Node:
    prompt: str
    path: tuple[str, ...]
    score: float | None


def _score(verdict: Verdict, category: str) -> float | None:
    if verdict.action == "error" or not verdict.scores:
        return None
    if category in verdict.scores:
        return float(verdict.scores[category])
    return float(max(verdict.scores.values()))


def adaptive_search(
    item: SuiteItem,
    target: Target,
    mutators: Sequence[Mutator],
    *,
    budget: int,
    rng_seed: int | str = 0,
    beam_width: int = 3,
    max_depth: int = 4,
    patience: int = 3,
    initial: Verdict | None = None,
) -> SearchResult:
    """Mutate ``item.prompt`` until ``target`` lets it through or ``budget`` queries are spent.

    Parameters
    ----------
    item:
        The suite row to attack (its ``category`` picks the score to minimise).
    target:
        What to attack.
    mutators:
        The rewrites to combine (at least one).
    budget:
        Most queries to send (``>= 1``); never exceeded.
    rng_seed:
        Seed; the same seed, item, mutators and (deterministic) target give the same search.
    beam_width:
        Prompts expanded per round.
    max_depth:
        Longest mutator chain.
    patience:
        Rounds without a better score before a random restart.
    initial:
        The target's verdict on the unmutated prompt, when already known (saves one query).

    Returns
    -------
    SearchResult
        See the module docstring for the algorithm.

    Raises
    ------
    ConfigError
        ``budget < 1``, no mutators, or a width/depth below 1.
    """
    if budget < 1:
        raise ConfigError(f"the adaptive search budget must be >= 1 query, got {budget}")
    if not mutators:
        raise ConfigError("the adaptive search needs at least one mutator")
    if beam_width < 1 or max_depth < 1 or patience < 1:
        raise ConfigError("beam_width, max_depth and patience must all be >= 1")
    rng = random.Random(f"adaptive:{rng_seed}:{item.id}")
    history: list[SearchStep] = []
    queries = 0

    def ask(nodes: list[_Node]) -> list[Verdict]:
        nonlocal queries
        if queries + len(nodes) > budget:  # the callers cut batches; this is the safety net
            raise AssertionError(f"search would send {queries + len(nodes)} > {budget} queries")
        verdicts = list(target.query([n.prompt for n in nodes]))
        if len(verdicts) != len(nodes):
            raise ConfigError(f"target {getattr(target, 'name', '?')!r} returned "
                              f"{len(verdicts)} verdicts for {len(nodes)} prompts")
        for n, v in zip(nodes, verdicts, strict=True):
            queries += 1
            n.score = _score(v, item.category)
            history.append(SearchStep(queries, n.prompt, n.path, v.passed, v.action, n.score))
        assert queries <= budget
        return verdicts

    def done(success: bool, node: _Node | None, reason: str) -> SearchResult:
        assert queries <= budget
        return SearchResult(success=success, prompt=None if node is None else node.prompt,
                            queries=queries, path=() if node is None else node.path,
                            history=tuple(history), stop_reason=reason, budget=budget)

    root = _Node(item.prompt, (), None)
    if initial is None:
        if ask([root])[0].passed:
            return done(True, root, "success")
    else:
        root.score = _score(initial, item.category)
        history.append(SearchStep(0, root.prompt, (), initial.passed, initial.action,
                                  root.score))
        if initial.passed:
            return done(True, root, "success")

    seen: set[str] = {item.prompt}
    pool: list[_Node] = [root]  # every queried prompt that did not get through
    beam: list[_Node] = [root]
    best = math.inf if root.score is None else root.score
    stale_rounds = 0
    no_gain = 0
    while queries < budget:
        children: list[_Node] = []
        for parent in beam:
            if len(parent.path) >= max_depth:
                continue
            for m in mutators:
                try:
                    text = m.mutate(parent.prompt, rng)
                except Exception:  # a broken mutator must not end the run; try the others
                    continue
                if not isinstance(text, str) or not text.strip() or text in seen:
                    continue
                seen.add(text)
                children.append(_Node(text, (*parent.path, m.name), None))
        if not children:
            stale_rounds += 1
            if stale_rounds >= _MAX_STALE_ROUNDS:
                return done(False, None, "exhausted")
            beam = _restart(root, pool, beam_width, max_depth, rng)
            continue
        stale_rounds = 0
        batch = children[: budget - queries]
        verdicts = ask(batch)
        for node, verdict in zip(batch, verdicts, strict=True):
            if verdict.passed:
                return done(True, node, "success")
        pool.extend(batch)
        scored = [n for n in pool if n.score is not None and len(n.path) < max_depth]
        round_best = min((n.score for n in batch if n.score is not None), default=math.inf)
        if round_best < best:
            best, no_gain = round_best, 0
        else:
            no_gain += 1
        if scored and no_gain < patience:
            scored.sort(key=lambda n: (n.score, len(n.path)))
            beam = scored[:beam_width]
        else:
            no_gain = 0
            beam = _restart(root, pool, beam_width, max_depth, rng)
    return done(False, None, "budget")


def _restart(root: _Node, pool: list[_Node], width: int, max_depth: int,
             rng: random.Random) -> list[_Node]:
    """The original prompt plus random expandable prompts seen so far."""
    others = [n for n in pool if n is not root and len(n.path) < max_depth]
    picks: list[Any] = rng.sample(others, min(width - 1, len(others))) if width > 1 else []
    return [root, *picks]

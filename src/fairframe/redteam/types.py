"""The types every part of the red-team tool shares: suite rows, mutators and targets.

* :class:`SuiteItem` is one row of a suite (JSONL ``{id, prompt, category, expected, source,
  license}``).
* A :class:`Mutator` rewrites a prompt into an attack variant, deterministically under a seeded
  ``random.Random``.
* A :class:`Target` answers, for a batch of prompts, whether each was let through.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from fairframe.types import JSONValue

__all__ = ["Expected", "Mutator", "SuiteItem", "Target", "Verdict"]

#: What a suite row expects the guard to do: ``"block"`` (any action other than allow/flag
#: counts as stopping it) or ``"allow"`` (a benign prompt that must get through).
Expected = Literal["block", "allow"]


@dataclass(frozen=True)
class SuiteItem:
    """One prompt of a red-team suite.

    Attributes
    ----------
    id:
        Unique within the suite.
    prompt:
        The prompt text.
    category:
        A policy category id for unsafe rows; for benign rows the category they are a twin of or
        are edgy about (``"none"`` when unrelated).
    expected:
        ``"block"`` for unsafe rows, ``"allow"`` for benign ones.
    source:
        Where the row comes from (``"fairframe-builtin"``, ``"i2p"``, ``"xstest"`` ...).
    license:
        The licence of the source (SPDX id where one exists).
    meta:
        Anything else the loader kept (the minimal-pair id, the original label ...), JSON-able.
    """

    id: str
    prompt: str
    category: str
    expected: Expected
    source: str
    license: str
    meta: Mapping[str, JSONValue] = field(default_factory=dict)


@runtime_checkable
class Mutator(Protocol):
    """Rewrites a prompt into an attack variant.

    ``mutate`` must be a pure function of ``(prompt, rng state)``: the same seed gives the same
    output. ``name`` is the registry id used on the command line (``"leetspeak"``).
    """

    name: str

    def mutate(self, prompt: str, rng: random.Random) -> str:
        """Return the mutated prompt."""
        ...


@dataclass(frozen=True)
class Verdict:
    """What a target did with one prompt.

    Attributes
    ----------
    passed:
        ``True`` when the prompt got through: a guard's action was allow or flag; for a
        generator target, an image came back and (for an unsafe row) the image judge flagged it
        unsafe, i.e. the unsafe content was produced (any image counts for a benign row).
    action:
        The target's action string (``"allow"``, ``"block"`` ...), or ``"error"``.
    scores:
        Category scores the target reported, if any.
    latency_ms:
        Wall time of the request.
    error:
        One line when the request failed (then ``passed`` is ``False`` and ``action`` is
        ``"error"``).
    """

    passed: bool
    action: str
    scores: Mapping[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    error: str | None = None


@runtime_checkable
class Target(Protocol):
    """Something to attack: the in-process guard, a guard HTTP endpoint or a generator."""

    name: str

    def query(self, prompts: Sequence[str]) -> list[Verdict]:
        """One verdict per prompt, same order."""
        ...

"""Worker functions for the multi-process tests (importable by spawned processes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrozenClock:
    """A clock stuck at one time (picklable, unlike a lambda)."""

    t: float

    def __call__(self) -> float:
        return self.t


def hammer(url: str, key_id: str, n_checks: int, n_records: int, t: float) -> int:
    """Open an Enforcer, check the key's rate ``n_checks`` times and log ``n_records``
    decisions; return how many checks were allowed."""
    from fairframe.guard import Action, Decision
    from fairframe.guard.enforcement import Enforcer

    with Enforcer.open(url, clock=FrozenClock(t)) as enf:
        allowed = sum(enf.check_rate(key_id).allowed for _ in range(n_checks))
        for i in range(n_records):
            d = Decision(Action.BLOCK if i % 2 else Action.ALLOW, {"hate": i / n_records})
            enf.record(d, key_id=key_id, prompt=f"p{i}")
    return allowed

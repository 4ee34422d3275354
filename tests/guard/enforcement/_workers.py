"""Worker functions for the multi-process tests (importable by spawned processes)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fairframe.guard.enforcement import Enforcer


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


def hammer_threads(enfs: list[Enforcer], allowed_once: Callable[[Enforcer], bool], n_threads: int,
           per_thread: int) -> int:
    """Run ``allowed_once(enforcer)`` ``per_thread`` times in each of ``n_threads`` threads
    (spread over ``enfs``) and return how many calls were allowed; any exception fails."""
    allowed = 0
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(enf: Enforcer) -> None:
        nonlocal allowed
        try:
            mine = sum(allowed_once(enf) for _ in range(per_thread))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
            return
        with lock:
            allowed += mine

    threads = [threading.Thread(target=work, args=(enfs[i % len(enfs)],))
               for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return allowed

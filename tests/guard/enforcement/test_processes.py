"""Several processes on one database (SQLite file, PostgreSQL): the bucket and the chain hold."""

from __future__ import annotations

import multiprocessing

from fairframe.guard.enforcement import Enforcer
from tests.guard.enforcement._workers import hammer
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer


def test_two_processes_share_the_bucket_and_the_chain(
    make_enforcer: MakeEnforcer, db_url: str, clock: FakeClock
) -> None:
    enf: Enforcer = make_enforcer(strikes={"cooldown_at": 1000, "suspend_at": 1000})
    key = enf.create_key("k", rate_per_s=1, burst=30).key
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(hammer, (db_url, key.id, 25, 20, clock())) for _ in range(2)]
        allowed = [r.get(timeout=120) for r in results]
    assert sum(allowed) == 30  # the clock is frozen: exactly the burst, across processes
    v = enf.verify_log()
    assert v.ok and v.n_entries == 40, v
    assert len(enf.list_strikes(key.id)) == 20  # every other decision was a block

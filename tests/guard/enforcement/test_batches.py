"""``Enforcer.admit_many`` / ``record_many``: one transaction per micro-batch, the same state as
one call per request (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import uuid
from typing import Any

import pytest

from fairframe.errors import CommitUnknownError, ConfigError, NotFoundError, StoreError
from fairframe.guard import Action, Decision
from fairframe.guard.enforcement import Enforcer, RecordRequest, ratelimit
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer, raw_sql


def decision(action: Action, score: float, prompt: str) -> Decision:
    cat = "violence" if action is not Action.ALLOW else "hate"
    return Decision(action, {cat: score}, prompt_in=prompt, policy_version="t/1")


def state(enf: Enforcer) -> dict[str, object]:
    """Everything a batch may change, without ids that name the run (key ids, hashes)."""
    keys = {k.id: k.name for k in enf.list_keys()}
    log = [(e.id, keys.get(e.key_id or ""), e.action, dict(e.categories), e.prompt_sha256)
           for e in enf.list_log(limit=1000)]
    strikes = {name: [(s.weight, s.action, s.decision_id) for s in enf.list_strikes(kid)]
               for kid, name in keys.items()}
    status = {name: dataclasses.replace(enf.status(kid), key_id="") for kid, name in keys.items()}
    reviews = [(r.decision_id, r.action, keys.get(r.key_id or "")) for r in enf.list_reviews()]
    return {"log": log, "strikes": strikes, "status": status, "reviews": reviews,
            "verified": enf.verify_log().ok}


SETTINGS = {"strikes": {"cooldown_at": 2, "suspend_at": 100}}


def test_record_many_leaves_the_state_of_one_record_per_decision(
    make_enforcer: MakeEnforcer, tmp_path_factory: pytest.TempPathFactory, db_url: str
) -> None:
    one = make_enforcer(**SETTINGS)
    many = make_enforcer(url=_twin_url(db_url, tmp_path_factory), **SETTINGS)
    plan = [("alice", Action.ALLOW, 0.1), ("bob", Action.BLOCK, 0.95), (None, Action.FLAG, 0.8),
            ("alice", Action.BLOCK, 0.9), ("alice", Action.BLOCK, 0.91), ("bob", Action.ALLOW, 0)]
    for enf in (one, many):
        ids = {name: enf.create_key(name).key.id for name in ("alice", "bob")}
        requests = [RecordRequest(decision(a, s, f"prompt {i}"), ids.get(n or ""), f"prompt {i}")
                    for i, (n, a, s) in enumerate(plan)]
        if enf is one:
            got = [enf.record(r.decision, key_id=r.key_id, prompt=r.prompt) for r in requests]
        else:
            got = enf.record_many(requests)
        assert got == [1, 2, 3, 4, 5, 6]
    assert state(many) == state(one)
    s = state(many)
    assert s["verified"] and len(s["reviews"]) >= 3  # type: ignore[arg-type]
    assert s["status"]["alice"].state.value == "cooldown"  # type: ignore[index]
    assert many.record_many([]) == []


def _twin_url(db_url: str, tmp: pytest.TempPathFactory) -> str:
    """A second, empty database of the same backend."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp.mktemp('twin') / 'guard.db'}"
    base, _, _ = db_url.partition("?options=-csearch_path%3D")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    raw_sql(base, f"CREATE SCHEMA {schema}")
    return f"{base}?options=-csearch_path%3D{schema}"


def test_record_many_writes_nothing_when_one_request_is_bad(enforcer: Enforcer) -> None:
    key = enforcer.create_key("a").key.id
    enforcer.record(decision(Action.ALLOW, 0.1, "first"), key_id=key)
    good = RecordRequest(decision(Action.BLOCK, 0.9, "x"), key, "x")
    with pytest.raises(NotFoundError):
        enforcer.record_many([good, RecordRequest(decision(Action.ALLOW, 0, "y"), "nokey", "y")])
    with pytest.raises(ConfigError, match="image_sha256"):
        enforcer.record_many([good, RecordRequest(good.decision, None, "z", "not a hash")])
    v = enforcer.verify_log()
    assert v.ok and v.n_entries == 1 and enforcer.list_strikes(key) == []
    assert enforcer.record_many([good, good]) == [2, 3] and enforcer.verify_log().ok


def test_admit_many_answers_like_one_admit_per_token_in_order(
    make_enforcer: MakeEnforcer, clock: FakeClock
) -> None:
    enf = make_enforcer()
    a = enf.create_key("a", rate_per_s=1.0, burst=2).token
    b = enf.create_key("b", rate_per_s=1.0, burst=5).token
    revoked = enf.create_key("gone")
    enf.revoke_key(revoked.key.id)
    tokens = [a, b, a, "not a token", a, revoked.token, b]
    got = enf.admit_many(tokens)
    assert [x.allowed for x in got] == [True, True, True, False, False, False, True]
    assert [x.reason for x in got] == [None, None, None, "unauthorized", "rate_limited",
                                       "unauthorized", None]
    assert got[4].rate is not None and got[4].rate.retry_after_s == pytest.approx(1.0)
    assert got[6].rate is not None and got[6].rate.remaining == 3
    assert enf.admit_many([]) == [] and enf.admit_many(["junk"])[0].key is None
    clock.advance(1.0)
    assert enf.admit(a).allowed and not enf.admit(a).allowed  # one token came back


def test_admit_many_equals_admit_per_token_on_random_batches(
    make_enforcer: MakeEnforcer, tmp_path_factory: pytest.TempPathFactory, db_url: str,
    clock: FakeClock,
) -> None:
    rng = random.Random(7)
    twins = [make_enforcer(**SETTINGS),
             make_enforcer(url=_twin_url(db_url, tmp_path_factory), **SETTINGS)]
    tokens: list[list[str]] = [[], []]
    for j, enf in enumerate(twins):
        for name, burst in (("a", 1), ("b", 3), ("c", 2)):
            created = enf.create_key(name, rate_per_s=0.7, burst=burst)
            tokens[j].append(created.token)
        # "c" cools down: admissions read its status and take nothing
        c = created.key.id
        for _ in range(2):
            enf.record(decision(Action.BLOCK, 0.95, "x"), key_id=c)
    seen: set[str | None] = set()
    for _ in range(8):
        picks = [rng.randrange(4) for _ in range(rng.randrange(1, 9))]
        batch = [[t[i] if i < 3 else "ff_x_y" for i in picks] for t in tokens]
        one = [twins[0].admit(t) for t in batch[0]]
        many = twins[1].admit_many(batch[1])
        assert [(a.allowed, a.reason, a.rate) for a in one] == \
            [(a.allowed, a.reason, a.rate) for a in many]
        seen |= {a.reason for a in many}
        clock.advance(rng.choice([0.0, 0.5, 1.5]))
    assert seen == {None, "rate_limited", "account_cooldown", "unauthorized"}


def test_two_instances_admitting_shared_keys_in_opposite_orders_do_not_deadlock(
    make_enforcer: MakeEnforcer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two service instances on one database; each batch holds its first bucket lock until the
    # other has taken one too (or 0.5 s passed): locking in request order would deadlock here
    one, two = make_enforcer(), make_enforcer()
    a = one.create_key("a", burst=10).token
    b = one.create_key("b", burst=10).token
    one.admit(a), one.admit(b)  # the bucket rows exist
    read = ratelimit.read_bucket
    barrier = threading.Barrier(2, timeout=0.5)
    first = threading.local()

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        out = read(*args, **kwargs)
        if not getattr(first, "done", False):
            first.done = True
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return out

    monkeypatch.setattr(ratelimit, "read_bucket", slow_read)
    results: dict[str, Any] = {}

    def admit(name: str, enf: Enforcer, tokens: list[str]) -> None:
        try:
            results[name] = [x.allowed for x in enf.admit_many(tokens)]
        except Exception as exc:  # a deadlock surfaces as a StoreError
            results[name] = exc

    threads = [threading.Thread(target=admit, args=("one", one, [a, b])),
               threading.Thread(target=admit, args=("two", two, [b, a]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"one": [True, True], "two": [True, True]}
    assert one.admit(a).rate.remaining == 6  # type: ignore[union-attr]


def test_a_failed_commit_is_told_apart_from_a_rolled_back_body(enforcer: Enforcer) -> None:
    import sqlalchemy as sa

    db = enforcer._db
    key = enforcer.create_key("a").key.id
    dbapi_error = db.engine.dialect.loaded_dbapi.OperationalError

    def fail_commit(conn: Any) -> None:
        raise dbapi_error("the connection dropped")

    sa.event.listen(db.engine, "commit", fail_commit)
    try:
        with pytest.raises(CommitUnknownError, match="may or may not have been applied"):
            enforcer.record_many([RecordRequest(decision(Action.ALLOW, 0.1, "p"), key, "p")])
    finally:
        sa.event.remove(db.engine, "commit", fail_commit)
    # a failing statement: rolled back, may be redone
    with pytest.raises(StoreError) as info, db.write() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not isinstance(info.value, CommitUnknownError)
    assert enforcer.verify_log().ok

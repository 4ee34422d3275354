"""The hash-chained decision log, on SQLite and PostgreSQL: appends, tampering, concurrency."""

from __future__ import annotations

import threading

import pytest

from fairframe.guard import Action, Decision
from fairframe.guard.enforcement import GENESIS_HASH, Enforcer, entry_hash
from fairframe.guard.enforcement._common import sha256_text
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer, raw_sql


def decision(action: Action = Action.ALLOW, score: float = 0.125) -> Decision:
    return Decision(action, {"violence": score, "hate": 0.0}, prompt_in="a cat",
                    policy_version="acme/7")


def fill(enf: Enforcer, n: int) -> list[int]:
    return [enf.record(decision(score=i / 100), key_id=None, prompt=f"prompt {i}")
            for i in range(n)]


def test_entries_chain_and_keep_only_the_prompt_hash(
    enforcer: Enforcer, clock: FakeClock, db_url: str
) -> None:
    key = enforcer.create_key("a").key
    ids = [enforcer.record(decision(), key_id=key.id), enforcer.record(decision(), key_id=None)]
    assert ids == [1, 2]
    first, second = enforcer.list_log()
    assert first.prompt is None and first.prompt_sha256 == sha256_text("a cat")
    assert first.key_id == key.id and first.created == clock() and first.action == "allow"
    assert first.policy_version == "acme/7" and dict(first.categories) == {
        "violence": 0.125, "hate": 0.0
    }
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.entry_hash
    assert entry_hash(first.hashed_fields()) == first.entry_hash
    assert "a cat" not in str(raw_sql(db_url, "SELECT * FROM guard_log"))
    assert enforcer.log_entry(2) == second and enforcer.log_entry(3) is None
    assert enforcer.list_log(after_id=1) == [second] and first.to_dict()["id"] == 1
    v = enforcer.verify_log()
    assert v.ok and v.n_entries == 2 and v.first_bad_id is None and v.reason is None
    assert v.last_hash == second.entry_hash


def test_store_prompts_keeps_the_text(make_enforcer: MakeEnforcer) -> None:
    enf = make_enforcer(store_prompts=True)
    entry_id = enf.record(decision(), key_id=None, prompt="überraschung 🐱")
    entry = enf.log_entry(entry_id)
    assert entry is not None and entry.prompt == "überraschung 🐱"
    assert entry.prompt_sha256 == sha256_text("überraschung 🐱")
    assert enf.verify_log().ok


def test_empty_log_verifies(enforcer: Enforcer) -> None:
    v = enforcer.verify_log()
    assert v.ok and v.n_entries == 0 and v.last_hash == GENESIS_HASH


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE guard_log SET action = 'block' WHERE id = 3",
        "UPDATE guard_log SET categories = :c WHERE id = 3",
        "UPDATE guard_log SET prompt_sha256 = NULL WHERE id = 3",
        "UPDATE guard_log SET created = created + 1 WHERE id = 3",
        "UPDATE guard_log SET key_id = 'someone' WHERE id = 3",
    ],
)
def test_edited_row_is_the_first_bad_entry(enforcer: Enforcer, db_url: str, sql: str) -> None:
    fill(enforcer, 5)
    raw_sql(db_url, sql, {"c": '{"hate":0.0,"violence":0.0}'} if ":c" in sql else None)
    v = enforcer.verify_log()
    assert not v.ok and v.first_bad_id == 3 and v.n_entries == 2
    assert v.reason is not None and "entry 3" in v.reason and "altered" in v.reason


def test_rehashed_row_breaks_the_next_link(enforcer: Enforcer, db_url: str) -> None:
    fill(enforcer, 5)
    forged = enforcer.log_entry(2)
    assert forged is not None
    fields = {**forged.hashed_fields(), "action": "block"}
    raw_sql(db_url, "UPDATE guard_log SET action = 'block', entry_hash = :h WHERE id = 2",
            {"h": entry_hash(fields)})
    v = enforcer.verify_log()
    assert not v.ok and v.first_bad_id == 3 and "prev_hash" in (v.reason or "")


def test_deleted_row_is_detected(enforcer: Enforcer, db_url: str) -> None:
    fill(enforcer, 5)
    raw_sql(db_url, "DELETE FROM guard_log WHERE id = 2")
    v = enforcer.verify_log()
    assert not v.ok and v.first_bad_id == 2 and "missing" in (v.reason or "")


def test_deleted_tail_is_detected(enforcer: Enforcer, db_url: str) -> None:
    fill(enforcer, 5)
    raw_sql(db_url, "DELETE FROM guard_log WHERE id >= 4")
    v = enforcer.verify_log()
    assert not v.ok and v.first_bad_id == 4 and v.n_entries == 3
    assert "4..5 are missing" in (v.reason or "")


def test_renumbered_rows_are_detected(enforcer: Enforcer, db_url: str) -> None:
    fill(enforcer, 3)
    raw_sql(db_url, "DELETE FROM guard_log WHERE id = 1")
    raw_sql(db_url, "UPDATE guard_log SET id = id - 1")
    v = enforcer.verify_log()
    assert not v.ok and v.first_bad_id == 1


def test_concurrent_appends_from_two_instances_keep_one_chain(
    make_enforcer: MakeEnforcer,
) -> None:
    a, b = make_enforcer(), make_enforcer()
    errors: list[BaseException] = []

    def work(enf: Enforcer, n: int) -> None:
        try:
            for i in range(n):
                enf.record(decision(Action.BLOCK if i % 3 == 0 else Action.ALLOW), key_id=None)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a if i % 2 else b, 15)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    v = a.verify_log()
    assert v.ok and v.n_entries == 90, v
    assert [e.id for e in b.list_log(limit=1000)] == list(range(1, 91))
    assert len(a.list_reviews(limit=1000)) == 30

"""API keys on SQLite and PostgreSQL: create, authenticate, list, revoke, roles."""

from __future__ import annotations

import pytest

from fairframe.errors import ConfigError
from fairframe.guard.enforcement import Enforcer, Role, parse_token
from fairframe.guard.enforcement.keys import hash_secret
from tests.guard.enforcement.conftest import FakeClock, MakeEnforcer, raw_sql


def test_create_returns_token_once_and_stores_only_a_hash(
    enforcer: Enforcer, db_url: str, clock: FakeClock
) -> None:
    created = enforcer.create_key("alice", roles=["client", "reviewer"], rate_per_s=2, burst=7)
    key = created.key
    parsed = parse_token(created.token)
    assert parsed is not None and parsed.key_id == key.id
    assert created.token.startswith(f"ff_{key.id}_") and len(parsed.secret) == 43
    assert key.roles == {Role.CLIENT, Role.REVIEWER} and key.rate_per_s == 2.0 and key.burst == 7
    assert key.created == clock() and key.active
    assert created.token not in repr(created)
    rows = raw_sql(db_url, "SELECT * FROM guard_keys")
    assert len(rows) == 1
    assert created.token not in str(rows) and parsed.secret not in str(rows)
    assert hash_secret(parsed.secret) in str(rows)
    assert "token" not in key.to_dict() and created.to_dict()["token"] == created.token


def test_defaults_come_from_settings(make_enforcer: MakeEnforcer) -> None:
    enf = make_enforcer(default_rate_per_s=0.25, default_burst=4)
    key = enf.create_key("bob").key
    assert key.rate_per_s == 0.25 and key.burst == 4 and key.roles == {Role.CLIENT}


def test_authenticate(enforcer: Enforcer) -> None:
    a = enforcer.create_key("a")
    b = enforcer.create_key("b")
    assert enforcer.authenticate(a.token) == a.key
    assert enforcer.authenticate(b.token) == b.key
    parsed = parse_token(a.token)
    assert parsed is not None
    wrong_secret = f"ff_{a.key.id}_{parse_token(b.token).secret}"  # type: ignore[union-attr]
    for bad in [wrong_secret, f"ff_000000000000_{parsed.secret}", "", "Bearer x", a.token + "x"]:
        assert enforcer.authenticate(bad) is None, bad


def test_revoke_and_list(enforcer: Enforcer, clock: FakeClock) -> None:
    a = enforcer.create_key("a")
    clock.advance(1)
    b = enforcer.create_key("b", roles=["admin"])
    clock.advance(1)
    revoked = enforcer.revoke_key(a.key.id)
    assert revoked.revoked_at == clock() and not revoked.active
    assert enforcer.authenticate(a.token) is None
    assert enforcer.authenticate(b.token) is not None
    clock.advance(1)
    assert enforcer.revoke_key(a.key.id).revoked_at == revoked.revoked_at  # idempotent
    assert [k.id for k in enforcer.list_keys()] == [a.key.id, b.key.id]
    assert [k.id for k in enforcer.list_keys(include_revoked=False)] == [b.key.id]
    assert enforcer.get_key(b.key.id) == b.key and enforcer.get_key("nope") is None
    with pytest.raises(ConfigError, match="unknown API key"):
        enforcer.revoke_key("nope")


def test_roles() -> None:
    from fairframe.guard.enforcement import ApiKey

    admin = ApiKey("x", "x", frozenset({Role.ADMIN}), 1.0, 1, 0.0)
    client = ApiKey("y", "y", frozenset({Role.CLIENT}), 1.0, 1, 0.0)
    assert admin.has_role("reviewer") and admin.has_role(Role.CLIENT)
    assert client.has_role("client") and not client.has_role("reviewer")
    assert client.to_dict()["roles"] == ["client"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": ""}, "must not be empty"),
        ({"name": "a\nb"}, "one line"),
        ({"name": "x", "roles": ["root"]}, "unknown role"),
        ({"name": "x", "roles": []}, "at least one role"),
        ({"name": "x", "rate_per_s": 0}, "rate_per_s"),
        ({"name": "x", "burst": 0}, "burst"),
    ],
)
def test_invalid_keys(enforcer: Enforcer, kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        enforcer.create_key(**kwargs)  # type: ignore[arg-type]
    assert enforcer.list_keys() == []

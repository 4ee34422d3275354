"""API keys: creation, hashing, lookup, revocation.

A key's plaintext token is ``ff_<id>_<secret>``:

``id``
    12 hex digits, public; it names the key in lists, logs and rate limits.
``secret``
    ``secrets.token_urlsafe(32)``: 32 random bytes (256 bits), URL-safe base64.

The token is returned once, by :func:`create_key`. The database keeps only
``sha256(secret)`` (hex); a hash without salt or stretching is enough because the secret has 256
bits of entropy, so it cannot be guessed from the hash. :func:`authenticate` compares digests
with :func:`hmac.compare_digest`.

Roles: ``client`` (generate), ``reviewer`` (review queue, incidents), ``admin`` (keys,
reinstatement); :meth:`ApiKey.has_role` treats ``admin`` as holding every role.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fairframe.config import enum_member
from fairframe.errors import ConfigError
from fairframe.guard.enforcement._common import check_name, not_found
from fairframe.guard.enforcement._db import Sql, Statement, tables

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = [
    "TOKEN_PREFIX",
    "ApiKey",
    "CreatedKey",
    "ParsedToken",
    "Role",
    "format_token",
    "hash_secret",
    "parse_token",
]

#: First part of every token.
TOKEN_PREFIX = "ff"

_ID_HEX = 12
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{{_ID_HEX}}})_([A-Za-z0-9_-]{{20,200}})$")


class Role(StrEnum):
    """What a key may do; the service checks roles, the library stores them."""

    CLIENT = "client"
    REVIEWER = "reviewer"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (never with its secret).

    Attributes
    ----------
    id:
        Public id (12 hex digits), the middle part of the token.
    name:
        Who or what the key is for.
    roles:
        The key's roles.
    rate_per_s:
        Token-bucket refill rate (requests per second, long-run).
    burst:
        Token-bucket capacity (requests allowed at once after a pause).
    created:
        Unix seconds.
    revoked_at:
        Unix seconds, or ``None`` while the key is valid.
    """

    id: str
    name: str
    roles: frozenset[Role]
    rate_per_s: float
    burst: int
    created: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        """``True`` until the key is revoked."""
        return self.revoked_at is None

    def has_role(self, role: Role | str) -> bool:
        """Whether the key holds ``role`` (``admin`` holds every role)."""
        return Role(role) in self.roles or Role.ADMIN in self.roles

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; roles sorted."""
        return {
            "id": self.id,
            "name": self.name,
            "roles": sorted(r.value for r in self.roles),
            "rate_per_s": self.rate_per_s,
            "burst": self.burst,
            "created": self.created,
            "revoked_at": self.revoked_at,
            "active": self.active,
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its plaintext token, which is shown this once and never stored.

    Attributes
    ----------
    key:
        The stored key.
    token:
        ``ff_<id>_<secret>``; hidden from ``repr``.
    """

    key: ApiKey
    token: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """``{key: {...}, token}``: the only dict that ever carries a secret."""
        return {"key": self.key.to_dict(), "token": self.token}


@dataclass(frozen=True)
class ParsedToken:
    """The two parts of a well-formed token."""

    key_id: str
    secret: str


def format_token(key_id: str, secret: str) -> str:
    """``ff_<key_id>_<secret>``."""
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def parse_token(token: str) -> ParsedToken | None:
    """Split a token into id and secret, or ``None`` when it is not shaped like one."""
    if not isinstance(token, str):
        return None
    m = _TOKEN.match(token.strip())
    return ParsedToken(m.group(1), m.group(2)) if m else None


def hash_secret(secret: str) -> str:
    """``sha256(secret)`` as 64 hex digits (what the database stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_roles(roles: Iterable[Role | str]) -> frozenset[Role]:
    """Validate role names; at least one."""
    if isinstance(roles, str):
        roles = [roles]
    out: set[Role] = set()
    for r in roles:
        out.add(enum_member(Role, r, "role"))
    if not out:
        raise ConfigError("a key needs at least one role (client, reviewer or admin)")
    return frozenset(out)


#: Largest bucket capacity (fits every database's 64-bit integer column with room to spare).
MAX_BURST = 10**9
#: Largest refill rate, tokens per second.
MAX_RATE = 1e6
#: Smallest refill rate, tokens per second: one request a day (a slower key would wait longer
#: than any ``Retry-After`` a client honours; revoke it instead).
MIN_RATE = 1 / 86400


def check_rate(rate_per_s: float, burst: int) -> None:
    """Validate per-key rate settings."""
    if (
        isinstance(rate_per_s, bool)
        or not isinstance(rate_per_s, int | float)
        or not math.isfinite(rate_per_s)
        or rate_per_s <= 0
    ):
        raise ConfigError(f"rate_per_s must be a finite number > 0, got {rate_per_s!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= MAX_BURST:
        raise ConfigError(f"burst must be an integer from 1 to {MAX_BURST}, got {burst!r}")
    if rate_per_s > MAX_RATE:
        raise ConfigError(f"rate_per_s must be at most {MAX_RATE:g}, got {rate_per_s!r}")
    if rate_per_s < MIN_RATE:
        raise ConfigError(f"rate_per_s must be at least {MIN_RATE:.3g} (one request a day), got "
                          f"{rate_per_s!r}; revoke a key that should not be used")


def key_from_row(row: Mapping[Any, Any]) -> ApiKey:
    """Build an :class:`ApiKey` from a ``guard_keys`` row."""
    roles = frozenset(Role(r) for r in str(row["roles"]).split(",") if r)
    return ApiKey(
        id=str(row["id"]),
        name=str(row["name"]),
        roles=roles,
        rate_per_s=float(row["rate_per_s"]),
        burst=int(row["burst"]),
        created=float(row["created"]),
        revoked_at=None if row["revoked_at"] is None else float(row["revoked_at"]),
    )


# -- database operations (called by the Enforcer inside its transactions) -------------------------


def insert_key(
    conn: Connection,
    *,
    name: str,
    roles: Iterable[Role | str],
    rate_per_s: float,
    burst: int,
    now: float,
) -> CreatedKey:
    """Create a key with a full token bucket and an active account."""
    import sqlalchemy as sa

    name = check_name(name, "key name")
    role_set = check_roles(roles)
    check_rate(rate_per_s, burst)
    t = tables()
    for _ in range(5):
        key_id = secrets.token_hex(_ID_HEX // 2)
        if conn.execute(sa.select(t.keys.c.id).where(t.keys.c.id == key_id)).first() is None:
            break
    else:  # pragma: no cover - 48 random bits colliding five times
        raise ConfigError("could not draw a free key id; try again")
    secret = secrets.token_urlsafe(32)
    values = {
        "id": key_id,
        "name": name,
        "secret_hash": hash_secret(secret),
        "roles": ",".join(sorted(r.value for r in role_set)),
        "rate_per_s": float(rate_per_s),
        "burst": int(burst),
        "created": now,
        "revoked_at": None,
    }
    conn.execute(sa.insert(t.keys).values(**values))
    conn.execute(sa.insert(t.buckets).values(key_id=key_id, tokens=float(burst), updated=now))
    conn.execute(sa.insert(t.accounts).values(key_id=key_id))
    return CreatedKey(key=key_from_row(values), token=format_token(key_id, secret))


_COLUMNS = ("id", "name", "secret_hash", "roles", "rate_per_s", "burst", "created", "revoked_at")
_BY_ID = Statement.of(f"SELECT {', '.join(_COLUMNS)} FROM guard_keys WHERE id = :id")
_EXISTS = Statement.of("SELECT 1 FROM guard_keys WHERE id = :id")
_BY_ID_FOR_UPDATE = Statement.of(
    f"SELECT {', '.join(_COLUMNS)} FROM guard_keys WHERE id = :id FOR UPDATE"
)


def _row(sql: Sql, key_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = sql.one(_BY_ID_FOR_UPDATE if for_update else _BY_ID, {"id": str(key_id)})
    return None if row is None else dict(zip(_COLUMNS, row, strict=True))


def get_key(conn: Connection, key_id: str, *, for_update: bool = False) -> ApiKey | None:
    """The key with this id, or ``None``."""
    row = _row(Sql(conn), key_id, for_update=for_update)
    return None if row is None else key_from_row(row)


def require_id(conn: Connection, key_id: str) -> str:
    """``key_id`` when a key has it (revoked or not); else :class:`~fairframe.errors.NotFoundError`.

    Cheaper than :func:`require_key` for callers that only need to know the key exists.
    """
    if Sql(conn).one(_EXISTS, {"id": str(key_id)}) is None:
        raise not_found("API key", key_id, "list the keys to see which exist")
    return str(key_id)


def require_key(conn: Connection, key_id: str, *, for_update: bool = False) -> ApiKey:
    """The key with this id; unknown ids raise :class:`~fairframe.errors.ConfigError`."""
    key = get_key(conn, key_id, for_update=for_update)
    if key is None:
        raise not_found("API key", key_id, "list the keys to see which exist")
    return key


def revoke(conn: Connection, key_id: str, *, now: float) -> ApiKey:
    """Mark a key revoked (idempotent: a revoked key keeps its first revocation time)."""
    import sqlalchemy as sa

    key = require_key(conn, key_id, for_update=True)
    if key.revoked_at is not None:
        return key
    t = tables()
    conn.execute(sa.update(t.keys).where(t.keys.c.id == key.id).values(revoked_at=now))
    return get_key(conn, key.id) or key


def list_keys(conn: Connection, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first."""
    import sqlalchemy as sa

    t = tables()
    q = sa.select(t.keys).order_by(t.keys.c.created, t.keys.c.id)
    if not include_revoked:
        q = q.where(t.keys.c.revoked_at.is_(None))
    return [key_from_row(r) for r in conn.execute(q).mappings()]


def authenticate(conn: Connection, token: str) -> ApiKey | None:
    """The active key whose token this is, else ``None`` (malformed, unknown, revoked, wrong)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_row = _row(Sql(conn), parsed.key_id)
    stored = key_row["secret_hash"] if key_row is not None else "0" * 64
    ok = hmac.compare_digest(hash_secret(parsed.secret), str(stored))
    if not ok or key_row is None:
        return None
    key = key_from_row(key_row)
    return key if key.active else None

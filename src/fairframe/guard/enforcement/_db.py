"""The enforcement database: one URL, SQLite (default) or PostgreSQL, and its tables.

``sqlite:///path/guard.db``
    One file, WAL mode, a busy timeout; safe for several processes on one machine. Write
    transactions start with ``BEGIN IMMEDIATE`` so read-modify-write sequences (token buckets, the
    log chain head) are serialised. Within one process, writers to the same file first queue on
    a lock, so they wake as soon as the previous writer commits instead of polling in SQLite's
    busy handler (which sleeps 1, 2, 5, 10 ... ms between tries).
``postgresql+psycopg://user:password@host:5432/dbname``
    For several service instances sharing state (``postgresql://`` and ``postgres://`` mean the
    same). Read-modify-write sequences lock their row with ``SELECT ... FOR UPDATE``.

The per-request statements are fixed SQL text (:class:`Statement`) run on the driver's connection
inside the SQLAlchemy transaction (:class:`Sql`), which skips SQLAlchemy's expression
compilation; everything else uses SQLAlchemy Core.

Tables are created on first open, together with ``guard_meta`` holding the schema version; a
database written by a newer Fairframe (higher version) is refused with a
:class:`~fairframe.errors.StoreError`. SQLAlchemy (extra ``service``) and psycopg (extra
``postgres``) are imported only when a database is opened.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fairframe._deps import require
from fairframe.errors import CommitUnknownError, ConfigError, StoreError
from fairframe.guard.enforcement._common import GENESIS_HASH

if TYPE_CHECKING:
    from sqlalchemy import Connection, CursorResult, Engine, Table
    from sqlalchemy.sql.dml import Insert

__all__ = [
    "SCHEMA_VERSION",
    "Database",
    "FileLock",
    "Sql",
    "Statement",
    "Tables",
    "inserted_id",
    "redact_url",
    "tables",
]

#: Version of the table layout this code writes; a database with a higher one is refused.
SCHEMA_VERSION = 1

#: Key of the PostgreSQL advisory lock held while creating tables (any fixed 64-bit number).
_INIT_LOCK = 0x6666_6775_6172_6400

_URL_HELP = "use sqlite:///path/guard.db or postgresql+psycopg://user:password@host:5432/dbname"

_BEGIN = {"IMMEDIATE": "BEGIN IMMEDIATE", "DEFERRED": "BEGIN DEFERRED"}

# a ``:name`` parameter (not the ``::`` of a PostgreSQL cast)
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class FileLock:
    """The in-process lock of one SQLite file that write transactions hold (re-entrant).

    Writers in one process queue here rather than in SQLite's busy handler, which sleeps 1, 2,
    5, 10 ... ms between tries, so a writer starts as soon as the previous one commits. A forked
    child gets fresh, unheld locks.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def acquire(self) -> None:
        """Wait for the lock."""
        self._lock.acquire()

    def release(self) -> None:
        """Let the next writer in."""
        self._lock.release()

    def _reset(self) -> None:
        self._lock = threading.RLock()


_FILE_LOCKS: dict[str, FileLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: str) -> FileLock:
    key = os.path.realpath(os.path.expanduser(path))
    with _FILE_LOCKS_GUARD:
        lock = _FILE_LOCKS.get(key)
        if lock is None:
            lock = _FILE_LOCKS[key] = FileLock()
        return lock


def _locks_after_fork() -> None:  # pragma: no cover - runs in forked children
    global _FILE_LOCKS_GUARD
    _FILE_LOCKS_GUARD = threading.Lock()
    for lock in _FILE_LOCKS.values():
        lock._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_locks_after_fork)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (in the netloc and in a query string)."""
    out = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&;\s]*", r"\1***", out)


@dataclass(frozen=True)
class Tables:
    """The enforcement tables (SQLAlchemy Core ``Table`` objects)."""

    meta: Table
    keys: Table
    buckets: Table
    accounts: Table
    strikes: Table
    cooldowns: Table
    log: Table
    log_head: Table
    reviews: Table
    review_events: Table
    incidents: Table


@functools.cache
def tables() -> Tables:
    """Build the table definitions once (imports SQLAlchemy)."""
    sa = _sqlalchemy()
    md = sa.MetaData()
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    key_id = sa.String(32)
    hash_t = sa.String(64)
    name_t = sa.String(200)

    def ts(name: str, nullable: bool = False) -> Any:
        return sa.Column(name, sa.Double(), nullable=nullable)

    meta = sa.Table(
        "guard_meta", md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    keys = sa.Table(
        "guard_keys", md,
        sa.Column("id", key_id, primary_key=True),
        sa.Column("name", name_t, nullable=False),
        sa.Column("secret_hash", hash_t, nullable=False),
        sa.Column("roles", sa.String(100), nullable=False),
        sa.Column("rate_per_s", sa.Double(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        ts("created"),
        ts("revoked_at", True),
    )
    buckets = sa.Table(
        "guard_buckets", md,
        sa.Column("key_id", key_id, primary_key=True),
        sa.Column("tokens", sa.Double(), nullable=False),
        ts("updated"),
    )
    accounts = sa.Table(
        "guard_accounts", md,
        sa.Column("key_id", key_id, primary_key=True),
        ts("suspended_at", True),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        ts("cooldown_until", True),
        sa.Column("cooldown_reason", sa.Text(), nullable=True),
        ts("reinstated_at", True),
        sa.Column("reinstated_by", name_t, nullable=True),
    )
    strikes = sa.Table(
        "guard_strikes", md,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("key_id", key_id, nullable=False, index=True),
        sa.Column("decision_id", sa.BigInteger(), nullable=True, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("weight", sa.Double(), nullable=False),
        ts("created"),
        ts("removed_at", True),
        sa.Column("removed_reason", sa.Text(), nullable=True),
    )
    cooldowns = sa.Table(
        "guard_cooldowns", md,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("key_id", key_id, nullable=False, index=True),
        ts("started"),
        ts("until"),
    )
    log = sa.Table(
        "guard_log", md,
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        ts("created"),
        sa.Column("key_id", key_id, nullable=True, index=True),
        sa.Column("prompt_sha256", hash_t, nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("image_sha256", hash_t, nullable=True, index=True),
        sa.Column("policy_version", name_t, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("prev_hash", hash_t, nullable=False),
        sa.Column("entry_hash", hash_t, nullable=False),
    )
    log_head = sa.Table(
        "guard_log_head", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", hash_t, nullable=False),
    )
    reviews = sa.Table(
        "guard_reviews", md,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=True, unique=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=True, index=True),
        sa.Column("key_id", key_id, nullable=True),
        sa.Column("prompt_sha256", hash_t, nullable=True),
        sa.Column("action", sa.String(16), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        ts("created"),
        ts("updated"),
        sa.Column("claimed_by", name_t, nullable=True),
        ts("claimed_at", True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("reviewer", name_t, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        ts("resolved_at", True),
        ts("appealed_at", True),
        sa.Column("appeal_reason", sa.Text(), nullable=True),
    )
    review_events = sa.Table(
        "guard_review_events", md,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.BigInteger(), nullable=False, index=True),
        ts("at"),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("actor", name_t, nullable=True),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    incidents = sa.Table(
        "guard_incidents", md,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("key_id", key_id, nullable=True),
        sa.Column("decision_id", sa.BigInteger(), nullable=True),
        sa.Column("image_sha256", hash_t, nullable=True),
        sa.Column("phash", sa.String(64), nullable=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        ts("created"),
        ts("updated"),
        sa.Column("review_id", sa.BigInteger(), nullable=True),
    )
    return Tables(
        meta=meta, keys=keys, buckets=buckets, accounts=accounts, strikes=strikes,
        cooldowns=cooldowns, log=log, log_head=log_head, reviews=reviews,
        review_events=review_events, incidents=incidents,
    )


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an ``INSERT`` just added."""
    pk = result.inserted_primary_key
    if pk is None or pk[0] is None:  # pragma: no cover - every table has an integer key
        raise StoreError("the database did not return the id of a new row")
    return int(pk[0])


#: A row as both drivers return it by default: a tuple in the order of the SELECT list.
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Statement:
    """One SQL statement, written once with ``:name`` parameters, in each dialect's form.

    The per-request paths (authenticate, account status, rate limit, appending to the log) run
    fixed statements on the DB-API connection through :class:`Sql`: SQLAlchemy Core builds,
    compiles and looks up the cache key of an expression on every execution, which costs tens of
    microseconds per statement; a fixed string costs nothing to build, SQLite caches its prepared
    form, and psycopg prepares it on the server after a few uses. Write plain SQL that both
    dialects understand; build statements once, at import.

    Attributes
    ----------
    sqlite:
        The text with ``:name`` parameters and without ``FOR UPDATE`` (a SQLite write
        transaction holds the database lock from ``BEGIN IMMEDIATE`` on).
    postgresql:
        The text with ``%(name)s`` parameters.

    Examples
    --------
    >>> Statement.of("SELECT tokens FROM guard_buckets WHERE key_id = :k FOR UPDATE").postgresql
    'SELECT tokens FROM guard_buckets WHERE key_id = %(k)s FOR UPDATE'
    """

    sqlite: str
    postgresql: str

    @classmethod
    def of(cls, text: str) -> Statement:
        """Both forms of ``text`` (whitespace runs fold to one space)."""
        text = " ".join(text.split())
        if "%" in text:
            raise ValueError("write '%' as a parameter: psycopg reads it as a placeholder")
        return cls(
            sqlite=text.replace(" FOR UPDATE", ""), postgresql=_PARAM.sub(r"%(\1)s", text)
        )


class Sql:
    """Runs :class:`Statement` s on the DB-API connection under a SQLAlchemy connection.

    The statements join the transaction the SQLAlchemy connection has open (``Database.write``
    or ``Database.read``); errors are the driver's own, which those transactions turn into
    :class:`~fairframe.errors.StoreError`.

    Parameters
    ----------
    conn:
        A SQLAlchemy connection inside a transaction.
    """

    __slots__ = ("_dbapi", "_postgres")

    def __init__(self, conn: Connection) -> None:
        self._dbapi: Any = conn.connection.driver_connection
        self._postgres = conn.dialect.name == "postgresql"

    def _execute(self, stmt: Statement, params: Mapping[str, Any] | None) -> Any:
        text = stmt.postgresql if self._postgres else stmt.sqlite
        return self._dbapi.execute(text, params if params is not None else {})

    def one(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row (a tuple), or ``None``."""
        row: Row | None = self._execute(stmt, params).fetchone()
        return row

    def all(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Every row (tuples)."""
        rows: list[Row] = self._execute(stmt, params).fetchall()
        return rows

    def run(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> int:
        """Execute a statement that returns no rows; the number of rows it changed."""
        count: int = self._execute(stmt, params).rowcount
        return count

    def run_many(self, stmt: Statement, params: Sequence[Mapping[str, Any]]) -> None:
        """Execute a statement that returns no rows once per parameter set, in one driver call
        (psycopg pipelines the executions: one round trip instead of one per row)."""
        if params:
            text = stmt.postgresql if self._postgres else stmt.sqlite
            self._dbapi.cursor().executemany(text, list(params))


def _sqlalchemy() -> Any:
    return require("sqlalchemy", purpose="the guard enforcement database", extra="service")


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0].strip()


class Database:
    """An open enforcement database: a SQLAlchemy engine plus transaction helpers.

    Build one with :meth:`open`. Thread-safe: every transaction takes its own pooled connection.

    Parameters
    ----------
    engine:
        The SQLAlchemy engine.
    url:
        The URL with its password redacted (safe to print).
    dialect:
        ``"sqlite"`` or ``"postgresql"``.
    write_lock:
        SQLite: the lock of the database file that write transactions in this process hold.

    Attributes
    ----------
    url:
        The URL with its password redacted (safe to print).
    dialect:
        ``"sqlite"`` or ``"postgresql"``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        url: str,
        dialect: Literal["sqlite", "postgresql"],
        write_lock: FileLock | None = None,
    ):
        self.engine = engine
        self.url = url
        self.dialect: Literal["sqlite", "postgresql"] = dialect
        self._write_lock = write_lock
        # an engine per transaction kind, sharing the pool: options are set once, not on every
        # connection (SQLite: the BEGIN the "begin" listener issues; PostgreSQL: isolation)
        self._write_engine: Engine
        self._read_engine: Engine
        if dialect == "sqlite":
            self._write_engine = engine.execution_options(fairframe_begin="IMMEDIATE")
            self._read_engine = engine.execution_options(fairframe_begin="DEFERRED")
        else:
            self._write_engine = engine
            self._read_engine = engine.execution_options(isolation_level="REPEATABLE READ")
        # statements run through :class:`Sql` raise the driver's errors, not SQLAlchemy's
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._fix = (
            "check that the file is a SQLite database in a writable folder"
            if dialect == "sqlite"
            else "check that the server is running, the database exists, and the URL's host, "
            "port, user and password are right"
        )

    @classmethod
    def open(
        cls,
        url: str,
        *,
        busy_timeout_s: float = 30.0,
        connect_timeout_s: int = 10,
        pool_size: int = 5,
    ) -> Database:
        """Connect, create missing tables and check the schema version.

        Raises
        ------
        MissingDependencyError
            SQLAlchemy (extra ``service``) or psycopg (extra ``postgres``) is not installed.
        ConfigError
            The URL is malformed or names an unsupported database.
        StoreError
            The database cannot be reached or opened, or has a newer schema.
        """
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"guard database URL is empty; {_URL_HELP}")
        sa = _sqlalchemy()
        from sqlalchemy import event
        from sqlalchemy.exc import ArgumentError

        raw = url.strip()
        shown = redact_url(raw)
        for prefix in ("postgres://", "postgresql://"):
            if raw.startswith(prefix):
                raw = "postgresql+psycopg://" + raw[len(prefix):]
        try:
            parsed = sa.engine.make_url(raw)
        except ArgumentError as exc:
            raise ConfigError(f"invalid guard database URL {shown!r}; {_URL_HELP}") from exc
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
        if backend == "sqlite" and driver == "pysqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
                raise ConfigError(
                    f"guard database URL {shown!r} is an in-memory SQLite database, which is not "
                    "shared between connections; use sqlite:///path/guard.db"
                )
            if not database.startswith("file:"):
                try:
                    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create the folder of guard database {shown} ({exc.strerror}); "
                        "choose a writable path"
                    ) from exc
            engine = sa.create_engine(
                parsed,
                connect_args={"timeout": float(busy_timeout_s), "check_same_thread": False},
                pool_size=pool_size,
            )
            busy_ms = int(busy_timeout_s * 1000)

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
                cur = dbapi_conn.cursor()
                try:
                    cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
                    cur.execute("PRAGMA journal_mode = WAL")
                    cur.execute("PRAGMA synchronous = NORMAL")
                finally:
                    cur.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Any) -> None:
                mode = conn.get_execution_options().get("fairframe_begin", "DEFERRED")
                conn.connection.driver_connection.execute(_BEGIN[mode])

            lock = None if database.startswith("file:") else _file_lock(database)
            db = cls(engine, url=shown, dialect="sqlite", write_lock=lock)
        elif backend == "postgresql" and driver == "psycopg":
            require("psycopg", purpose="a PostgreSQL guard database", extra="postgres")
            engine = sa.create_engine(
                parsed,
                connect_args={"connect_timeout": int(connect_timeout_s)},
                pool_size=pool_size,
                pool_pre_ping=True,
            )
            db = cls(engine, url=shown, dialect="postgresql")
        else:
            raise ConfigError(
                f"unsupported guard database URL {shown!r} ({backend}+{driver}); {_URL_HELP}"
            )
        try:
            db._init_schema()
        except BaseException:
            engine.dispose()
            raise
        return db

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def _init_schema(self) -> None:
        sa = _sqlalchemy()
        t = tables()
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INIT_LOCK})
            t.meta.metadata.create_all(conn)
            row = conn.execute(
                sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")
            ).first()
            if row is None:
                conn.execute(
                    sa.insert(t.meta).values(key="schema_version", value=str(SCHEMA_VERSION))
                )
            else:
                try:
                    found = int(row[0])
                except ValueError:
                    found = -1
                if found > SCHEMA_VERSION or found < 1:
                    raise StoreError(
                        f"guard database {self.url} has schema version {row[0]}, which this "
                        f"Fairframe (schema version {SCHEMA_VERSION}) does not understand; "
                        "upgrade Fairframe or use another database"
                    )
            head = conn.execute(sa.select(t.log_head.c.id).where(t.log_head.c.id == 1)).first()
            if head is None:
                conn.execute(sa.insert(t.log_head).values(id=1, last_id=0, last_hash=GENESIS_HASH))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success, rolled back on an exception.

        SQLite: ``BEGIN IMMEDIATE`` (takes the write lock at once, so a read-then-write cannot
        interleave with another writer), after the file's in-process lock. PostgreSQL:
        ``READ COMMITTED``; lock rows you will rewrite with ``SELECT ... FOR UPDATE``, several
        rows of one table in a fixed order (by key), or two transactions can deadlock.

        A database error in the body raises :class:`~fairframe.errors.StoreError` after the
        rollback (nothing was written: the work may be retried); one from the COMMIT raises
        :class:`~fairframe.errors.CommitUnknownError` (it may have been applied: do not redo it).
        """
        with self._transaction(readonly=False) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction with one consistent snapshot (rolled back at the end).

        SQLite: a deferred transaction (WAL snapshot). PostgreSQL: ``REPEATABLE READ``.
        """
        with self._transaction(readonly=True) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, readonly: bool) -> Iterator[Connection]:
        from sqlalchemy.exc import DBAPIError

        engine, lock = (
            (self._read_engine, None) if readonly else (self._write_engine, self._write_lock)
        )
        if lock is not None:
            lock.acquire()
        body_done = False
        try:
            with engine.connect() as conn, conn.begin() as txn:
                yield conn
                body_done = True  # from here on only the commit (or the read's rollback) runs
                if readonly:
                    txn.rollback()
        except (DBAPIError, self._driver_error) as exc:
            if body_done and not readonly:
                raise CommitUnknownError(
                    f"guard database {self.url} failed while committing: {_one_line(exc)}; the "
                    f"change may or may not have been applied; {self._fix}"
                ) from exc
            raise StoreError(
                f"guard database {self.url} failed: {_one_line(exc)}; {self._fix}"
            ) from exc
        finally:
            if lock is not None:
                lock.release()

    def insert_ignore(self, table: Table) -> Insert:
        """``INSERT ... ON CONFLICT DO NOTHING`` for this dialect."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()

"""Opening the database: URLs, errors, schema version, lazy imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fairframe.errors import ConfigError, MissingDependencyError, StoreError
from fairframe.guard.enforcement import SCHEMA_VERSION, EnforcementSettings, Enforcer
from tests.guard.enforcement.conftest import PgServer, raw_sql


def test_import_does_not_load_sqlalchemy() -> None:
    code = (
        "import sys, fairframe.guard, fairframe.guard.enforcement; "
        "bad = [m for m in ('sqlalchemy', 'psycopg') if m in sys.modules]; "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_sqlite_file_and_folder_are_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "guard.db"
    with Enforcer.open(f"sqlite:///{path}") as enf:
        assert enf.dialect == "sqlite" and enf.list_keys() == []
    assert path.exists()
    mode = raw_sql(f"sqlite:///{path}", "PRAGMA journal_mode")
    assert mode[0][0] == "wal"
    assert raw_sql(f"sqlite:///{path}", "SELECT value FROM guard_meta")[0][0] == str(SCHEMA_VERSION)


def test_reopen_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'guard.db'}"
    with Enforcer.open(url) as enf:
        key = enf.create_key("alice").key
    with Enforcer.open(url) as enf:
        assert [k.id for k in enf.list_keys()] == [key.id]


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("", "empty"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("mysql://u:pw@localhost/x", "unsupported"),
        ("not a url", "invalid"),
    ],
)
def test_bad_urls_are_config_errors(url: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        Enforcer.open(url)
    assert "\n" not in str(info.value)
    assert "pw" not in str(info.value)


def test_unreachable_postgres_names_redacted_url_and_fix() -> None:
    from tests.guard.enforcement.conftest import _free_port

    pytest.importorskip("psycopg")
    url = f"postgresql://bob:hunter2@127.0.0.1:{_free_port()}/guard"
    settings = EnforcementSettings(connect_timeout_s=2)
    with pytest.raises(StoreError) as info:
        Enforcer.open(url, settings)
    msg = str(info.value)
    assert "hunter2" not in msg and "bob:***@127.0.0.1" in msg
    assert "check that the server is running" in msg and "\n" not in msg


def test_not_a_database_file(tmp_path: Path) -> None:
    path = tmp_path / "guard.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="SQLite database"):
        Enforcer.open(f"sqlite:///{path}")


def test_newer_schema_is_refused(db_url: str) -> None:
    Enforcer.open(db_url).close()
    raw_sql(db_url, "UPDATE guard_meta SET value = :v WHERE key = 'schema_version'",
            {"v": str(SCHEMA_VERSION + 1)})
    with pytest.raises(StoreError, match="upgrade Fairframe"):
        Enforcer.open(db_url)


def test_missing_sqlalchemy_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(MissingDependencyError) as info:
        Enforcer.open(f"sqlite:///{tmp_path / 'g.db'}")
    assert info.value.extra == "service" and info.value.package == "sqlalchemy"


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError) as info:
        Enforcer.open("postgresql://u@127.0.0.1:1/x")
    assert info.value.extra == "postgres" and info.value.package == "psycopg"


def test_postgres_scheme_aliases(pg_server: PgServer) -> None:
    url = pg_server.new_schema_url().replace("postgresql+psycopg://", "postgres://")
    with Enforcer.open(url) as enf:
        assert enf.dialect == "postgresql"
        assert enf.url.startswith("postgres://")


def test_two_instances_create_tables_concurrently(db_url: str) -> None:
    import threading

    errors: list[BaseException] = []
    opened: list[Enforcer] = []
    lock = threading.Lock()

    def go() -> None:
        try:
            enf = Enforcer.open(db_url)
            with lock:
                opened.append(enf)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for enf in opened:
        enf.close()
    assert not errors and len(opened) == 4


def test_missing_postgres_database(pg_server: PgServer) -> None:
    url = f"postgresql+psycopg://{pg_server.user}:pw@{pg_server.host}:{pg_server.port}/nope"
    with pytest.raises(StoreError) as info:
        Enforcer.open(url)
    msg = str(info.value)
    assert '"nope" does not exist' in msg and ":***@" in msg and "\n" not in msg
    assert "the database exists" in msg


def test_sqlite_writers_in_one_process_share_a_lock_per_file(tmp_path: Path) -> None:
    # writers queue on this lock instead of sleeping in SQLite's busy handler
    a_url, b_url = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with Enforcer.open(a_url) as a1, Enforcer.open(a_url) as a2, Enforcer.open(b_url) as b:
        assert a1._db._write_lock is not None
        assert a1._db._write_lock is a2._db._write_lock
        assert a1._db._write_lock is not b._db._write_lock


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_inherit_a_held_write_lock(tmp_path: Path) -> None:
    import threading

    with Enforcer.open(f"sqlite:///{tmp_path / 'a.db'}") as enf:
        lock = enf._db._write_lock
        assert lock is not None
        held, done = threading.Event(), threading.Event()

        def hold() -> None:
            lock.acquire()
            held.set()
            done.wait(30)
            lock.release()

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(30)
        try:
            pid = os.fork()
            if pid == 0:  # child: the lock must be free here
                os._exit(0 if lock._lock.acquire(timeout=5) else 1)
            _, status = os.waitpid(pid, 0)
        finally:
            done.set()
            holder.join()
        assert os.waitstatus_to_exitcode(status) == 0

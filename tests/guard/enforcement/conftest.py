"""Fixtures: an :class:`Enforcer` on SQLite and on a real, throwaway PostgreSQL server.

The PostgreSQL server is one cluster per test session, made with Debian's ``initdb`` and
``pg_ctl`` in a temporary folder, listening on 127.0.0.1 at a free port (unix socket in the same
folder); each test gets its own schema. Postgres refuses to run as root, so as root the cluster
runs as the ``postgres`` system user (or ``nobody``) through ``runuser``/``setpriv``. Without the
binaries the PostgreSQL cases are skipped, unless ``FAIRFRAME_REQUIRE_POSTGRES=1`` (CI), then they
fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fairframe.guard.enforcement import EnforcementSettings, Enforcer

REQUIRE_ENV = "FAIRFRAME_REQUIRE_POSTGRES"
BACKENDS = ["sqlite", "postgres"]


class FakeClock:
    """A settable clock (Unix seconds), safe to read from several threads."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path)) or (0,)


def pg_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for d in dirs:
        if Path(d, "initdb").exists() and Path(d, "pg_ctl").exists():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PgServer:
    """A running throwaway cluster (trust authentication, loopback only)."""

    port: int
    user: str = "fairframe"
    host: str = "127.0.0.1"

    def url(self, schema: str | None = None) -> str:
        """A ``postgresql+psycopg://`` URL, optionally with ``search_path`` set to ``schema``."""
        base = f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/postgres"
        return base if schema is None else f"{base}?options=-csearch_path%3D{schema}"

    def execute(self, sql: str) -> None:
        """Run one statement in autocommit mode."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def new_schema_url(self) -> str:
        """Create an empty schema and return a URL whose tables go there."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE SCHEMA {schema}")
        return self.url(schema)


def _run_as() -> tuple[list[str], int | None, int | None]:
    """Command prefix to drop root (Postgres refuses to run as root), plus that user's ids."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", name, "--"], pw.pw_uid, pw.pw_gid
        if shutil.which("setpriv"):
            return (
                ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--"],
                pw.pw_uid,
                pw.pw_gid,
            )
    return [], None, None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """Start a PostgreSQL cluster for the session; stop and delete it at the end."""
    bindir = pg_bindir()
    if bindir is None:
        _unavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed "
            "(Debian: `apt-get install -y postgresql`)"
        )
        raise AssertionError("unreachable")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable('psycopg is not installed (pip install "fairframe[postgres]")')
    prefix, uid, gid = _run_as()
    if os.geteuid() == 0 and uid is None:
        _unavailable("running as root without a 'postgres' or 'nobody' user to run PostgreSQL as")
    tmp = Path(tempfile.mkdtemp(prefix="ff-pg-"))
    if uid is not None and gid is not None:
        os.chown(tmp, uid, gid)
    data, log = tmp / "data", tmp / "server.log"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], cwd=tmp, env=env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )

    server: PgServer | None = None
    try:
        init = run(
            str(bindir / "initdb"), "-D", str(data), "-U", "fairframe", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )
        if init.returncode != 0:
            pytest.fail(f"initdb failed: {init.stderr.strip()[-2000:]}")
        for _ in range(3):
            port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=100"
            )
            start = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts,
                        "-w", "-t", "30", "start")
            if start.returncode == 0:
                server = PgServer(port=port)
                break
        if server is None:
            text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"pg_ctl start failed: {start.stderr.strip()} {text}")
        yield server
    finally:
        if server is not None or (data / "postmaster.pid").exists():
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgres"``."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of the test's backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'guard.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.new_schema_url()


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test advances by hand."""
    return FakeClock()


MakeEnforcer = Callable[..., Enforcer]


@pytest.fixture
def make_enforcer(db_url: str, clock: FakeClock) -> Iterator[MakeEnforcer]:
    """Open Enforcers on the test's database (``settings`` keyword: overrides as a dict);
    all are closed at the end."""
    opened: list[Enforcer] = []

    def make(*, url: str | None = None, clock_: Any = None, **settings: Any) -> Enforcer:
        enf = Enforcer.open(
            url or db_url,
            EnforcementSettings.model_validate(settings),
            clock=clock if clock_ is None else clock_,
        )
        opened.append(enf)
        return enf

    yield make
    for enf in opened:
        with contextlib.suppress(Exception):
            enf.close()


@pytest.fixture
def enforcer(make_enforcer: MakeEnforcer) -> Enforcer:
    """An Enforcer with default settings and the fake clock."""
    return make_enforcer()


def raw_sql(url: str, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Run SQL straight against the database, bypassing the library (to tamper with it)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()

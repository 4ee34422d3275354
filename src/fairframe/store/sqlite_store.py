"""The default cache: SQLite (WAL mode) for the index, content-addressed blob files for images.

Layout of a cache folder::

    CACHE/
      cache.sqlite          index: images, labels, llm_calls (WAL mode, safe across processes)
      blobs/ab/abcdef….png  image bytes, named by their SHA-256

Writes are crash-safe: a blob is written to a temporary file and renamed into place before its
index row is committed, so a killed process leaves at worst an unreferenced blob, never a row
pointing at a half-written file. Rows are inserted with ``INSERT OR IGNORE``: two runs sharing a
cache that compute the same entry keep the first, and both results are identical by construction
of the keys.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from fairframe._io import atomic_write
from fairframe.errors import CorruptBlobError, InputDataError, StoreError
from fairframe.images import load_image, to_png_bytes
from fairframe.store.keys import hash_bytes
from fairframe.types import JSONValue, LabelResult

__all__ = ["CachedImage", "Store", "VerifyReport"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    key TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    key TEXT PRIMARY KEY,
    result TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS llm_calls (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    request TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class CachedImage:
    """An image entry of the cache.

    Attributes
    ----------
    key:
        The image cache key.
    sha256:
        SHA-256 of the PNG bytes (the blob name).
    width, height:
        Pixel size.
    metadata:
        What the generator recorded (JSON-able).
    """

    key: str
    sha256: str
    width: int
    height: int
    metadata: Mapping[str, JSONValue]


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`Store.verify` found."""

    images_checked: int
    corrupt: tuple[str, ...]
    repaired: bool


class Store:
    """Content-addressed cache of images, labels and LLM calls.

    Parameters
    ----------
    root:
        The cache folder; created if missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.db_path = self.root / "cache.sqlite"
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create cache folder {self.root} ({exc.strerror}); "
                "choose a writable cache_dir"
            ) from exc
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        try:
            self._conn().executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cache database {self.db_path} is unreadable ({exc}); move it away or "
                "choose another cache_dir"
            ) from exc
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        version = self._conn().execute(
            "SELECT value FROM meta WHERE key='schema_version'"
        ).fetchone()[0]
        if int(version) != SCHEMA_VERSION:
            raise StoreError(
                f"cache {self.root} has schema version {version}, this Fairframe reads "
                f"{SCHEMA_VERSION}; use another cache_dir or upgrade Fairframe"
            )

    # -- connections ------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
                conn.execute("PRAGMA busy_timeout=60000")
                _switch_to_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise StoreError(
                    f"cannot open cache database {self.db_path} ({exc}); "
                    "check the path and permissions, or choose another cache_dir"
                ) from exc
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cache database {self.db_path} failed: {exc}") from exc
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- blobs ------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        """Where the PNG blob with this hash lives."""
        return self.blob_dir / sha256[:2] / f"{sha256}.png"

    def _write_blob(self, data: bytes) -> str:
        sha = hash_bytes(data)
        path = self.blob_path(sha)
        if path.exists() and hash_bytes(path.read_bytes()) == sha:
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, fsync=True)
        return sha

    def read_blob(self, sha256: str, *, key: str = "") -> bytes:
        """The bytes of a blob, verified against its hash.

        Raises
        ------
        CorruptBlobError
            The blob is missing or its content changed.
        """
        path = self.blob_path(sha256)
        what = f"cached image {key or sha256}"
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise CorruptBlobError(
                f"{what} is missing its file {path}; run `fairframe cache verify "
                f"{self.root} --repair` to drop broken entries, then rerun"
            ) from exc
        if hash_bytes(data) != sha256:
            raise CorruptBlobError(
                f"{what} is corrupt ({path} does not match its hash); run `fairframe cache "
                f"verify {self.root} --repair` to drop broken entries, then rerun"
            )
        return data

    # -- images -----------------------------------------------------------------------------
    def put_image(self, key: str, image: Image.Image, metadata: Mapping[str, JSONValue]) -> str:
        """Store an image under ``key``; returns its SHA-256. An existing key is kept."""
        return self.put_images([(key, image, metadata)])[0]

    def put_images(
        self, items: Sequence[tuple[str, Image.Image, Mapping[str, JSONValue]]]
    ) -> list[str]:
        """Store several images in one transaction; returns their hashes in order."""
        rows = []
        shas = []
        for key, image, metadata in items:
            sha = self._write_blob(to_png_bytes(image))
            shas.append(sha)
            rows.append(
                (key, sha, image.width, image.height, json.dumps(dict(metadata)), time.time())
            )
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO images(key, sha256, width, height, metadata, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return shas

    def image_entries(self, keys: Iterable[str]) -> dict[str, CachedImage]:
        """The cached entries among ``keys`` (without reading the blobs)."""
        found: dict[str, CachedImage] = {}
        conn = self._conn()
        key_list = list(keys)
        for start in range(0, len(key_list), 500):
            chunk = key_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, sha, w, h, meta in conn.execute(
                f"SELECT key, sha256, width, height, metadata FROM images WHERE key IN ({marks})",
                chunk,
            ):
                found[key] = CachedImage(key, sha, w, h, json.loads(meta))
        return found

    def load_image(self, entry: CachedImage) -> Image.Image:
        """Decode a cached image, verifying its bytes first."""
        data = self.read_blob(entry.sha256, key=entry.key)
        try:
            return load_image(data, source=f"cached image {entry.key}")
        except InputDataError as exc:
            raise CorruptBlobError(str(exc)) from exc

    # -- labels -----------------------------------------------------------------------------
    def put_labels(self, items: Sequence[tuple[str, LabelResult]]) -> None:
        """Store label results in one transaction; existing keys are kept."""
        now = time.time()
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO labels(key, result, created) VALUES (?, ?, ?)",
                [(k, json.dumps(r.to_json()), now) for k, r in items],
            )

    def get_labels(self, keys: Iterable[str]) -> dict[str, LabelResult]:
        """The cached label results among ``keys``."""
        found: dict[str, LabelResult] = {}
        conn = self._conn()
        key_list = list(keys)
        for start in range(0, len(key_list), 500):
            chunk = key_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, result in conn.execute(
                f"SELECT key, result FROM labels WHERE key IN ({marks})", chunk
            ):
                found[key] = LabelResult.from_json(json.loads(result))
        return found

    # -- LLM calls --------------------------------------------------------------------------
    def get_llm(self, key: str) -> str | None:
        """A cached LLM reply, or ``None``."""
        row = self._conn().execute("SELECT response FROM llm_calls WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_llm(self, key: str, request: Mapping[str, Any], response: str) -> None:
        """Store an LLM reply with the request that produced it."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO llm_calls(key, response, request, created) "
                "VALUES (?, ?, ?, ?)",
                (key, response, json.dumps(dict(request)), time.time()),
            )

    # -- maintenance ------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Number of entries per table."""
        conn = self._conn()
        return {
            t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in ("images", "labels", "llm_calls")
        }

    def verify(self, *, repair: bool = False) -> VerifyReport:
        """Check every image blob against its hash; with ``repair``, drop the broken entries.

        Dropped images are regenerated by the next run; labels are keyed by image hash, so labels
        of a regenerated identical image are reused.
        """
        conn = self._conn()
        rows = conn.execute("SELECT key, sha256 FROM images").fetchall()
        corrupt = []
        for key, sha in rows:
            try:
                self.read_blob(sha, key=key)
            except CorruptBlobError:
                corrupt.append(key)
                if repair:
                    self.blob_path(sha).unlink(missing_ok=True)
        if repair and corrupt:
            with self._tx() as tx:
                tx.executemany("DELETE FROM images WHERE key=?", [(k,) for k in corrupt])
        return VerifyReport(len(rows), tuple(corrupt), repair and bool(corrupt))


def _switch_to_wal(conn: sqlite3.Connection, *, wait_s: float = 30.0) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process creates or converts the same
    new database: SQLite answers "database is locked" for that switch without calling the busy
    handler, so two runs starting at once on a fresh cache would otherwise fail."""
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

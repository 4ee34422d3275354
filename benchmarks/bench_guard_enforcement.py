"""Enforcement cost per guard-service request on SQLite, in process (no HTTP).

Per request the service authenticates the API key, reads the account status, takes a rate-limit
token, and after the guard check logs the decision. This measures, over ``--iterations`` requests
with an ``allow`` decision (target: admit + record <= 1.0 ms p50):

1. **old sequence**: ``authenticate`` + ``status`` + ``check_rate`` + ``record`` (four
   transactions);
2. **new**: ``admit`` + ``record`` (two transactions);
3. each call on its own, for the breakdown;
4. **threads**: requests/s and latency of admit + record from ``--threads`` threads sharing one
   Enforcer (the service runs its enforcement calls in a thread pool);
5. **micro-batch**: ``admit_many`` + ``record_many`` for ``--batch`` requests (spread over 8 keys),
   per request: what the service pays per request with micro-batching on (one transaction each
   per batch);
6. **peer**: a bare ``sqlite3`` ``BEGIN IMMEDIATE`` + insert of a similar row + ``COMMIT`` on a
   database with the same pragmas (WAL, ``synchronous = NORMAL``): the floor a SQLite-backed
   hash-chained log cannot go below.

Run: ``python benchmarks/bench_guard_enforcement.py [--database-url URL]``. The database is a
SQLite file in a temporary folder unless ``--database-url`` names another (a PostgreSQL server:
the result file gets a ``_postgresql`` suffix; use an empty database or schema).
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from fairframe.guard import Action, Decision  # noqa: E402
from fairframe.guard.enforcement import EnforcementSettings, Enforcer, RecordRequest  # noqa: E402

WARMUP = 200


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[int(q * (len(s) - 1))], 4)


def summary(ms: list[float]) -> dict[str, float]:
    return {"p50": pct(ms, 0.5), "p95": pct(ms, 0.95), "p99": pct(ms, 0.99)}


def timed(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def decision(i: int) -> Decision:
    return Decision(
        Action.ALLOW,
        {"hate": 0.01, "violence": 0.02 + (i % 7) / 100, "sexual": 0.0},
        prompt_in=f"a red fox in the snow, oil painting, {i}",
        policy_version="default/1",
    )


def threaded(enf: Enforcer, token: str, n_threads: int, n_requests: int) -> dict[str, Any]:
    per = n_requests // n_threads
    latencies: list[float] = []
    lock = threading.Lock()
    dec = decision(0)

    def work() -> None:
        mine = []
        for _ in range(per):
            t = time.perf_counter()
            adm = enf.admit(token)
            assert adm.allowed and adm.key is not None
            enf.record(dec, key_id=adm.key.id)
            mine.append((time.perf_counter() - t) * 1e3)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    return {"threads": n_threads, "requests": per * n_threads,
            "requests_per_s": round(per * n_threads / elapsed, 1), "latency_ms": summary(latencies)}


def bare_sqlite(path: Path, n: int) -> list[float]:
    """BEGIN IMMEDIATE + INSERT of a log-like row + COMMIT with the sqlite3 module alone."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE log (id INTEGER PRIMARY KEY, created REAL NOT NULL, key_id TEXT, "
        "prompt_sha256 TEXT, policy_version TEXT NOT NULL, action TEXT NOT NULL, "
        "categories TEXT NOT NULL, prev_hash TEXT NOT NULL, entry_hash TEXT NOT NULL)"
    )
    digest = hashlib.sha256(b"x").hexdigest()
    counter = iter(range(1, n + WARMUP + 1))

    def one() -> None:
        i = next(counter)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (i, time.time(), "0123456789ab", digest, "default/1", "allow",
             '{"hate":0.01,"sexual":0.0,"violence":0.02}', digest, digest),
        )
        conn.execute("COMMIT")

    try:
        return timed(one, n)
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--thread-requests", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=32, help="requests per micro-batch")
    ap.add_argument("--database-url", default=None,
                    help="enforcement store (default: SQLite in a temporary folder)")
    args = ap.parse_args()
    n = args.iterations

    with tempfile.TemporaryDirectory(prefix="fairframe-bench-enf-") as tmp:
        root = Path(tmp)
        settings = EnforcementSettings(default_rate_per_s=1e6, default_burst=10**9,
                                       pool_size=max(5, args.threads))
        url = args.database_url or f"sqlite:///{root / 'guard.db'}"
        with Enforcer.open(url, settings) as enf:
            token = enf.create_key("bench").token
            tokens = [enf.create_key(f"bench-{i}").token for i in range(8)]
            key = enf.authenticate(token)
            assert key is not None
            decisions = [decision(i) for i in range(16)]
            count = iter(range(10**9))

            def old_sequence() -> None:
                k = enf.authenticate(token)
                assert k is not None
                assert enf.status(k.id).state == "active"
                assert enf.check_rate(k.id).allowed
                enf.record(decisions[next(count) % 16], key_id=k.id)

            def new_sequence() -> None:
                adm = enf.admit(token)
                assert adm.allowed and adm.key is not None
                enf.record(decisions[next(count) % 16], key_id=adm.key.id)

            # interleave so WAL checkpoints and file growth hit both alike
            old_ms: list[float] = []
            new_ms: list[float] = []
            for _ in range(4):
                old_ms += timed(old_sequence, n // 4)
                new_ms += timed(new_sequence, n // 4)
            calls = {
                "authenticate": timed(lambda: enf.authenticate(token), n),
                "status": timed(lambda: enf.status(key.id), n),
                "check_rate": timed(lambda: enf.check_rate(key.id), n),
                "admit": timed(lambda: enf.admit(token), n),
                "record_allow": timed(
                    lambda: enf.record(decisions[next(count) % 16], key_id=key.id), n
                ),
            }
            batch = [tokens[i % len(tokens)] for i in range(args.batch)]

            def micro_batch() -> None:
                adms = enf.admit_many(batch)
                enf.record_many([RecordRequest(decisions[next(count) % 16],
                                               None if a.key is None else a.key.id)
                                 for a in adms])

            batch_ms = [ms / args.batch for ms in timed(micro_batch, max(1, n // args.batch))]
            threads = threaded(enf, token, args.threads, args.thread_requests)
            assert enf.verify_log().ok
        peer_ms = bare_sqlite(root / "bare.db", n)

    old, new, peer = summary(old_ms), summary(new_ms), summary(peer_ms)
    per_batch = summary(batch_ms)
    store = url.split(":", 1)[0].split("+", 1)[0]
    write_result("guard_enforcement" + ("" if store == "sqlite" else f"_{store}"), {
        "store": store,
        "iterations": n,
        "old_authenticate_status_check_rate_record_ms": old,
        "new_admit_record_ms": {**new, "target_p50": 1.0},
        "speedup_p50": round(old["p50"] / new["p50"], 2),
        "per_call_ms": {name: summary(ms) for name, ms in calls.items()},
        "micro_batch": {"batch": args.batch, "keys": len(tokens),
                        "admit_many_record_many_ms_per_request": per_batch,
                        "per_request_over_batched_p50": round(new["p50"] / per_batch["p50"], 2)},
        "threads": threads,
        "peer_bare_sqlite3_insert_commit_ms": peer,
        "new_over_peer_p50": round(new["p50"] / peer["p50"], 2),
        "notes": "SQLite file in a temporary folder, WAL, synchronous=NORMAL; allow decisions "
                 "only (a block also records a strike and a review item); p99 includes WAL "
                 "checkpoints",
    })


if __name__ == "__main__":
    main()

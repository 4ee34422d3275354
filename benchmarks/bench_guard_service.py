"""The guard service on loopback versus the same guard in-process, and its throughput.

Starts ``fairframe guard serve`` in a subprocess (uvicorn, SQLite enforcement store with rate
limits, strikes and the hash-chained log on), then:

1. **Overhead**: p50/p95 of one sequential client's requests minus p50/p95 of
   ``PromptGuard.check`` on the same prompts in this process (target: <= 3 ms added).
2. **Throughput**: ``--requests`` requests from ``--concurrency`` concurrent async clients, for
   requests/s and the error count (target: >= 500 requests/s, no errors). The client runs on the
   same 2 cores as the server, so the number is a floor.
3. **Batched scan**: prompts/s of ``check_batch`` in batches of 64 with the configured stages
   (target with the embedding classifier: >= 500 prompts/s).

Steps 1 and 2 run twice, against a server with micro-batching off and one with it on
(``[service] batching``), and the result gives the ratios on/off (the peer is the same service
without batching, in the same run).

Run: ``python benchmarks/bench_guard_service.py [--embedding] [--modes off,on]
[--database-url URL]``. The store is a fresh SQLite file unless ``--database-url`` names another
(a PostgreSQL server: the result file gets a ``_postgresql`` suffix). The prompts are generated
here (no dataset rows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402

from _common import write_result  # noqa: E402
from fairframe.guard.config import load_guard_config  # noqa: E402
from fairframe.guard.enforcement import EnforcementSettings, Enforcer  # noqa: E402

SUBJECTS = ["a red fox", "an old lighthouse", "a knight in armor", "a woman reading",
            "a city street at night", "two cats on a sofa", "a mountain lake", "a robot chef",
            "a bowl of ramen", "a portrait of a sailor", "a doctor in a hospital"]
STYLES = ["oil painting", "watercolor", "35mm photo", "studio lighting", "octane render",
          "highly detailed", "cinematic", "soft focus", "8k"]
RISKY = ["bloody", "n.a.k.e.d", "gory", "topless"]


def prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(SUBJECTS), rng.choice(STYLES), rng.choice(STYLES)]
        if rng.random() < 0.2:
            words.insert(0, rng.choice(RISKY))
        out.append(", ".join(words))
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[int(q * (len(s) - 1))], 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(port: int, token: str, items: list[str], concurrency: int) -> dict[str, Any]:
    """Keep-alive HTTP/1.1 over raw asyncio streams: a load generator light enough not to starve
    the server of the machine's two cores (httpx's async client costs more CPU per request than
    the server does). Every response is parsed for its status and read to its Content-Length."""
    queue = list(items)
    codes: dict[int, int] = {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                body = json.dumps({"prompt": queue.pop()}).encode()
                writer.write(
                    b"POST /v1/prompts/check HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\n"
                    + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
                    .encode() + body)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                codes[status] = codes.get(status, 0) + 1
        finally:
            writer.close()
            await writer.wait_closed()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"requests": len(items), "seconds": round(elapsed, 3),
            "requests_per_s": round(len(items) / elapsed, 1), "status_codes": codes,
            "errors": sum(v for k, v in codes.items() if k != 200),
            "client": "raw asyncio keep-alive HTTP/1.1"}


def serve(work: Path, cfg_text: str, mode: str, token: str, seq: list[str],
          args: argparse.Namespace) -> dict[str, Any]:
    """Start ``fairframe guard serve`` with ``[service] batching = mode``; measure one
    sequential client's latency and the concurrent throughput."""
    cfg_path = work / f"guard-{mode}.toml"
    cfg_path.write_text(cfg_text.replace("[service]\n", f"[service]\nbatching = \"{mode}\"\n"))
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fairframe", "guard", "serve", "--config", str(cfg_path),
         "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the service did not start: "
                                   + (proc.stderr.read().decode() if proc.stderr else ""))
            time.sleep(0.2)
        served = []
        with httpx.Client(base_url=url, timeout=30) as c:
            for p in seq[:20]:
                c.post("/v1/prompts/check", json={"prompt": p},
                       headers={"Authorization": f"Bearer {token}"})
            for p in seq:
                t = time.perf_counter()
                r = c.post("/v1/prompts/check", json={"prompt": p},
                           headers={"Authorization": f"Bearer {token}"})
                served.append((time.perf_counter() - t) * 1e3)
                assert r.status_code == 200, r.text
        throughput = asyncio.run(load(port, token, prompts(args.requests, seed=3),
                                      args.concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    return {"served_ms": {"p50": pct(served, 0.5), "p95": pct(served, 0.95)},
            "served": served,
            "throughput": {**throughput, "concurrency": args.concurrency, "target_rps": 500}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embedding", action="store_true", help="include the embedding classifier")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--sequential", type=int, default=300)
    ap.add_argument("--modes", type=lambda v: v.split(","), default=["off", "on"],
                    help="micro-batching modes to serve with, comma-separated")
    ap.add_argument("--database-url", default=None,
                    help="enforcement store (default: a fresh SQLite file); e.g. "
                         "postgresql+psycopg://user@127.0.0.1:5432/db for a PostgreSQL server")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fairframe-bench-svc-"))
    cfg_path = work / "guard.toml"
    database_url = args.database_url or f"sqlite:///{work / 'guard.db'}"
    cfg_text = (
        f"[stages.embedding]\nenabled = {'true' if args.embedding else 'false'}\n"
        f"[service]\ndatabase_url = \"{database_url}\"\n"
        "[service.enforcement]\ndefault_rate_per_s = 100000.0\ndefault_burst = 1000000\n"
        # blocked prompts are part of the load: they must not put the bench key on a cool-down
        "[service.enforcement.strikes]\naction_weights = {}\n"
    )
    cfg_path.write_text(cfg_text)
    cfg = load_guard_config(cfg_path)
    enforcer = Enforcer.open(cfg.service.database_url,
                             EnforcementSettings.model_validate(cfg.service.enforcement))
    token = enforcer.create_key("bench").token
    enforcer.close()

    guard = cfg.build_guard()
    seq = prompts(args.sequential, seed=1)
    guard.check_batch(seq[:8])
    inproc = []
    for p in seq:
        t = time.perf_counter()
        guard.check(p)
        inproc.append((time.perf_counter() - t) * 1e3)
    batch_prompts = prompts(2048, seed=2)
    t = time.perf_counter()
    for i in range(0, len(batch_prompts), 64):
        guard.check_batch(batch_prompts[i:i + 64])
    scan_rate = len(batch_prompts) / (time.perf_counter() - t)

    by_mode = {mode: serve(work, cfg_text, mode, token, seq, args) for mode in args.modes}
    modes = {}
    for mode, r in by_mode.items():
        modes[mode] = {
            "served_ms": r["served_ms"],
            "service_overhead_ms": {"p50": round(statistics.median(r["served"])
                                                 - statistics.median(inproc), 3),
                                    "target_p50": 3.0},
            "throughput": r["throughput"],
        }
    ratios = {}
    if "on" in modes and "off" in modes:
        ratios = {
            "requests_per_s_on_over_off": round(modes["on"]["throughput"]["requests_per_s"]
                                                / modes["off"]["throughput"]["requests_per_s"], 2),
            "served_p50_on_over_off": round(modes["on"]["served_ms"]["p50"]
                                            / modes["off"]["served_ms"]["p50"], 2),
        }
    store = database_url.split(":", 1)[0].split("+", 1)[0]
    name = "guard_service" + ("_embedding" if args.embedding else "")
    write_result(name + ("" if store == "sqlite" else f"_{store}"), {
        "stages": list(guard.stage_names),
        "store": store,
        "in_process_ms": {"p50": pct(inproc, 0.5), "p95": pct(inproc, 0.95)},
        "batching": modes,
        "ratios": ratios,
        "batched_check_prompts_per_s": round(scan_rate, 1),
        "notes": "server and client share the machine's cores; enforcement (rate limit, "
                 "strikes, hash-chained log) is part of every served request",
    })


if __name__ == "__main__":
    main()

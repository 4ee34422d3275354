"""Cache lookup throughput: Fairframe's Store against a bare sqlite3 table and a Python dict."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from _common import write_result  # noqa: E402
from fairframe.store import Store, make_key  # noqa: E402
from fairframe.types import LabelResult  # noqa: E402

N = 50_000
IMAGES = 2_000


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1)


def main() -> None:
    keys = [make_key("label", {"i": i}) for i in range(N)]
    misses = [make_key("label", {"i": -i - 1}) for i in range(N)]
    result = LabelResult({"man": 0.7, "woman": 0.2, "unknown": 0.1}, "man")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Store(root / "store") as store:
            t0 = time.perf_counter()
            for start in range(0, N, 1000):
                store.put_labels([(k, result) for k in keys[start:start + 1000]])
            write_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            got = store.get_labels(keys)
            hit_s = time.perf_counter() - t0
            assert len(got) == N
            t0 = time.perf_counter()
            assert store.get_labels(misses) == {}
            miss_s = time.perf_counter() - t0

            rng = np.random.default_rng(0)
            imgs = [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
                    for _ in range(IMAGES)]
            ikeys = [make_key("image", {"i": i}) for i in range(IMAGES)]
            t0 = time.perf_counter()
            for start in range(0, IMAGES, 50):
                store.put_images([(k, im, {}) for k, im in
                                  zip(ikeys[start:start + 50], imgs[start:start + 50],
                                      strict=True)])
            img_write_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            entries = store.image_entries(ikeys)
            img_lookup_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            for k in ikeys[:500]:
                store.load_image(entries[k])
            img_load_s = time.perf_counter() - t0

        # peer 1: bare sqlite3, same batching of IN queries, values not decoded
        conn = sqlite3.connect(root / "bare.sqlite")
        conn.execute("CREATE TABLE t (key TEXT PRIMARY KEY, result TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(k, "{}") for k in keys])
        conn.commit()
        t0 = time.perf_counter()
        n = 0
        for start in range(0, N, 500):
            chunk = keys[start:start + 500]
            n += len(conn.execute(
                f"SELECT key, result FROM t WHERE key IN ({','.join('?' * len(chunk))})",
                chunk).fetchall())
        bare_s = time.perf_counter() - t0
        conn.close()
        # peer 2: a dict
        d = dict.fromkeys(keys, result)
        t0 = time.perf_counter()
        _ = [d[k] for k in keys]
        dict_s = time.perf_counter() - t0

    write_result("cache", {
        "label_entries": N,
        "label_lookups_per_s_hit": _rate(N, hit_s),
        "label_lookups_per_s_miss": _rate(N, miss_s),
        "label_writes_per_s": _rate(N, write_s),
        "bare_sqlite_lookups_per_s": _rate(N, bare_s),
        "dict_lookups_per_s": _rate(N, dict_s),
        "ratio_store_to_bare_sqlite": round(hit_s / bare_s, 2),
        "image_entries": IMAGES,
        "image_writes_per_s": _rate(IMAGES, img_write_s),
        "image_index_lookups_per_s": _rate(IMAGES, img_lookup_s),
        "image_verified_loads_per_s": _rate(500, img_load_s),
    })


if __name__ == "__main__":
    main()

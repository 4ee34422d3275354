from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.backends.fake import FakeLLM
from fairframe.errors import CorruptBlobError, StoreError
from fairframe.store import CachedLLM, Store, canonical_json, make_key
from fairframe.types import ChatMessage, LabelResult


def _img(seed: int) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


def test_canonical_json_is_order_and_type_stable() -> None:
    assert canonical_json({"b": 1.0, "a": (1, 2)}) == canonical_json({"a": [1, 2], "b": 1})
    assert make_key("image", {"x": 1}) != make_key("label", {"x": 1})
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_key_changes_with_every_field() -> None:
    base = {"prompt": "p", "seed": 0, "negative_prompt": None, "height": 32, "width": 32,
            "guidance_scale": 7.5, "num_inference_steps": 2, "generator": {"model": "m"}}
    keys = {make_key("image", base)}
    for field, value in [("prompt", "q"), ("seed", 1), ("negative_prompt", "n"), ("height", 64),
                         ("width", 64), ("guidance_scale", 7.0), ("num_inference_steps", 3),
                         ("generator", {"model": "m", "revision": "x"})]:
        keys.add(make_key("image", {**base, field: value}))
    assert len(keys) == 9


def test_images_round_trip_and_are_deduplicated(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        sha = store.put_image("image:a", _img(0), {"seed": 0})
        store.put_image("image:b", _img(0), {"seed": 0})  # same pixels, same blob
        entries = store.image_entries(["image:a", "image:b", "image:missing"])
        assert set(entries) == {"image:a", "image:b"}
        assert entries["image:a"].sha256 == sha == entries["image:b"].sha256
        loaded = store.load_image(entries["image:a"])
        assert np.array_equal(np.asarray(loaded), np.asarray(_img(0)))
        assert len(list((tmp_path / "blobs").rglob("*.png"))) == 1
        # first write wins
        store.put_image("image:a", _img(1), {"seed": 1})
        assert store.image_entries(["image:a"])["image:a"].sha256 == sha


def test_labels_and_llm_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        r = LabelResult({"a": 0.25, "b": 0.5, "unknown": 0.25}, "b")
        store.put_labels([("label:1", r)])
        assert store.get_labels(["label:1", "label:2"]) == {"label:1": r}
        llm = CachedLLM(FakeLLM(), store)
        msgs = [ChatMessage("user", "hi")]
        assert not llm.is_cached(msgs)
        first = llm.chat(msgs)
        assert llm.is_cached(msgs)
        assert llm.chat(msgs) == first
        assert (llm.hits, llm.misses) == (1, 1)
        assert store.counts() == {"images": 0, "labels": 1, "llm_calls": 1}


def test_corrupt_blob_is_detected_and_repaired(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        sha = store.put_image("image:a", _img(0), {})
        path = store.blob_path(sha)
        data = bytearray(path.read_bytes())
        data[-20] ^= 0xFF
        path.write_bytes(bytes(data))
        entry = store.image_entries(["image:a"])["image:a"]
        with pytest.raises(CorruptBlobError, match="cache verify"):
            store.load_image(entry)
        report = store.verify()
        assert report.corrupt == ("image:a",) and not report.repaired
        report = store.verify(repair=True)
        assert report.repaired
        assert store.image_entries(["image:a"]) == {}
        # the same image can be stored again and reads back fine
        store.put_image("image:a", _img(0), {})
        assert store.load_image(store.image_entries(["image:a"])["image:a"]).size == (16, 16)


def test_unwritable_cache_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="writable cache_dir"):
        Store(blocker / "sub")


def _writer(root: str, worker: int, n: int) -> None:
    with Store(root) as store:
        for i in range(n):
            # both workers write the shared keys 0..n-1 and one private key each
            store.put_image(f"image:{i}", _img(i), {"worker": worker})
            store.put_labels([(f"label:{i}", LabelResult({"a": 1.0, "unknown": 0.0}))])
        store.put_image(f"image:own-{worker}", _img(1000 + worker), {})


def test_two_processes_share_a_cache_without_corruption(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 25)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Store(tmp_path) as store:
        assert store.counts()["images"] == 27
        assert store.counts()["labels"] == 25
        assert store.verify().corrupt == ()


def test_written_files_are_not_private(tmp_path: Path) -> None:
    import os
    import stat

    from fairframe._io import atomic_write

    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.json", "{}")
        with Store(tmp_path / "cache") as store:
            sha = store.put_image("image:a", _img(0), {})
            blob = store.blob_path(sha)
    finally:
        os.umask(mask)
    for path in (tmp_path / "a.json", blob):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(tmp_path.glob(".a.json.*"))


def test_wal_switch_waits_for_another_process_holding_the_new_database(tmp_path: Path) -> None:
    """Two runs starting at once on a fresh cache: the second's journal-mode switch meets a
    lock that SQLite reports without calling the busy handler; it must wait, not fail."""
    import sqlite3
    import threading

    from fairframe.store.sqlite_store import _switch_to_wal

    db = tmp_path / "x.sqlite"
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t(x)")
    holder.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    timer.start()
    other = sqlite3.connect(db, isolation_level=None, timeout=0.0, check_same_thread=False)
    try:
        _switch_to_wal(other, wait_s=10.0)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        timer.join()
        other.close()
        holder.close()

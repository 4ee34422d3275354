"""Continuous micro-batching: results per caller, batch sizes under load, failures, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from fairframe.errors import ConfigError
from fairframe.guard.batching import MicroBatcher
from fairframe.guard.pipeline import GuardUnavailableError


class SlowDouble:
    """Doubles every item; the first call blocks until released, so that items pile up."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls: list[list[int]] = []

    def __call__(self, items: list[int]) -> Sequence[int]:
        self.calls.append(list(items))
        self.started.set()
        self.release.wait(5)
        return [2 * x for x in items]


def test_one_item_runs_alone_and_at_once() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: [x + 1 for x in xs])
    try:
        t0 = time.perf_counter()
        assert batcher.submit(1) == 2
        assert time.perf_counter() - t0 < 1.0  # no timed wait for a batch to fill
        assert batcher.batch_sizes == [1]
    finally:
        batcher.close()


def test_items_queued_while_a_batch_runs_form_the_next_batch() -> None:
    fn = SlowDouble()
    seen: list[int] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(fn, max_batch=4, on_batch=seen.append)
    try:
        first = threading.Thread(target=batcher.submit, args=(100,))
        first.start()
        assert fn.started.wait(5)
        # nine more arrive while the first batch is blocked
        results: dict[int, object] = {}

        def one(x: int) -> None:
            results[x] = batcher.submit(x)

        threads = [threading.Thread(target=one, args=(x,)) for x in range(9)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while batcher._queue.qsize() < 9 and time.monotonic() < deadline:
            time.sleep(0.005)
        fn.release.set()
        for t in threads:
            t.join(10)
        first.join(10)
    finally:
        batcher.close()
    assert results == {x: 2 * x for x in range(9)}  # every caller got its own result
    assert fn.calls[0] == [100]
    assert [len(c) for c in fn.calls[1:]] == [4, 4, 1]  # max_batch respected, nothing waits
    assert sorted(x for c in fn.calls[1:] for x in c) == list(range(9))
    assert seen == batcher.batch_sizes == [1, 4, 4, 1]


def test_max_wait_collects_items_that_arrive_shortly_after() -> None:
    calls: list[list[int]] = []

    def fn(xs: list[int]) -> list[int]:
        calls.append(list(xs))
        return xs

    batcher: MicroBatcher[int, int] = MicroBatcher(fn, max_batch=8, max_wait_ms=300)
    try:
        out: dict[int, int] = {}
        a = threading.Thread(target=lambda: out.__setitem__(1, batcher.submit(1)))
        a.start()
        time.sleep(0.05)
        assert batcher.submit(2) == 2
        a.join(5)
    finally:
        batcher.close()
    assert out == {1: 1}
    assert calls == [[1, 2]]


def test_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_runs() -> None:
    state = {"fail": True}

    def fn(xs: list[int]) -> list[int]:
        if state["fail"]:
            raise GuardUnavailableError("required stage down")
        return xs

    batcher: MicroBatcher[int, int] = MicroBatcher(fn)
    try:
        with pytest.raises(GuardUnavailableError, match="required stage down"):
            batcher.submit(1)
        state["fail"] = False
        assert batcher.submit(3) == 3
    finally:
        batcher.close()


def test_wrong_number_of_results_is_a_clear_error() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: [])
    try:
        with pytest.raises(GuardUnavailableError, match="returned 0 results for 1 items"):
            batcher.submit(1)
    finally:
        batcher.close()


def test_close_runs_what_is_queued_then_refuses_new_items() -> None:
    fn = SlowDouble()
    batcher: MicroBatcher[int, int] = MicroBatcher(fn)
    out: dict[int, int] = {}
    first = threading.Thread(target=lambda: out.__setitem__(1, batcher.submit(1)))
    first.start()
    assert fn.started.wait(5)
    second = threading.Thread(target=lambda: out.__setitem__(2, batcher.submit(2)))
    second.start()
    deadline = time.monotonic() + 5
    while batcher._queue.qsize() < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    closer = threading.Thread(target=batcher.close)
    closer.start()
    fn.release.set()
    for t in (first, second, closer):
        t.join(10)
    assert out == {1: 2, 2: 4}
    with pytest.raises(GuardUnavailableError, match="closed"):
        batcher.submit(3)
    assert not batcher._thread.is_alive()
    batcher.close()  # twice is fine


@pytest.mark.parametrize("kwargs", [{"max_batch": 0}, {"max_batch": True}, {"max_wait_ms": -1},
                                    {"max_wait_ms": 5000}])
def test_bad_options_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        MicroBatcher(lambda xs: xs, **kwargs)  # type: ignore[arg-type]


def test_on_start_runs_on_the_runner_thread_before_the_first_batch() -> None:
    threads: list[str] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(
        lambda xs: threads.append(threading.current_thread().name) or xs,  # type: ignore[func-returns-value]
        on_start=lambda: threads.append(threading.current_thread().name), name="runner-x")
    try:
        assert batcher.started.result(5) is None
        assert batcher.submit(7) == 7
    finally:
        batcher.close()
    assert threads == ["runner-x", "runner-x"]


def test_a_failing_on_start_is_reported_and_batches_still_run() -> None:
    def boom() -> None:
        raise GuardUnavailableError("model missing")

    batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: xs, on_start=boom)
    try:
        with pytest.raises(GuardUnavailableError, match="model missing"):
            batcher.started.result(5)
        assert batcher.submit(1) == 1
    finally:
        batcher.close()


def _pile_up(batcher: MicroBatcher[int, int], items: Sequence[int],
             release: threading.Event) -> dict[int, object]:
    """Submit ``items`` from threads while the runner is blocked, then release it."""
    results: dict[int, object] = {}

    def one(x: int) -> None:
        try:
            results[x] = batcher.submit(x)
        except Exception as exc:
            results[x] = exc

    threads = [threading.Thread(target=one, args=(x,)) for x in items]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while batcher._queue.qsize() < len(items) - 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for t in threads:
        t.join(10)
    return results


def test_a_batch_that_fails_for_one_item_fails_only_that_caller() -> None:
    release = threading.Event()
    calls: list[list[int]] = []

    def fn(xs: list[int]) -> list[int]:
        calls.append(list(xs))
        release.wait(5)
        if 13 in xs:
            raise ValueError("13 is unlucky")
        return [x + 1 for x in xs]

    batcher: MicroBatcher[int, int] = MicroBatcher(fn, max_batch=8)
    try:
        results = _pile_up(batcher, [1, 2, 13, 4, 5], release)
    finally:
        batcher.close()
    assert isinstance(results.pop(13), ValueError)
    assert results == {1: 2, 2: 3, 4: 5, 5: 6}
    assert any(len(c) > 1 and 13 in c for c in calls)  # it did share a batch, then ran alone
    assert [13] in calls


def test_a_failing_metrics_hook_never_stops_the_runner(caplog: pytest.LogCaptureFixture) -> None:
    def hook(n: int) -> None:
        raise RuntimeError("metrics down")

    batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: xs, on_batch=hook)
    try:
        assert batcher.submit(1) == 1
        assert batcher.submit(2) == 2
        assert batcher.alive
    finally:
        batcher.close()
    assert "on_batch hook failed" in caplog.text
    assert not batcher.alive


def test_submit_times_out_on_a_hanging_batch_function() -> None:
    release = threading.Event()
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda xs: release.wait(5) and xs)  # type: ignore[arg-type,return-value]
    try:
        with pytest.raises(GuardUnavailableError, match="no guard decision within 0.05 s"):
            batcher.submit(1, timeout=0.05)
    finally:
        release.set()
        batcher.close()


def test_a_cancelled_item_is_dropped_and_the_rest_of_its_batch_is_served() -> None:
    fn = SlowDouble()
    batcher: MicroBatcher[int, int] = MicroBatcher(fn, max_batch=8)
    try:
        first = batcher.submit_future(100)
        assert fn.started.wait(5)
        futures = [batcher.submit_future(x) for x in range(4)]
        assert futures[1].cancel()  # its caller gave up while the batch was queued
        fn.release.set()
        assert first.result(5) == 200
        assert [f.result(5) for i, f in enumerate(futures) if i != 1] == [0, 4, 6]
        assert fn.calls[1] == [0, 2, 3]
        assert batcher.submit(5) == 10  # the runner goes on
        assert batcher.alive
    finally:
        batcher.close()

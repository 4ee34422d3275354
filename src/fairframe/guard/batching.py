"""Continuous micro-batching: many threads ask for one item each, one thread runs them in batches.

A model-backed guard stage is several times faster per prompt on a batch than on one prompt
(the MiniLM classifier: ~900 prompts/s batched versus ~140/s one at a time on 2 cores), but an
HTTP service receives prompts one request at a time. :class:`MicroBatcher` bridges the two: each
request thread calls :meth:`MicroBatcher.submit` and blocks; a single runner thread takes
**everything queued** (up to ``max_batch`` items), calls the batch function once, and hands each
caller its own result or its own exception.

The batching is *continuous*, not timed: the runner never waits for a batch to fill (unless
``max_wait_ms`` is set). At low load every item runs alone, as soon as it arrives (the hand-off
costs ~0.06 ms; with a PyTorch model the service measured +1 ms p50 on 2 cores, see
``docs/guard.md``); under load, items that arrive while a batch is running form the next batch,
so the batch size grows with the load by itself.

Failure rules: when the batch function raises for a batch of several items, each item is run
again alone, so every caller gets its own result or its own exception (one prompt's failure
never fails another's request; a guard that fails closed still fails closed for each). A batch
function that returns the wrong number of results is a
:class:`~fairframe.guard.pipeline.GuardUnavailableError`. Nothing leaves a caller waiting: an
error outside the batch function fails that batch's callers, the runner keeps going, and when the
runner stops every queued item fails. :meth:`MicroBatcher.submit` takes a timeout for batch
functions that may hang. A batch function may also return an exception as an item's result and
let the caller raise it: the guard service does, so that a request that was already admitted
(rate-limited, logged) is never run twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Generic, TypeVar

from fairframe.errors import ConfigError
from fairframe.guard.pipeline import GuardUnavailableError

__all__ = ["MicroBatcher"]

_LOG = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class MicroBatcher(Generic[T, R]):
    """Run ``fn`` on batches of the items that :meth:`submit` receives from many threads.

    Parameters
    ----------
    fn:
        ``items -> results``, one result per item, in order.
    max_batch:
        Largest batch handed to ``fn``.
    max_wait_ms:
        How long the runner waits for more items after the first one of a batch (0: never; the
        batch is whatever is queued).
    name:
        Name of the runner thread.
    on_batch:
        Called with the size of every batch before it runs (metrics).
    on_start:
        Run once on the runner thread before the first batch (e.g. loading and warming up
        models); :attr:`started` resolves when it has run, with its exception if it raised
        (batches run anyway: their callers see the stage's own failure).

    Why one runner thread matters beyond batching: PyTorch's CPU build keeps one OpenMP thread
    team *per calling thread*, and idle teams spin. When several threads take turns running a
    model, the teams compete for the cores (MiniLM on 2 cores: 7.5 ms per prompt from one
    thread, 15 ms once a second thread had used it). Running every model call, the warm-up
    included, on the runner thread avoids that.

    Examples
    --------
    >>> batcher = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch=8)
    >>> batcher.submit(21)
    42
    >>> batcher.close()
    """

    def __init__(self, fn: Callable[[list[T]], Sequence[R]], *, max_batch: int = 32,
                 max_wait_ms: float = 0.0, name: str = "fairframe-batcher",
                 on_batch: Callable[[int], None] | None = None,
                 on_start: Callable[[], object] | None = None) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        if not isinstance(max_wait_ms, int | float) or not 0.0 <= max_wait_ms <= 1000.0:
            raise ConfigError(f"max_wait_ms must be in [0, 1000], got {max_wait_ms!r}")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = float(max_wait_ms) / 1e3
        self.on_batch = on_batch
        self.on_start = on_start
        #: Resolves once ``on_start`` has run on the runner thread (at once without one).
        self.started: Future[None] = Future()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        #: Sizes of the batches run so far (the last 1,000), for metrics and tests.
        self.batch_sizes: list[int] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the runner thread has not exited yet (it may be finishing a batch)."""
        return self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether the runner thread is running (``/readyz`` reports it)."""
        return self._thread.is_alive() and not self._closed

    def submit(self, item: T, timeout: float | None = None) -> R:
        """Queue ``item``, wait for its batch to run and return its result (or raise what the
        batch function raised for it).

        Raises
        ------
        GuardUnavailableError
            The batcher is closed or its runner stopped, the batch function returned the wrong
            number of results, or no result came within ``timeout`` seconds.
        """
        future = self.submit_future(item)
        try:
            return future.result(timeout)
        except FuturesTimeout:
            raise GuardUnavailableError(
                f"no guard decision within {timeout} s; a stage is hanging"
            ) from None

    def submit_future(self, item: T) -> Future[R]:
        """Queue ``item`` and return the future of its result at once (for event loops:
        ``await asyncio.wrap_future(batcher.submit_future(item))``).

        Raises
        ------
        GuardUnavailableError
            The batcher is closed or its runner stopped.
        """
        future: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise GuardUnavailableError("the batcher is closed; the service is shutting down")
            self._queue.put((item, future))
        return future

    def close(self, timeout: float = 5.0) -> None:
        """Stop the runner after the queued items have run; items still queued after
        ``timeout`` seconds fail with :class:`GuardUnavailableError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._fail_queued()

    def _fail_queued(self) -> None:
        """Fail every item still queued (the runner is gone)."""
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return
            if entry is not _STOP:
                future: Future[R] = entry[1]  # type: ignore[index]
                if not future.done():
                    future.set_exception(GuardUnavailableError(
                        "the guard batcher stopped; the service is shutting down"))

    def _take(self) -> tuple[list[tuple[T, Future[R]]], bool]:
        """The next batch (blocking for its first item) and whether to stop after it."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch: list[tuple[T, Future[R]]] = [first]  # type: ignore[list-item]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                wait = deadline - time.monotonic()
                nxt = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)  # type: ignore[arg-type]
        return batch, False

    def _call(self, items: list[T]) -> list[R]:
        results = list(self.fn(items))
        if len(results) != len(items):
            raise GuardUnavailableError(
                f"the batch function returned {len(results)} results for {len(items)} "
                "items; it is broken"
            )
        return results

    def _serve(self, batch: list[tuple[T, Future[R]]]) -> None:
        """Run one batch and settle every future of it. When a batch of several fails, each
        item is run alone, so that one item's failure (a rewriter error, a judge call that
        failed for one prompt) reaches only its own caller. Items whose caller cancelled the
        future (a client that gave up) are dropped; the others are marked running, so a late
        cancellation cannot break their settlement."""
        batch = [(item, f) for item, f in batch if f.set_running_or_notify_cancel()]
        if not batch:
            return
        self.batch_sizes.append(len(batch))
        del self.batch_sizes[:-1000]
        if self.on_batch is not None:
            try:
                self.on_batch(len(batch))
            except Exception:  # a metrics hook never stops the guard
                _LOG.exception("micro-batcher: the on_batch hook failed")
        try:
            results = self._call([item for item, _ in batch])
        except BaseException as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for item, future in batch:
                try:
                    future.set_result(self._call([item])[0])
                except BaseException as one:
                    future.set_exception(one)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _run(self) -> None:
        try:
            if self.on_start is not None:
                self.on_start()
        except BaseException as exc:
            self.started.set_exception(exc)
        else:
            self.started.set_result(None)
        stop = False
        try:
            while not stop:
                batch, stop = self._take()
                try:
                    if batch:
                        self._serve(batch)
                except BaseException as exc:  # never leave a caller waiting
                    _LOG.exception("micro-batcher: a batch failed outside the batch function")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
        finally:
            with self._lock:
                self._closed = True
            self._fail_queued()

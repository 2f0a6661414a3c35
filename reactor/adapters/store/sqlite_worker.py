"""The SQLite backend's one worker thread: every call leaves the event loop, in the order asked.

Owns the thread, its job queue, batching and handing results back to the loop. Calls of a
batchable kind (intent saves, lease claims, lease releases) that are waiting in the queue when
the thread comes to them run together, as one call of the kind's batch function (one
transaction). The thread takes the next batch itself as soon as it has committed one: no trip
through the event loop between two batches (with 50 groups deploying, each such trip waited for
every round ready on the loop, and a save waited for up to three of them). Each call's or batch's
results go back in one callback on the loop. A caller that is cancelled stops waiting; its job
still runs (a save asked for may be stored, as with any write whose answer was not awaited).

Must not: know SQL, leases or intents; block the event loop; be used from more than one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - one item of a batch
R = TypeVar("R")  # its result

#: what the loop learns after each call or batch: the exception that failed all of it, or None
Report = Callable[[BaseException | None], None]


@dataclass(eq=False)
class _Job:
    future: asyncio.Future[Any]
    call: Callable[[], Any] | None = None  # a plain call
    kind: BatchKind[Any, Any] | None = None  # or an item of a batchable kind
    item: Any = None


_Done = tuple[_Job, Any, BaseException | None]  # a job, its result, or what failed it


class BatchKind(Generic[I, R]):
    """One batchable kind of call: `run(items)` (in the thread) answers each item with its result
    or the exception that refused it alone, or raises (then every call of the batch fails)."""

    def __init__(self, worker: StoreWorker, run: Callable[[list[I]], list[R | Exception]],
                 name: str) -> None:
        self._worker = worker
        self.run = run
        self.name = name
        self.batches = 0  # batches run (for benchmarks and tests)
        self.largest = 0  # most calls in one batch

    async def call(self, item: I) -> R:
        """Returns once the batch holding `item` is done, or raises what refused it."""
        return await self._worker.submit(lambda fut: _Job(fut, kind=self, item=item))  # type: ignore[no-any-return]


class StoreWorker:
    """A thread for one SQLite connection, started by the first call; `report` hears on the loop
    of each call's and batch's outcome (the exception that failed all of it, or None)."""

    def __init__(self, name: str, report: Report | None = None) -> None:
        self.name = name
        self.report: Report = report or (lambda _exc: None)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    def kind(self, run: Callable[[list[I]], list[R | Exception]], name: str) -> BatchKind[I, R]:
        return BatchKind(self, run, name)

    async def call(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """`fn(*args, **kwargs)` in the thread, after every job asked for before it."""
        call = functools.partial(fn, *args, **kwargs)
        return await self.submit(lambda fut: _Job(fut, call=call))  # type: ignore[no-any-return]

    async def submit(self, make: Callable[[asyncio.Future[Any]], _Job]) -> Any:
        loop = asyncio.get_running_loop()
        if self._stopped:  # as a shut-down executor does: nobody would ever run it
            raise RuntimeError(f"{self.name}: stopped")
        if self._thread is None:
            self._loop = loop
            self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
            self._thread.start()
        elif loop is not self._loop:
            raise RuntimeError(f"{self.name}: used from another event loop")
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put(make(future))
        return await future

    def stop(self) -> None:
        """The thread ends after the jobs already asked for (it holds no connection of its own)."""
        self._stopped = True
        if self._thread is not None:
            self._jobs.put(None)

    # ---- the thread ---------------------------------------------------------------------------
    def _main(self) -> None:
        held: deque[_Job | None] = deque()  # taken from the queue while gathering a batch
        while True:
            job = held.popleft() if held else self._jobs.get()
            if job is None:
                return
            if job.kind is None:
                assert job.call is not None
                try:
                    out: list[_Done] = [(job, job.call(), None)]
                    failed: BaseException | None = None
                except Exception as exc:
                    out, failed = [(job, None, exc)], exc
                self._post(out, failed)
                continue
            batch = [job]
            while True:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is not None and nxt.kind is job.kind:
                    batch.append(nxt)
                else:
                    held.append(nxt)  # runs next, in order
                    break
            kind = job.kind
            kind.batches += 1
            kind.largest = max(kind.largest, len(batch))
            try:
                results = kind.run([j.item for j in batch])
            except Exception as exc:  # the whole batch failed
                self._post([(j, None, exc) for j in batch], exc)
                continue
            self._post([(j, None, r) if isinstance(r, Exception) else (j, r, None)
                        for j, r in zip(batch, results, strict=True)], None)

    def _post(self, out: list[_Done], failed: BaseException | None) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._deliver, out, failed)

    def _deliver(self, out: list[_Done], failed: BaseException | None) -> None:
        self.report(failed)
        for job, result, exc in out:
            if job.future.done():  # its caller was cancelled
                continue
            if exc is not None:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)

"""Group commit: calls to the store asked for while a batch is being handled go together.

Owns the batching only. A caller waits until the batch that holds its call is done (for saves:
the transaction that holds it has committed), so the write-ahead rule holds unchanged (nothing is
sent for an intent that is not stored); what changes is that N calls asked for at once cost one
transaction and one hand-off to the store's worker thread and back instead of N (with 50 groups
deploying, the hand-offs, each waiting for the GIL of a busy event loop, were most of an event's
reaction time). The first call of a burst is handled at once (a batch of one); the ones asked for
meanwhile form the next batch. `GroupCommit` batches intent saves (the ZooKeeper backend's, in
one `multi`); `Batcher` is the same for any call. The SQLite backend batches in its worker thread
instead (sqlite_worker), which takes the next batch without a trip through the event loop.

It must not check leases or revisions (the `run` callable does, per item) and must be used
from one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - one item of a batch
R = TypeVar("R")  # its result

#: (group, intent, finished) as the store takes them
Item = tuple[str, dict[str, Any], bool]
#: writes a batch in one transaction: per item None or the error that refused it alone;
#: raises if the transaction failed (then none of the batch is stored)
WriteBatch = Callable[[list[Item]], Awaitable[list[Exception | None]]]


@dataclass
class _Waiting(Generic[I, R]):
    item: I
    done: asyncio.Future[R] = field(repr=False)


class Batcher(Generic[I, R]):
    """Batches `call`s; `run(items)` answers each item with its result or the exception that
    refused it alone, or raises (then every call of the batch fails with that). Batches run one
    after the other, in arrival order."""

    def __init__(self, run: Callable[[list[I]], Awaitable[list[R | Exception]]], name: str) -> None:
        self._run = run
        self._name = name
        self._waiting: list[_Waiting[I, R]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # batches run (for benchmarks and tests)
        self.largest = 0  # most calls in one batch

    async def call(self, item: I) -> R:
        """Returns once the batch holding `item` is done, or raises what refused it."""
        loop = asyncio.get_running_loop()
        waiting: _Waiting[I, R] = _Waiting(item, loop.create_future())
        self._waiting.append(waiting)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name=self._name)
        # each call has a future of its own: a cancelled caller cancels only that one (the batch
        # skips it), so no shield, which would cost every caller one more pass of a busy loop
        return await waiting.done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            try:
                results = await self._run([w.item for w in batch])
            except Exception as exc:  # the whole transaction failed: every save in it did
                for w in batch:
                    if not w.done.done():
                        w.done.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutdown): nobody learns a result that never came
                for w in (*batch, *self._waiting):
                    w.done.cancel()
                self._waiting = []
                raise
            for w, result in zip(batch, results, strict=True):
                if w.done.done():
                    continue
                if isinstance(result, Exception):
                    w.done.set_exception(result)
                else:
                    w.done.set_result(result)


class GroupCommit(Batcher[Item, None]):
    """Batches intent saves into transactions written one after the other, in arrival order."""

    def __init__(self, write: WriteBatch) -> None:
        super().__init__(write, "store-group-commit")

    async def save(self, group: str, intent: dict[str, Any], finished: bool) -> None:
        """Store one intent; returns once committed, or raises what refused it."""
        await self.call((group, intent, finished))

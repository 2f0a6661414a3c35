"""Group commit of intent saves: the saves asked for while a batch is being written go together.

Owns the batching only. A save waits until the transaction that holds it has committed, so the
write-ahead rule holds unchanged (nothing is sent for an intent that is not stored); what changes
is that N saves asked for at once cost one transaction and one hand-off to the store's worker
thread and back instead of N (with 50 groups deploying, the hand-offs, each waiting for the GIL
of a busy event loop, were most of an event's reaction time). The first save of a burst is
written at once (a batch of one); the ones asked for meanwhile form the next batch.

It must not check leases or revisions (the `write` callable does, per item) and must be used
from one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

#: (group, intent, finished) as the store takes them
Item = tuple[str, dict[str, Any], bool]
#: writes a batch in one transaction: per item None or the error that refused it alone;
#: raises if the transaction failed (then none of the batch is stored)
WriteBatch = Callable[[list[Item]], Awaitable[list[Exception | None]]]


@dataclass
class _Waiting:
    item: Item
    done: asyncio.Future[None] = field(repr=False)


class GroupCommit:
    """Batches `save` calls into transactions written one after the other, in arrival order."""

    def __init__(self, write: WriteBatch) -> None:
        self._write = write
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written (for benchmarks and tests)
        self.largest = 0  # most saves in one transaction

    async def save(self, group: str, intent: dict[str, Any], finished: bool) -> None:
        """Store one intent; returns once committed, or raises what refused it."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting((group, intent, finished), loop.create_future())
        self._waiting.append(waiting)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name="store-group-commit")
        await asyncio.shield(waiting.done)

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            try:
                results = await self._write([w.item for w in batch])
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
                if result is None:
                    w.done.set_result(None)
                else:
                    w.done.set_exception(result)

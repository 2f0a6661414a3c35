"""The de-duplicating work queue of the reconciler (client-go's workqueue, for asyncio).

Owns which key runs when: a key is queued at most once however often it is marked dirty; one
handler call per key at a time, different keys in parallel up to `max_workers`; a key marked
dirty while its handler runs runs once more afterwards; "requeue after" timers where the
earliest wins, dropped when the key's handler starts (it says when it wants to run next); capped
exponential backoff after a handler failure. It also remembers, per key, the earliest trigger
not yet handed to a handler (for reaction-latency metrics).

It must not know what a key means nor what the handler does: it never reads the state store,
Marathon or the view. All methods must be called from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import structlog

log = structlog.get_logger(__name__)


class Trigger(NamedTuple):
    """What a handler run reacts to: the name of the input and when it happened (`clock` time)."""

    name: str
    at: float


class TerminalError(Exception):
    """Raised by a handler for a failure that retrying cannot fix: logged, not retried."""


Handler = Callable[[str, Trigger | None], Awaitable[float | None]]


class WorkQueue:
    """Keyed, de-duplicating queue; `handler(key, trigger)` returns requeue-after seconds or None."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_workers: int = 16,
        clock: Callable[[], float] = time.monotonic,
        backoff_base_s: float = 0.1,
        backoff_max_s: float = 60.0,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if not 0 < backoff_base_s <= backoff_max_s:
            raise ValueError("backoff must satisfy 0 < backoff_base_s <= backoff_max_s")
        self._handler = handler
        self._max_workers = max_workers
        self._clock = clock
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._ready: asyncio.Queue[str | None] = asyncio.Queue()  # each key at most once
        self._dirty: set[str] = set()  # waiting for a run (queued, or behind its own run)
        self._processing: set[str] = set()
        self._triggers: dict[str, Trigger] = {}  # earliest trigger not yet handed to a handler
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._deferred: dict[str, float] = {}  # add_after before run(): key -> delay_s
        self._failures: dict[str, int] = {}
        self._stop_requested = asyncio.Event()
        self._state = "new"  # new -> running -> stopped
        self._finished = asyncio.Event()
        self._grace_s = 0.0

    # marking keys ------------------------------------------------------------------------------

    def add(self, key: str, *, trigger: str | None = None, at: float | None = None) -> None:
        """Mark `key` dirty; with `trigger`, remember it (earliest `at` wins; `at` defaults to now)."""
        if self._state == "stopped":
            return
        if trigger is not None:
            self._remember(key, Trigger(trigger, self._clock() if at is None else at))
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready.put_nowait(key)

    def add_after(self, key: str, delay_s: float, *, trigger: str | None = None,
                  at: float | None = None) -> None:
        """Mark `key` dirty after `delay_s`; when several are pending the earliest wins. With
        `trigger`, remember it now (as `add` does): the run it causes reacts to it."""
        if self._state == "stopped" or math.isnan(delay_s) or delay_s == math.inf:
            return
        if delay_s <= 0:
            self.add(key, trigger=trigger, at=at)
            return
        if trigger is not None:
            self._remember(key, Trigger(trigger, self._clock() if at is None else at))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # before run(): scheduled when the loop runs
            self._deferred[key] = min(delay_s, self._deferred.get(key, math.inf))
            return
        due = loop.time() + delay_s
        pending = self._timers.get(key)
        if pending is not None:
            if pending.when() <= due:
                return
            pending.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def pending_trigger(self, key: str) -> Trigger | None:
        """The earliest trigger of `key` that no handler run has been given yet."""
        return self._triggers.get(key)

    def due_in(self, key: str) -> float | None:
        """Seconds until the pending `add_after` of `key` fires, or None if there is none."""
        handle = self._timers.get(key)
        if handle is not None:
            return max(0.0, handle.when() - asyncio.get_running_loop().time())
        return self._deferred.get(key)

    def __len__(self) -> int:
        """Keys waiting for a run (including keys dirty behind their own running handler)."""
        return len(self._dirty)

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called: no new handler run starts."""
        return self._stop_requested.is_set()

    @property
    def in_flight(self) -> int:
        """Handler calls running now."""
        return len(self._processing)

    # running -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Process keys until `stop()`; handler errors are logged and retried, never fatal."""
        if self._state != "new":
            raise RuntimeError(f"WorkQueue.run() called on a queue that is {self._state}")
        self._state = "running"
        for key, delay_s in self._deferred.items():
            self.add_after(key, delay_s)
        self._deferred.clear()
        workers = [asyncio.create_task(self._work(), name=f"workqueue-{i}") for i in range(self._max_workers)]
        try:
            await self._stop_requested.wait()
            await self._wind_down(workers)
        finally:
            self._state = "stopped"
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._cancel_timers()
            self._dirty.clear()
            self._triggers.clear()
            self._finished.set()

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Start no new run; wait up to `grace_s` for running handlers, then cancel them.

        Keys still queued or delayed are dropped (level-triggered: the next start re-marks every
        group). Idempotent; returns once `run()` has finished (at once if it never started).
        """
        self._grace_s = max(0.0, grace_s)
        self._stop_requested.set()
        if self._state == "new":
            self._state = "stopped"
            self._cancel_timers()
            return
        await self._finished.wait()

    async def __aenter__(self) -> WorkQueue:
        self._runner = asyncio.create_task(self.run(), name="workqueue")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
        await self._runner

    async def _wind_down(self, workers: list[asyncio.Task[None]]) -> None:
        for _ in workers:
            self._ready.put_nowait(None)  # wakes idle workers; busy ones see the stop flag
        if self._grace_s > 0:
            await asyncio.wait(workers, timeout=self._grace_s)
        running = [t for t in workers if not t.done()]
        if running:
            log.warning("work queue stopped with handlers running: cancelled", keys=sorted(self._processing))

    async def _work(self) -> None:
        while not self._stop_requested.is_set():
            key = await self._ready.get()
            if key is None or self._stop_requested.is_set():
                return
            await self._process(key)

    async def _process(self, key: str) -> None:
        self._dirty.discard(key)
        self._processing.add(key)
        trigger = self._triggers.pop(key, None)
        if (pending := self._timers.pop(key, None)) is not None:
            # the run sees the latest state and says when it wants the next one: a timer set
            # before it (an earlier requeue, a batched mark) would only add a run with nothing new
            pending.cancel()
        try:
            requeue_after_s = await self._handler(key, trigger)
        except TerminalError as exc:
            self._failures.pop(key, None)
            log.error("handler failed; not retried (terminal)", key=key, error=str(exc))
        except Exception:
            if trigger is not None:
                self._remember(key, trigger)  # not reacted to yet: the retry still owes it
            delay_s = self._backoff(key)
            log.exception("handler failed; retrying", key=key, retry_in_s=delay_s)
            self.add_after(key, delay_s)
        else:
            self._failures.pop(key, None)
            if isinstance(requeue_after_s, int | float) and not isinstance(requeue_after_s, bool):
                self.add_after(key, requeue_after_s)
            elif requeue_after_s is not None:
                log.error(
                    "handler returned a non-number as requeue-after", key=key, got=repr(requeue_after_s)
                )
        finally:
            self._processing.discard(key)
            if key in self._dirty and not self._stop_requested.is_set():
                self._ready.put_nowait(key)

    def _backoff(self, key: str) -> float:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        return min(self._backoff_max_s, self._backoff_base_s * 2 ** min(failures - 1, 62))

    def _remember(self, key: str, trigger: Trigger) -> None:
        known = self._triggers.get(key)
        if known is None or trigger.at < known.at:
            self._triggers[key] = trigger

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._deferred.clear()

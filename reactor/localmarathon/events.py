"""The event bus behind `/v2/events`: fan-out to subscribers, slow-consumer cut-off, injected delay.

Owns: serialization of each event once (compact JSON, keys in the order the builders give them,
reference §2) into its SSE frame `event: X\\r\\ndata: {json}\\r\\n\\r\\n`; per-subscriber queues that
count *all* bus events (filtering happens at write time, §1.6); the `events_emitted` counter; the
injected stream faults: a fixed delay (`delay_ms`, order kept), reordering (each event held a random
0..`reorder_window_ms`, released by due time, so events of different sources within the window
swap) and duplication (every frame written twice). Marathon's events come from independent actors
(§0.4) but one actor's events reach a subscriber in order (Akka's per-sender ordering), so
reordering keeps the order within a source: one instance's status updates and instance changes,
one instance's health events, one plan's deployment events.
Must not: know HTTP (the SSE route reads subscribers' queues) or build events' content.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import json
import random
import time
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

DEFAULT_SLOW_CONSUMER_LIMIT = 1024


class Subscriber:
    """One stream: a queue of (event type, frame bytes) and a closed flag."""

    def __init__(self, remote: str, event_types: frozenset[str]) -> None:
        self.remote = remote
        self.event_types = event_types
        self.queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self.wakeup = asyncio.Event()
        self.closed = False
        self.close_reason = ""
        self.on_close: Callable[[], None] | None = None

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.wakeup.set()
            if self.on_close is not None:
                self.on_close()

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class EventBus:
    def __init__(self, clock_now: Callable[[], str]) -> None:
        self._now = clock_now
        self.subscribers: list[Subscriber] = []
        self.events_emitted = 0
        self.slow_consumer_limit = DEFAULT_SLOW_CONSUMER_LIMIT
        self.delay_ms = 0
        self.reorder_window_ms = 0
        self.duplicate = False
        self.rng = random.Random()
        self._pending: list[tuple[float, int, str, bytes]] = []  # heap by due time
        self._seq = itertools.count()
        self._last_due = 0.0
        self._last_due_by_source: dict[tuple[str, str], float] = {}
        self._wake = asyncio.Event()
        self._delay_task: asyncio.Task[None] | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # in-process observers (tests)

    def now(self) -> str:
        return self._now()

    def publish(self, event: dict[str, Any]) -> None:
        """Serialize once and fan out (or hold for `delay_ms` / a random reorder time)."""
        event_type = event["eventType"]
        data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        frame = f"event: {event_type}\r\ndata: {data}\r\n\r\n".encode()
        self.events_emitted += 1
        for listener in self.listeners:
            listener(event)
        if self.delay_ms <= 0 and self.reorder_window_ms <= 0 and not self._pending:
            self._fan_out(event_type, frame)
            return
        due = time.monotonic() + self.delay_ms / 1000
        if self.reorder_window_ms > 0:
            due += self.rng.uniform(0, self.reorder_window_ms) / 1000
            source = _source(event)
            due = max(due, self._last_due_by_source.get(source, 0.0))  # one actor's events stay in order
            self._last_due_by_source[source] = due
        else:
            due = max(due, self._last_due)  # no reordering asked: keep publication order
        self._last_due = max(self._last_due, due)
        heapq.heappush(self._pending, (due, next(self._seq), event_type, frame))
        self._wake.set()
        if self._delay_task is None or self._delay_task.done():
            self._delay_task = asyncio.get_running_loop().create_task(self._drain_delayed())

    def _fan_out(self, event_type: str, frame: bytes) -> None:
        limit = self.slow_consumer_limit
        copies = 2 if self.duplicate else 1
        for sub in list(self.subscribers):
            for _ in range(copies):
                if sub.closed:
                    break
                if len(sub.queue) >= limit:
                    log.warning("Closing connection for slow event consumer", remote=sub.remote, queued=limit)
                    sub.close("slow consumer")
                    break
                sub.queue.append((event_type, frame))
                sub.wakeup.set()

    async def _drain_delayed(self) -> None:
        while self._pending:
            due = self._pending[0][0]
            wait_s = due - time.monotonic()
            if wait_s > 0:
                self._wake.clear()
                try:  # an event due earlier may arrive meanwhile (reordering)
                    await asyncio.wait_for(self._wake.wait(), wait_s)
                except TimeoutError:
                    pass
                continue
            _, _, event_type, frame = heapq.heappop(self._pending)
            self._fan_out(event_type, frame)

    def attach(self, remote: str, event_types: frozenset[str]) -> Subscriber:
        sub = Subscriber(remote, event_types)
        self.subscribers.append(sub)
        self.publish({"remoteAddress": remote, "eventType": "event_stream_attached", "timestamp": self.now()})
        return sub

    def detach(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)
            sub.close("detached")
            self.publish(
                {"remoteAddress": sub.remote, "eventType": "event_stream_detached", "timestamp": self.now()}
            )

    def drop_all(self, reason: str) -> int:
        subs = [s for s in self.subscribers if not s.closed]
        for sub in subs:
            sub.close(reason)
        return len(subs)

    async def close(self) -> None:
        self.drop_all("shutdown")
        if self._delay_task is not None:
            self._delay_task.cancel()
            await asyncio.gather(self._delay_task, return_exceptions=True)


def _source(event: dict[str, Any]) -> tuple[str, str]:
    """The Marathon actor an event comes from (its order is kept when events are reordered)."""
    etype = event["eventType"]
    if etype in ("status_update_event", "instance_changed_event"):
        task_or_instance = str(event.get("instanceId") or event.get("taskId") or "")
        return ("instance", task_or_instance.partition("._app")[0])
    if etype in (
        "instance_health_changed_event",
        "health_status_changed_event",
        "failed_health_check_event",
        "unhealthy_instance_kill_event",
    ):
        instance = event.get("instanceId") or str(event.get("taskId") or "").partition("._app")[0]
        return ("health", str(instance))
    if etype.startswith("deployment_"):
        plan: dict[str, Any] = event["plan"] if isinstance(event.get("plan"), dict) else {}
        return ("deployment", str(event.get("id") or plan.get("id") or ""))
    return ("other", f"{etype} {event.get('appId') or ''}")

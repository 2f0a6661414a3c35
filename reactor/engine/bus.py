"""The in-process bus of deploy events: publish once, every subscriber gets its own copy.

Owns fan-out of `DeployEvent`s to subscribers (the API's event stream, the CLI's progress
display, ...) and a ring buffer of recent events. `publish` never blocks and never raises: a
subscriber that falls more than `queue_size` events behind is dropped (its iteration ends, a log
line says so) rather than slowing the engine. It must not deliver hooks (engine.hooks does, with
its own ordering and delivery guarantees) nor persist anything. Use from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from reactor.core.deploy_events import DeployEvent

log = structlog.get_logger(__name__)


class Subscription:
    """One subscriber's bounded queue. Iterate it; iteration ends when closed or dropped."""

    def __init__(self, sub_id: int, queue_size: int) -> None:
        self.id = sub_id
        self.queue_size = queue_size
        self.dropped = False
        self.closed = False
        self._items: deque[DeployEvent] = deque()
        self._wake = asyncio.Event()

    def _offer(self, event: DeployEvent) -> bool:
        """Queue an event; False (and the subscription is dropped) when it is full."""
        if self.closed:
            return False
        if len(self._items) >= self.queue_size:
            self.dropped = True
            self.close()
            return False
        self._items.append(event)
        self._wake.set()
        return True

    def close(self) -> None:
        self.closed = True
        self._items.clear()
        self._wake.set()

    async def next(self, timeout_s: float | None = None) -> DeployEvent | None:
        """The next event; None on timeout. Raises StopAsyncIteration once closed or dropped."""
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout_s)
            except TimeoutError:
                return None
        return self._items.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> DeployEvent:
        event = await self.next()
        assert event is not None  # no timeout given: next() waits until an event or the end
        return event


class EventBus:
    """Fan-out of deploy events with a ring buffer of the last `history` events."""

    def __init__(self, *, history: int = 1000, queue_size: int = 1000) -> None:
        self._recent: deque[DeployEvent] = deque(maxlen=history)
        self._subs: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self.queue_size = queue_size

    def publish(self, event: DeployEvent) -> None:
        self._recent.append(event)
        for sub in list(self._subs.values()):
            if not sub._offer(event):
                self._subs.pop(sub.id, None)
                if sub.dropped:
                    log.warning("bus.subscriber_dropped", subscriber=sub.id,
                                queue_size=sub.queue_size, event_id=event.id)

    @asynccontextmanager
    async def subscribe(self, queue_size: int | None = None) -> AsyncIterator[Subscription]:
        """`async with bus.subscribe() as events: async for ev in events: ...`"""
        sub = Subscription(next(self._ids), queue_size or self.queue_size)
        self._subs[sub.id] = sub
        try:
            yield sub
        finally:
            sub.close()
            self._subs.pop(sub.id, None)

    def recent(self, n: int | None = None, *, group: str | None = None) -> list[DeployEvent]:
        """The last `n` published events (all kept ones when None), oldest first."""
        events = [e for e in self._recent if group is None or e.group == group]
        return events if n is None else events[-n:] if n > 0 else []

    def close(self) -> None:
        """End every subscription (e.g. at shutdown, so streaming clients finish)."""
        for sub in list(self._subs.values()):
            sub.close()
        self._subs.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

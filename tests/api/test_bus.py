"""The in-process event bus: fan-out in order, bounded queues, dropping slow subscribers, recent."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from reactor.engine.bus import EventBus
from tests.api.test_api import make_event


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    async with bus.subscribe() as a, bus.subscribe() as b:
        assert bus.subscriber_count == 2
        for i in range(5):
            bus.publish(make_event(i))
        got_a = [(await a.next(1)) for _ in range(5)]
        got_b = [(await b.next(1)) for _ in range(5)]
    assert [e.id for e in got_a if e] == [f"web-ev-{i}" for i in range(5)]
    assert got_a == got_b
    assert bus.subscriber_count == 0


async def test_async_for_ends_when_closed() -> None:
    bus = EventBus()
    seen: list[str] = []
    async with bus.subscribe() as sub:
        bus.publish(make_event(1))

        async def consume() -> None:
            async for ev in sub:
                seen.append(ev.id)
                bus.close()  # a shutdown while iterating ends the loop

        await asyncio.wait_for(consume(), 5)
    assert seen == ["web-ev-1"]


async def test_next_times_out_with_none() -> None:
    bus = EventBus()
    async with bus.subscribe() as sub:
        assert await sub.next(0.01) is None


async def test_slow_subscriber_is_dropped_not_the_publisher_blocked() -> None:
    bus = EventBus(queue_size=3)
    async with bus.subscribe() as slow, bus.subscribe(queue_size=100) as fast:
        with capture_logs() as logs:
            for i in range(10):
                bus.publish(make_event(i))  # synchronous: cannot block
        assert slow.dropped and not fast.dropped
        assert [entry["event"] for entry in logs] == ["bus.subscriber_dropped"]
        assert bus.subscriber_count == 1
        assert [(await fast.next(1)).id for _ in range(10)] == [f"web-ev-{i}" for i in range(10)]  # type: ignore[union-attr]
        try:
            await slow.next(1)
        except StopAsyncIteration:
            pass
        else:
            raise AssertionError("a dropped subscription must end")


async def test_recent_is_a_ring_buffer_with_group_filter() -> None:
    bus = EventBus(history=4)
    for i in range(6):
        bus.publish(make_event(i, group="web" if i % 2 else "db"))
    assert [e.id for e in bus.recent()] == ["db-ev-2", "web-ev-3", "db-ev-4", "web-ev-5"]
    assert [e.id for e in bus.recent(2)] == ["db-ev-4", "web-ev-5"]
    assert [e.id for e in bus.recent(5, group="web")] == ["web-ev-3", "web-ev-5"]
    assert bus.recent(0) == []

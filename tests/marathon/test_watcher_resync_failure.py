"""A resync callback that raises must not leave the stream connected but deaf.

Against the embedded Marathon: the watcher drops the stream, reconnects, resyncs again, and
reports `live` False (for /readyz) until a resync has been delivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.core.events import MarathonEvent
from reactor.core.models import Snapshot
from reactor.localmarathon.server import LocalMarathon
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


class Consumer:
    def __init__(self, failing_resyncs: int) -> None:
        self.failing = failing_resyncs
        self.resyncs = 0
        self.events: list[MarathonEvent] = []
        self.states_in_resync: list[str] = []
        self.watcher: EventWatcher | None = None

    def on_resync(self, snapshot: Snapshot) -> None:
        assert self.watcher is not None
        self.states_in_resync.append(self.watcher.stream_state)
        self.resyncs += 1
        if self.resyncs <= self.failing:
            raise RuntimeError(f"consumer broke on resync {self.resyncs}")

    def watch(self, client: MarathonClient) -> EventWatcher:
        self.watcher = EventWatcher(client, on_event=self.events.append, on_resync=self.on_resync,
                                    backoff_initial_s=0.02, backoff_max_s=0.1, idle_timeout_s=5.0)
        return self.watcher


def app(app_id: str) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 1000", "instances": 1}


async def test_a_raising_resync_reconnects_and_then_delivers_events() -> None:
    consumer = Consumer(failing_resyncs=2)
    async with LocalMarathon(executor="virtual", heartbeat_s=0.5) as lm, MarathonClient([lm.url]) as m:
        async with consumer.watch(m) as watcher:
            await wait_until(lambda: watcher.live, what="the watcher live after two failed resyncs")
            assert (watcher.connects, watcher.resync_failures, consumer.resyncs) == (3, 2, 3)
            assert consumer.states_in_resync == ["resyncing"] * 3, "never live before a resync"
            assert watcher.last_error and "consumer broke on resync 2" in watcher.last_error
            await m.create_app(app("/after"))
            await wait_until(lambda: any(getattr(e, "app_id", None) == "/after" for e in consumer.events),
                             what="an event of /after delivered")
        assert watcher.stream_state == "disconnected"


async def test_a_resync_that_always_raises_is_never_live_and_keeps_reconnecting() -> None:
    consumer = Consumer(failing_resyncs=10**6)
    async with LocalMarathon(executor="virtual", heartbeat_s=0.5) as lm, MarathonClient([lm.url]) as m:
        async with consumer.watch(m) as watcher:
            await m.create_app(app("/ignored"))
            await wait_until(lambda: watcher.resync_failures >= 4, what="repeated reconnects")
            assert not watcher.live and watcher.stream_state in ("disconnected", "resyncing")
            assert consumer.events == [], "no event delivered without a base"


async def test_stop_while_a_failed_resync_is_cancelling_the_reader_still_stops() -> None:
    """The resync fails and cancels the reader; stop() cancels the same task before it wakes. The
    reader must see two cancel requests and stop, not turn both into one reconnect (which left
    stop() waiting forever on a watcher that kept reconnecting)."""
    stopping: list[asyncio.Task[None]] = []

    class StopsOnSecondResync(Consumer):
        def on_resync(self, snapshot: Snapshot) -> None:
            if self.resyncs == 1:  # scheduled now, so it runs before the reader wakes up
                assert self.watcher is not None
                stopping.append(asyncio.create_task(self.watcher.stop()))
            super().on_resync(snapshot)

    consumer = StopsOnSecondResync(failing_resyncs=10**6)
    async with LocalMarathon(executor="virtual", heartbeat_s=0.5) as lm, MarathonClient([lm.url]) as m:
        watcher = consumer.watch(m)
        await watcher.start()
        await wait_until(lambda: stopping, what="stop() asked during the second failed resync")
        await asyncio.wait_for(stopping[0], timeout=10)
        assert consumer.resyncs == 2, "no reconnect after stop()"
        assert watcher.stream_state == "disconnected"

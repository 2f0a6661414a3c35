"""DrainWatcher against real `bluegreen sample-app` processes: drained only after the last op."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from reactor.adapters.drain import DrainEventKind, DrainSource, DrainSpec, DrainWatcher
from tests.drain.support import Recorder
from tests.sampleapp.support import running_sample_app, wait_until

K = DrainEventKind
SPEC_BY_SOURCE = {
    DrainSource.PROMETHEUS: {"path": "/metrics", "metric": "pending_operations"},
    DrainSource.JSON: {"path": "/metrics.json", "metric": "gauges.pending_operations.value"},
    DrainSource.STREAM: {"path": "/metrics/stream", "metric": "pending_operations"},
}


def spec_for(port: int, source: DrainSource, **kw: object) -> DrainSpec:
    fields: dict[str, object] = {**SPEC_BY_SOURCE.get(source, {}), "interval_s": 0.05, **kw}
    return DrainSpec("127.0.0.1", port, source, **fields)  # type: ignore[arg-type]


async def pending_of(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "/metrics.json") as resp:
        return int((await resp.json())["gauges"]["pending_operations"]["value"])


@pytest.mark.parametrize("source", [DrainSource.PROMETHEUS, DrainSource.JSON, DrainSource.STREAM])
async def test_drained_only_after_the_last_slow_operation(source: DrainSource) -> None:
    rec = Recorder()
    async with running_sample_app() as app, aiohttp.ClientSession() as s, DrainWatcher(rec) as watcher:
        fired = time.monotonic()
        works = [asyncio.create_task(s.get(f"{app.url}/work?ms={ms}")) for ms in (300, 600, 900)]

        async def three() -> bool:
            return await pending_of(s, app.url) == 3

        await wait_until(three, what="3 operations in flight")
        watcher.watch("blue.1", spec_for(app.port, source))
        drained = await rec.wait_kind("blue.1", K.DRAINED)
        for work in works:
            assert (await work).status == 200
        # the last operation cannot have finished earlier than 0.9 s after it was sent
        assert drained.at_monotonic >= fired + 0.9
        kinds = [(e.kind, e.pending) for e in rec.of("blue.1")]
        assert kinds[-1] == (K.DRAINED, 0)
        progress = [p for k, p in kinds[:-1]]
        assert all(k is K.PROGRESS for k, _ in kinds[:-1])
        assert progress == sorted(progress, reverse=True) and progress[0] == 3
        if source is DrainSource.STREAM:
            assert progress == [3, 2, 1]  # every change is pushed
            assert watcher.requests_made == 1  # one connection, no polling
        else:
            assert watcher.requests_made >= 10  # ~0.9 s at 0.05 s
        obs = watcher.observations()["blue.1"]
        assert (obs.pending, obs.drained, obs.gone, obs.timed_out) == (0, True, False, False)


async def test_stream_makes_no_periodic_requests_while_idle() -> None:
    rec = Recorder()
    async with running_sample_app() as app, aiohttp.ClientSession() as s, DrainWatcher(rec) as watcher:
        watcher.watch("t", spec_for(app.port, DrainSource.STREAM))
        await rec.wait_kind("t", K.DRAINED)
        for _ in range(3):  # the gauge goes up and down three times over one connection
            async with s.get(f"{app.url}/work?ms=50") as resp:
                assert resp.status == 200
        await wait_until(lambda: len(rec.of("t", K.DRAINED)) == 4, what="4 drained transitions")
        assert [e.pending for e in rec.of("t")] == [0, 1, 0, 1, 0, 1, 0]
        assert watcher.requests_made == 1
        assert watcher.observations()["t"].polls == 7


async def test_pending_going_up_again_gives_progress_then_a_new_drained() -> None:
    rec = Recorder()
    async with running_sample_app() as app, aiohttp.ClientSession() as s, DrainWatcher(rec) as watcher:
        watcher.watch("t", spec_for(app.port, DrainSource.PROMETHEUS))
        await rec.wait_kind("t", K.DRAINED)
        work = asyncio.create_task(s.get(f"{app.url}/work?ms=400"))
        await rec.wait_kind("t", K.PROGRESS)
        assert watcher.observations()["t"].drained is False
        (await work).release()
        await wait_until(lambda: len(rec.of("t", K.DRAINED)) == 2, what="second drained")
        assert [e.kind for e in rec.of("t")] == [K.DRAINED, K.PROGRESS, K.DRAINED]


@pytest.mark.parametrize("source", [DrainSource.PROMETHEUS, DrainSource.STREAM])
async def test_killed_process_is_gone_not_drained(source: DrainSource) -> None:
    rec = Recorder()
    async with running_sample_app() as app, aiohttp.ClientSession() as s, DrainWatcher(rec) as watcher:
        work = asyncio.create_task(s.get(f"{app.url}/work?ms=60000"))
        watcher.watch("t", spec_for(app.port, source))
        await rec.wait_for(lambda e: e.kind is K.PROGRESS and e.pending == 1, what="pending 1")
        app.signal(signal.SIGKILL)
        gone = await rec.wait_kind("t", K.GONE)
        assert "connection refused" in gone.detail
        await asyncio.gather(work, return_exceptions=True)
        obs = watcher.observations()["t"]
        assert (obs.pending, obs.drained, obs.gone) == (None, False, True)
        assert not rec.of("t", K.DRAINED)
        assert len(rec.of("t", K.GONE)) == 1


async def test_timeout_is_reported_once_and_the_watch_continues() -> None:
    rec = Recorder()
    async with running_sample_app() as app, aiohttp.ClientSession() as s, DrainWatcher(rec) as watcher:
        work = asyncio.create_task(s.get(f"{app.url}/work?ms=60000"))
        await wait_until(lambda: pending_of(s, app.url), what="one operation in flight")
        watcher.watch("t", spec_for(app.port, DrainSource.PROMETHEUS, timeout_s=0.3))
        timeout = await rec.wait_kind("t", K.TIMEOUT)
        assert timeout.pending == 1 and "not drained after 0.3s" in timeout.detail
        polls = watcher.observations()["t"].polls
        await wait_until(lambda: watcher.observations()["t"].polls > polls + 3, what="polling to go on")
        obs = watcher.observations()["t"]
        assert (obs.timed_out, obs.drained, obs.pending) == (True, False, 1)
        assert len(rec.of("t", K.TIMEOUT)) == 1
        work.cancel()


async def test_many_tasks_share_one_app_and_unwatch_stops_requests() -> None:
    rec = Recorder()
    async with running_sample_app() as app, DrainWatcher(rec) as watcher:
        for i in range(30):
            source = (DrainSource.PROMETHEUS, DrainSource.JSON, DrainSource.STREAM)[i % 3]
            watcher.watch(f"t{i}", spec_for(app.port, source))
            watcher.watch(f"t{i}", spec_for(app.port, source))  # idempotent
        await wait_until(lambda: len({e.task_id for e in rec.events if e.kind is K.DRAINED}) == 30,
                         what="30 drained tasks")
        assert len(rec.events) == 30
        for i in range(30):
            watcher.unwatch(f"t{i}")
            watcher.unwatch(f"t{i}")  # idempotent
        assert watcher.observations() == {}
        made = watcher.requests_made
        await asyncio.sleep(0.2)  # a quiet period: nothing may happen in it
        assert watcher.requests_made == made

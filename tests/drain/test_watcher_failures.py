"""DrainWatcher on endpoints that cannot tell: unreachable, silent, bad payloads -> UNKNOWN, never drained."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator

import pytest

from reactor.adapters.drain import DrainEvent, DrainEventKind, DrainSource, DrainSpec, DrainWatcher
from tests.drain.support import Recorder, fixed_endpoint
from tests.sampleapp.support import free_port, wait_until

K = DrainEventKind


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


async def test_refused_port_is_unknown_then_gone_never_drained() -> None:
    rec = Recorder()
    async with DrainWatcher(rec) as watcher:
        watcher.watch("t", DrainSpec("127.0.0.1", free_port(), DrainSource.PROMETHEUS, interval_s=0.05))
        gone = await rec.wait_kind("t", K.GONE)
        kinds = [e.kind for e in rec.of("t")]
        assert kinds == [K.UNKNOWN, K.GONE]
        assert "connection refused" in rec.events[0].detail and gone.pending is None
        assert watcher.observations()["t"].drained is False


async def test_silent_endpoint_is_unknown_with_a_timeout_detail(silent_port: int) -> None:
    rec = Recorder()
    async with DrainWatcher(rec) as watcher:
        for source in (DrainSource.PROMETHEUS, DrainSource.STREAM):
            spec = DrainSpec("127.0.0.1", silent_port, source, interval_s=0.05, request_timeout_s=0.2)
            watcher.watch(str(source), spec)
        for source in ("prometheus", "stream"):
            unknown = await rec.wait_kind(source, K.UNKNOWN)
            assert "no answer within 0.2s" in unknown.detail
        await wait_until(lambda: watcher.requests_made >= 6, what="several attempts")
        assert {e.kind for e in rec.events} == {K.UNKNOWN}  # one per distinct reason; never gone
        assert not any(o.drained or o.gone for o in watcher.observations().values())


BAD = [
    (DrainSource.PROMETHEUS, "pending_operations", b"complete garbage, not metrics",
     "text/plain", "not Prometheus text exposition"),
    (DrainSource.PROMETHEUS, "pending_operations", b"queue_depth 0\n", "text/plain",
     "metric 'pending_operations' not found; payload has queue_depth"),
    (DrainSource.PROMETHEUS, "pending_operations", b"pending_operations many\n", "text/plain",
     "could not convert string to float"),
    (DrainSource.JSON, "gauges.pending.value", b'{"gauges": {"pending": {"value": "zero"}}}',
     "application/json", "is not a number: 'zero'"),
    (DrainSource.JSON, "gauges.pending.value", b"<html>502 Bad Gateway</html>", "text/html", "not JSON"),
    (DrainSource.JSON, "gauges.pending.value", b'{"counters": {}}', "application/json",
     "JSON path 'gauges.pending.value' not found at 'gauges'"),
    (DrainSource.STREAM, "pending_operations", b"data: zero\n\n", "text/event-stream", "event not JSON"),
    (DrainSource.STREAM, "pending_operations", b'data: {"other": 0}\n\n', "text/event-stream",
     "JSON path 'pending_operations' not found"),
]


@pytest.mark.parametrize(("source", "metric", "body", "ctype", "problem"), BAD)
async def test_bad_payload_is_unknown_with_a_clear_detail(source: DrainSource, metric: str, body: bytes,
                                                         ctype: str, problem: str) -> None:
    rec = Recorder()
    async with fixed_endpoint(body, content_type=ctype) as ep, DrainWatcher(rec) as watcher:
        watcher.watch("t", DrainSpec("127.0.0.1", ep.port, source, metric=metric, interval_s=0.05))
        unknown = await rec.wait_kind("t", K.UNKNOWN)
        assert problem in unknown.detail, unknown.detail
        assert f"127.0.0.1:{ep.port}" in unknown.detail
        await wait_until(lambda: ep.hits >= 1 and watcher.observations()["t"].polls >= 1, what="reads")
        obs = watcher.observations()["t"]
        assert (obs.pending, obs.drained, obs.detail) == (None, False, unknown.detail)
        assert len(rec.of("t", K.UNKNOWN)) == 1  # repeated identical failures are reported once
        if source is not DrainSource.STREAM:
            ep.body = b"pending_operations 0\n" if source is DrainSource.PROMETHEUS else \
                b'{"gauges": {"pending": {"value": 0}}}'
            await rec.wait_kind("t", K.DRAINED)  # the watch survived the bad payloads


async def test_http_error_status_is_unknown() -> None:
    rec = Recorder()
    async with fixed_endpoint(b"oops", status=500) as ep, DrainWatcher(rec) as watcher:
        watcher.watch("t", DrainSpec("127.0.0.1", ep.port, DrainSource.PROMETHEUS, interval_s=0.05))
        assert "HTTP 500" in (await rec.wait_kind("t", K.UNKNOWN)).detail


async def test_label_matcher_sums_only_matching_samples() -> None:
    body = b'pending_operations{pool="db"} 0\npending_operations{pool="cache"} 2\n'
    rec = Recorder()
    async with fixed_endpoint(body) as ep, DrainWatcher(rec) as watcher:
        watcher.watch("db", DrainSpec("127.0.0.1", ep.port, DrainSource.PROMETHEUS, labels={"pool": "db"}))
        watcher.watch("all", DrainSpec("127.0.0.1", ep.port, DrainSource.PROMETHEUS))
        await rec.wait_kind("db", K.DRAINED)
        assert (await rec.wait_kind("all", K.PROGRESS)).pending == 2


async def test_source_none_is_drained_when_watch_returns_without_requests_or_events() -> None:
    rec = Recorder()
    async with DrainWatcher(rec) as watcher:
        watcher.watch("t", DrainSpec("127.0.0.1", free_port(), DrainSource.NONE, timeout_s=0.05))
        seen = watcher.observations()["t"]  # no loop turn in between: the caller reads it at once
        assert (seen.drained, seen.pending, seen.gone) == (True, 0, False)
        await asyncio.sleep(0.15)  # past its drain timeout: a drained task never times out
        assert watcher.requests_made == 0
        assert rec.events == []
        assert watcher.observations()["t"].timed_out is False
        watcher.unwatch("t")
        assert watcher.observations() == {}


async def test_rewatch_with_another_spec_restarts_and_start_stop_are_idempotent() -> None:
    rec = Recorder()
    watcher = DrainWatcher(rec)
    with pytest.raises(RuntimeError, match="before start"):
        watcher.watch("t", DrainSpec("127.0.0.1", 1, DrainSource.NONE))
    await watcher.start()
    await watcher.start()
    async with fixed_endpoint(b"pending_operations 3\n") as ep:
        watcher.watch("t", DrainSpec("127.0.0.1", ep.port, DrainSource.PROMETHEUS, interval_s=0.05))
        await rec.wait_kind("t", K.PROGRESS)
        watcher.watch("t", DrainSpec("127.0.0.1", ep.port, DrainSource.NONE))
        assert watcher.observations()["t"].drained is True
    await watcher.stop()
    await watcher.stop()
    assert watcher.observations() == {}


async def test_an_event_handler_failure_does_not_stop_the_watch() -> None:
    rec = Recorder()

    def failing(event: DrainEvent) -> None:
        rec(event)
        raise RuntimeError("consumer bug")

    async with fixed_endpoint(b"pending_operations 3\n") as ep, DrainWatcher(failing) as watcher:
        watcher.watch("t", DrainSpec("127.0.0.1", ep.port, DrainSource.PROMETHEUS, interval_s=0.05))
        await rec.wait_kind("t", K.PROGRESS)
        ep.body = b"pending_operations 0\n"
        await rec.wait_kind("t", K.DRAINED)


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"port": 0}, "drain port 0 is out of range"),
    ({"path": "metrics"}, "drain path must start with '/'"),
    ({"interval_s": 0}, "drain interval_s must be > 0"),
    ({"timeout_s": -1}, "drain timeout_s must be > 0"),
])
def test_bad_spec_is_one_clear_error(kwargs: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {"host": "127.0.0.1", "port": 9000, "source": DrainSource.PROMETHEUS,
                                 **kwargs}
    with pytest.raises(ValueError, match=re.escape(problem)):
        DrainSpec(**fields)  # type: ignore[arg-type]

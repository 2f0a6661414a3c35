"""EventWatcher against a scripted real HTTP server: framing, resync order, redirects, garbled bytes."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.core.events import MalformedEvent, MarathonEvent, StatusUpdateEvent
from reactor.core.models import Snapshot
from tests.marathon.scripted import ScriptedMarathon, frame


async def wait_for(predicate, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.01)


def status(n: int) -> dict:
    return {
        "slaveId": "s",
        "taskId": f"a.instance-{n}._app.1",
        "taskStatus": "TASK_RUNNING",
        "message": "",
        "appId": "/a",
        "host": "h",
        "ipAddresses": [],
        "ports": [],
        "version": "v",
        "eventType": "status_update_event",
        "timestamp": "t",
    }


ATTACHED = {"remoteAddress": "127.0.0.1", "eventType": "event_stream_attached", "timestamp": "t"}


class Recorder:
    def __init__(self) -> None:
        self.log: list[object] = []
        self.malformed: list[MalformedEvent] = []
        self.reconnects = 0

    def on_event(self, e: MarathonEvent) -> None:
        self.log.append(e)

    def on_resync(self, s: Snapshot) -> None:
        self.log.append(s)

    def kwargs(self) -> dict:
        return {
            "on_event": self.on_event,
            "on_resync": self.on_resync,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.05,
            "on_malformed": self.malformed.append,
            "on_reconnect": lambda: setattr(self, "reconnects", self.reconnects + 1),
        }


async def test_resync_comes_first_then_buffered_events_in_order_over_crlf_and_lf() -> None:
    rec = Recorder()
    async with ScriptedMarathon() as sm, MarathonClient([sm.url]) as m:
        q = sm.script.stream_chunks
        async with EventWatcher(m, event_types=["status_update_event"], **rec.kwargs()):
            q.put_nowait(b"\r\n")  # heartbeat
            q.put_nowait(frame(ATTACHED))
            q.put_nowait(frame(status(1)))
            q.put_nowait(
                b"event: status_update_event\ndata: "
                + frame(status(2)).split(b"data: ")[1].split(b"\r\n")[0]
                + b"\n\n"
            )
            await wait_for(lambda: len(rec.log) >= 4)
            q.put_nowait(frame(status(3)))
            await wait_for(lambda: len(rec.log) >= 5)
    assert isinstance(rec.log[0], Snapshot)
    ids = [e.task_id for e in rec.log if isinstance(e, StatusUpdateEvent)]
    assert ids == ["a.instance-1._app.1", "a.instance-2._app.1", "a.instance-3._app.1"]
    assert sm.script.stream_queries == ["event_type=status_update_event&event_type=event_stream_attached"]
    assert rec.malformed == []


async def test_standby_redirect_is_followed_with_auth_reattached() -> None:
    rec = Recorder()
    async with ScriptedMarathon() as leader, ScriptedMarathon() as standby:
        standby.script.redirect_to = leader.url
        async with (
            MarathonClient([standby.url], username="u", password="p") as m,
            EventWatcher(m, **rec.kwargs()),
        ):
            leader.script.stream_chunks.put_nowait(frame(ATTACHED))
            await wait_for(lambda: len(rec.log) >= 2)
    assert leader.script.stream_headers[0]["Authorization"].startswith("Basic ")


async def test_502_and_empty_200_back_off_and_retry_then_resync() -> None:
    rec = Recorder()
    async with ScriptedMarathon() as sm, MarathonClient([sm.url]) as m:
        sm.script.stream_status = 502
        # a stream that connected before the frame below was queued gets nothing from this scripted
        # server (frames go to the next connection): recycle such a stream quickly
        async with EventWatcher(m, idle_timeout_s=1.0, **rec.kwargs()):
            await wait_for(lambda: rec.reconnects >= 2)
            sm.script.stream_status = 200
            sm.script.stream_chunks.put_nowait(None)  # the next stream is an empty 200: closed at once
            await wait_for(
                lambda: (
                    len(sm.script.requests) >= 1 and sm.script.stream_chunks.empty() and rec.reconnects >= 3
                )
            )
            sm.script.stream_chunks.put_nowait(frame(ATTACHED))
            await wait_for(lambda: any(isinstance(x, Snapshot) for x in rec.log))


async def test_idle_stream_is_dropped_and_resynced() -> None:
    rec = Recorder()
    async with ScriptedMarathon() as sm, MarathonClient([sm.url]) as m:
        async with EventWatcher(m, idle_timeout_s=0.3, **rec.kwargs()) as w:
            sm.script.stream_chunks.put_nowait(frame(ATTACHED))
            await wait_for(lambda: w.connects == 1)
            # no byte at all now, not even a heartbeat: the watcher must notice and reconnect
            await wait_for(lambda: rec.reconnects >= 1)
            await wait_for(lambda: len(sm.script.stream_headers) >= 2)
            sm.script.stream_chunks.put_nowait(frame(ATTACHED))
            await wait_for(lambda: sum(isinstance(x, Snapshot) for x in rec.log) >= 2)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    garbage=st.lists(
        st.binary(max_size=200)
        | st.sampled_from(
            [
                b"data: {\r\n\r\n",
                b"event: x\r\n",
                b"data: \xff\xfe\r\n\r\n",
                b"\r",
                b"\n",
                b":comment\r\n",
                b"data: [1]\n\n",
                b'data: {"eventType":"status_update_event"}\r\n\r\n',
                b"retry: abc\n",
            ]
        ),
        max_size=8,
    )
)
def test_garbled_stream_bytes_never_crash_the_watcher(garbage: list[bytes]) -> None:
    async def run() -> None:
        rec = Recorder()
        async with ScriptedMarathon() as sm, MarathonClient([sm.url]) as m:
            async with EventWatcher(m, **rec.kwargs()) as w:
                q = sm.script.stream_chunks
                q.put_nowait(frame(ATTACHED))
                for chunk in garbage:
                    q.put_nowait(chunk)
                q.put_nowait(b"\r\n\r\n" + frame(status(7)))
                await wait_for(
                    lambda: any(isinstance(e, StatusUpdateEvent) for e in rec.log) or rec.reconnects > 0
                )
                assert w._task is not None and not w._task.done()

    asyncio.run(run())


async def test_a_2_mib_event_and_frames_split_at_every_byte_boundary() -> None:
    rec = Recorder()
    big = {
        "eventType": "api_post_event",
        "timestamp": "t",
        "clientIp": "127.0.0.1",
        "uri": "/v2/apps/big",
        "appDefinition": {"id": "/big", "instances": 1, "labels": {"BLOB": "x" * (2 * 1024 * 1024)}},
    }
    # Jetty writes the heartbeat as "\r", flush, "\n": the two halves may arrive in separate reads
    small = frame(status(1)) + b"\r" + b"\n" + frame(status(2))
    async with ScriptedMarathon() as sm, MarathonClient([sm.url]) as m:
        q = sm.script.stream_chunks
        async with EventWatcher(m, **rec.kwargs()):
            q.put_nowait(frame(ATTACHED))
            await wait_for(lambda: any(isinstance(x, Snapshot) for x in rec.log))
            payload = frame(big)
            for off in range(0, len(payload), 65536):
                q.put_nowait(payload[off : off + 65536])
            for i in range(len(small)):
                q.put_nowait(small[i : i + 1])
            await wait_for(lambda: sum(isinstance(e, StatusUpdateEvent) for e in rec.log) == 2)
    posts = [e for e in rec.log if getattr(e, "event_type", "") == "api_post_event"]
    assert len(posts) == 1
    assert len(posts[0].app_definition.labels["BLOB"]) == 2 * 1024 * 1024  # type: ignore[attr-defined]
    ids = [e.task_id for e in rec.log if isinstance(e, StatusUpdateEvent)]
    assert ids == ["a.instance-1._app.1", "a.instance-2._app.1"]
    assert rec.malformed == [] and rec.reconnects == 0

"""`/v2/events` on the wire, read with a raw socket (reference §1, §10 first bullet)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import EXAMPLES, SSE, Recorder, example, wait_for

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class RawStream:
    """An HTTP/1.1 GET of /v2/events over asyncio.open_connection; bytes exactly as sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.head = b""
        self.buf = b""

    @classmethod
    async def open(
        cls, lm: LocalMarathon, query: str = "", accept: str | None = "text/event-stream", extra: str = ""
    ) -> RawStream:
        reader, writer = await asyncio.open_connection(lm.host, lm.port)
        accept_line = f"Accept: {accept}\r\n" if accept is not None else ""
        request = f"GET /v2/events{query} HTTP/1.1\r\nHost: {lm.host}:{lm.port}\r\n{accept_line}{extra}\r\n"
        writer.write(request.encode())
        await writer.drain()
        stream = cls(reader, writer)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, f"connection closed before the head: {data!r}"
            data += chunk
        stream.head, _, stream.buf = data.partition(b"\r\n\r\n")
        return stream

    @property
    def status(self) -> int:
        return int(self.head.split(b" ")[1])

    def header(self, name: str) -> list[str]:
        lines = self.head.decode().split("\r\n")[1:]
        return [ln.split(":", 1)[1].strip() for ln in lines if ln.split(":", 1)[0].lower() == name.lower()]

    async def read_until(self, marker: bytes, timeout_s: float = 5.0) -> bytes:
        while marker not in self.buf:
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout_s)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        return self.buf

    async def frames(self, n: int, timeout_s: float = 5.0) -> list[tuple[str, dict[str, object]]]:
        out = []
        while len(out) < n:
            await self.read_until(b"\r\n\r\n", timeout_s)
            frame, _, self.buf = self.buf.partition(b"\r\n\r\n")
            frame = frame.lstrip(b"\r\n")  # heartbeats are bare CRLFs between frames
            if not frame:
                continue
            lines = frame.split(b"\r\n")
            assert len(lines) == 2 and lines[0].startswith(b"event: ") and lines[1].startswith(b"data: "), (
                frame
            )
            out.append((lines[0][7:].decode(), json.loads(lines[1][6:])))
        return out

    async def eof(self, timeout_s: float = 5.0) -> bytes:
        rest = b""
        while True:
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout_s)
            if not chunk:
                return rest
            rest += chunk

    def close(self) -> None:
        self.writer.close()


async def test_405_without_the_exact_accept_header(lm: LocalMarathon) -> None:
    for accept in (None, "text/event-stream; q=1", "*/*", "text/event-stream, */*"):
        stream = await RawStream.open(lm, accept=accept)
        assert stream.status == 405, accept
        stream.close()
    async with aiohttp.ClientSession() as http, http.get(lm.url + "/v2/events") as r:
        assert r.status == 405
        html = await r.text()
    expected = (EXAMPLES / "raml-events-405-missing-accept-header.html").read_text()
    assert "HTTP method GET is not supported by this URL" in html and "HTTP ERROR: 405" in expected


async def test_head_is_sse_with_connection_close_and_no_chunking(lm: LocalMarathon) -> None:
    stream = await RawStream.open(lm)
    assert stream.head.startswith(b"HTTP/1.1 200")
    assert stream.header("Content-Type") == ["text/event-stream;charset=utf-8"]
    assert stream.header("Connection") == ["close"]
    assert stream.header("Transfer-Encoding") == [] and stream.header("Content-Length") == []
    assert stream.header("X-Marathon-Leader") == [lm.url]
    assert stream.header("Cache-Control") == ["no-cache, no-store, must-revalidate"]
    stream.close()


async def test_first_frame_is_event_stream_attached_in_crlf(lm: LocalMarathon) -> None:
    stream = await RawStream.open(lm)
    raw = await stream.read_until(b"\r\n\r\n")
    assert raw.startswith(b"event: event_stream_attached\r\ndata: {")
    frame = raw.split(b"\r\n\r\n")[0]
    assert b"\n" not in frame.replace(b"\r\n", b"")  # only CRLF line ends, one data line
    [(kind, data)] = await stream.frames(1)
    assert kind == "event_stream_attached"
    # Code wins over docs (§9): `remoteAddress` only, not the documented clientIp/callbackUrl.
    documented = example("doc-event-event_stream_attached.json")
    assert "clientIp" in documented and "clientIp" not in data
    wire = (EXAMPLES / "raml-sse-events.txt").read_text().splitlines()[1]
    assert list(data) == list(json.loads(wire.removeprefix("data: ")))  # remoteAddress, eventType, timestamp
    assert data["remoteAddress"] == "127.0.0.1" and TS.match(str(data["timestamp"]))
    stream.close()


async def test_heartbeat_is_a_bare_crlf() -> None:
    async with LocalMarathon(port=0, executor="virtual", heartbeat_s=0.1) as lm:
        stream = await RawStream.open(lm)
        await stream.frames(1)
        await stream.read_until(b"\r\n\r\n")  # two heartbeats in a row
        assert stream.buf.startswith(b"\r\n\r\n")
        stream.close()


async def test_attached_goes_to_every_subscriber_and_detached_to_the_rest(lm: LocalMarathon) -> None:
    first = await RawStream.open(lm)
    await first.frames(1)
    second = await RawStream.open(lm)
    [(kind, _)] = await first.frames(1)
    assert kind == "event_stream_attached"
    second.close()
    [(kind, data)] = await first.frames(1)
    assert kind == "event_stream_detached" and list(data) == ["remoteAddress", "eventType", "timestamp"]
    first.close()


async def test_event_type_filter_is_repeatable(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    stream = await RawStream.open(lm, "?event_type=deployment_success&event_type=api_post_event")
    async with http.post(lm.url + "/v2/apps", json={"id": "/f", "cmd": "sleep 9", "instances": 1}):
        pass
    frames = await stream.frames(2)
    assert [k for k, _ in frames] == ["api_post_event", "deployment_success"]
    stream.close()


async def test_dropped_streams_get_no_replay_on_reconnect(
    lm: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    stream = await RawStream.open(lm)
    await stream.frames(1)
    async with http.post(lm.url + "/_localmarathon/faults", json={"drop_event_streams": True}) as r:
        assert r.status == 200
    await stream.eof()
    async with http.post(lm.url + "/v2/apps", json={"id": "/gap", "cmd": "sleep 9", "instances": 1}):
        pass
    again = await RawStream.open(lm, "?event_type=event_stream_attached&event_type=api_post_event")
    [(kind, _)] = await again.frames(1)
    assert kind == "event_stream_attached"
    async with http.post(lm.url + "/v2/apps", json={"id": "/after", "cmd": "sleep 9", "instances": 1}):
        pass
    [(kind, data)] = await again.frames(1)
    assert kind == "api_post_event" and data["uri"] == "/v2/apps"
    assert data["appDefinition"]["id"] == "/after"  # /gap's event was never replayed
    again.close()


async def test_slow_consumer_is_disconnected(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    async with http.post(lm.url + "/_localmarathon/faults", json={"slow_consumer_limit": 5}):
        pass
    stream = await RawStream.open(lm)
    assert lm.state is not None
    bus = lm.state.bus
    # The consumer reads nothing while more than the limit is published in one go.
    for i in range(50):
        bus.publish({"remoteAddress": f"x{i}", "eventType": "event_stream_attached", "timestamp": bus.now()})
    await stream.eof()
    await rec.wait(lambda e: e["eventType"] == "event_stream_detached", what="detached")

    async def no_streams() -> bool:
        async with http.get(lm.url + "/_localmarathon/stats") as r:
            return (await r.json())["open_streams"] == 0

    await wait_for(no_streams)


async def test_standby_redirects_events_with_the_query_and_proxies_rest() -> None:
    async with (
        LocalMarathon(port=0, executor="virtual", standby_port=0) as lm,
        aiohttp.ClientSession() as http,
    ):
        assert lm.standby_url
        url = lm.standby_url + "/v2/events?event_type=a&event_type=b"
        async with http.get(url, headers=SSE, allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == lm.url + "/v2/events?event_type=a&event_type=b"
        async with http.get(lm.standby_url + "/v2/leader") as r:
            assert r.status == 200
            assert r.headers["X-Marathon-Via"] == f"1.1 127.0.0.1:{lm.standby_port}"
            assert r.headers["X-Marathon-Leader"] == lm.url
            assert await r.json() == {"leader": f"127.0.0.1:{lm.port}"}
        async with http.post(lm.standby_url + "/v2/apps", json={"id": "/p", "cmd": "sleep 9"}) as r:
            assert r.status == 201
        async with http.get(lm.url + "/v2/apps/p") as r:
            assert r.status == 200


async def test_leader_change_drops_all_streams(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    streams = [await RawStream.open(lm) for _ in range(3)]
    async with http.post(lm.url + "/_localmarathon/faults", json={"leader_change": True}) as r:
        assert (await r.json())["dropped_streams"] == 3
    for stream in streams:
        await stream.eof()

"""The control API as an attacker on the same host sees it: tokens on every /v1/* route, a cap
on event-stream subscribers, slow subscribers dropped, TLS. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from reactor.engine.api import ApiServer, build_api, tls_context
from reactor.engine.bus import EventBus
from reactor.engine.metrics import Metrics
from tests.api.test_api import FakeControl, _rows, make_event
from tests.waiting import wait_until

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def serving(token: str | None = TOKEN, max_subscribers: int = 32, **kw: object):
    control = FakeControl(ready=True, rows=_rows(), past=[{"group": "web", "outcome": "completed"}])
    bus = EventBus()
    app = build_api(control, bus, Metrics(), token=token, heartbeat_s=0.2,
                    max_event_subscribers=max_subscribers)
    async with ApiServer(app, listen="127.0.0.1:0", **kw) as server:  # type: ignore[arg-type]
        yield server, bus


@pytest.mark.parametrize("path", ["/v1/deployments", "/v1/deployments/web", "/v1/history",
                                  "/v1/events"])
async def test_every_v1_get_needs_the_token_when_one_is_set(path: str) -> None:
    async with serving() as (server, _), aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            async with http.get(server.url + path, headers=headers) as resp:
                assert resp.status == 401, (path, headers)
                assert (await resp.json())["error"] == "unauthorized"
        if path != "/v1/events":
            async with http.get(server.url + path, headers=AUTH) as resp:
                assert resp.status == 200


async def test_probes_and_metrics_stay_open() -> None:
    async with serving() as (server, _), aiohttp.ClientSession() as http:
        for path in ("/healthz", "/readyz", "/metrics"):
            async with http.get(server.url + path) as resp:
                assert resp.status == 200, path


async def test_300_idle_subscribers_beyond_the_limit_get_503_and_readyz_answers() -> None:
    """The attack of the issue: 300 idle /v1/events clients. 32 are served, 268 refused at
    once; /readyz answers meanwhile and events still reach the served subscribers.
    (Latency is measured in tests/bench/bench_api_subscribers.py, not asserted here.)"""
    async with serving() as (server, bus):
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            async def subscribe() -> aiohttp.ClientResponse:
                return await http.get(server.url + "/v1/events", headers=AUTH)
            responses = await asyncio.gather(*(subscribe() for _ in range(300)))
            try:
                statuses = sorted(r.status for r in responses)
                assert statuses.count(200) == 32 and statuses.count(503) == 268
                refused = next(r for r in responses if r.status == 503)
                assert (await refused.json())["error"] == "too_many_subscribers"
                async with http.get(server.url + "/readyz") as ready:
                    assert ready.status == 200
                served = [r for r in responses if r.status == 200]
                for r in served:
                    assert await asyncio.wait_for(r.content.readline(), 10) == b": connected\n"
                bus.publish(make_event(1))
                for r in served:  # every served subscriber still gets the event
                    async with asyncio.timeout(10):
                        while not (await r.content.readline()).startswith(b"id: web-ev-1"):
                            pass
            finally:
                for r in responses:
                    r.close()
        # the slots are free again once those clients left
        async with aiohttp.ClientSession() as http:
            async def slot_free() -> bool:
                async with http.get(server.url + "/v1/events", headers=AUTH) as resp:
                    return resp.status == 200
            await wait_until(slot_free, what="a free /v1/events slot")


async def test_a_subscriber_that_stops_reading_is_dropped() -> None:
    """Its queue is bounded: the bus drops it rather than buffering for it forever."""
    async with serving(max_subscribers=2) as (server, bus), aiohttp.ClientSession() as http:
        async with http.get(server.url + "/v1/events", headers=AUTH) as slow:
            assert await slow.content.readline() == b": connected\n"
            assert bus.subscriber_count == 1
            big = "x" * 10_000
            for i in range(10_000):  # never read by the client: socket buffers fill, then the queue
                bus.publish(make_event(i).model_copy(update={"reason": big}))
                if bus.subscriber_count == 0:
                    break
                await asyncio.sleep(0)
            assert bus.subscriber_count == 0


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "api.crt", tmp / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


async def test_tls_api_answers_https_only(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    async with serving(ssl_context=tls_context(cert, key)) as (server, _):
        assert server.url.startswith("https://")
        client_ctx = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/v1/deployments", headers=AUTH, ssl=client_ctx) as resp:
                assert resp.status == 200
            with pytest.raises(aiohttp.ClientError):  # plain HTTP to the TLS port
                async with http.get(server.url.replace("https://", "http://") + "/healthz") as resp:
                    await resp.read()


def test_tls_files_that_are_not_a_certificate_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(OSError, match="cannot load TLS certificate"):
        tls_context(bad, bad)


async def test_a_first_connection_may_ask_for_the_recent_buffered_events() -> None:
    """The dashboard connects once its token is pasted: `?recent=N` gives what it missed."""
    async with serving() as (server, bus), aiohttp.ClientSession() as http:
        for i in range(3):
            bus.publish(make_event(i))
        async with http.get(server.url + "/v1/events?recent=2", headers=AUTH) as resp:
            ids = []
            async with asyncio.timeout(10):
                while len(ids) < 2:
                    line = await resp.content.readline()
                    if line.startswith(b"id: "):
                        ids.append(line[4:].strip().decode())
    assert ids == ["web-ev-1", "web-ev-2"]

"""Answers we do not control are read with a cap, whatever they announce: a webhook's answer and
a Marathon error body. A real server sends up to 200 MiB, chunked (no Content-Length); the reader
must stop early (the server could not send it all) and still give its one clear result."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from reactor.adapters.hooks.webhook import MAX_ANSWER_BYTES, Webhook
from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.errors import MarathonError
from reactor.settings import WebhookSettings
from tests.hooks.conftest import make_event

TOTAL = 200 * 1024 * 1024
CHUNK = b'{"message":"' + b"x" * (1024 * 1024)


class Flood:
    def __init__(self) -> None:
        self.sent = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(status=200 if request.path == "/hook" else 400)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            while self.sent < TOTAL:
                await resp.write(CHUNK)
                self.sent += len(CHUNK)
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return resp


@pytest.fixture
async def flood() -> AsyncIterator[tuple[Flood, str]]:
    f = Flood()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", f.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_a_webhook_answer_is_read_up_to_its_cap(flood: tuple[Flood, str]) -> None:
    server, url = flood
    async with aiohttp.ClientSession() as session:
        hook = Webhook(WebhookSettings(url=url + "/hook", gate=True, timeout_s=60), session)
        status, body = await hook.post(make_event(1))
    assert status == 200 and len(body) == MAX_ANSWER_BYTES
    assert server.sent < TOTAL


async def test_a_marathon_error_body_is_read_up_to_its_cap(flood: tuple[Flood, str]) -> None:
    server, url = flood
    async with MarathonClient([url], request_timeout_s=60) as client:
        with pytest.raises(MarathonError) as err:
            await client.get_app("/web")
    assert err.value.status == 400 and len(str(err.value)) < 70_000
    assert server.sent < TOTAL

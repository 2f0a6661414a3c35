"""Webhook signatures with a timestamp: a real Webhook posts to a real receiver; the receiver code
printed in the README (run here verbatim) accepts the fresh delivery and refuses it replayed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from reactor.adapters.hooks.webhook import (
    SIGNATURE_256_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Webhook,
    sign_timestamped,
    verify,
)
from reactor.settings import WebhookSettings
from tests.hooks.conftest import make_event

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "replay-secret"
T0 = 1_800_000_000.0


def readme_receiver() -> Any:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- webhook-receiver:begin -->\s*```python\n(.*?)```\s*"
                      r"<!-- webhook-receiver:end -->", text, re.S)
    assert block, "the README's receiver block is missing"
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), "README.md:webhook-receiver", "exec"), namespace)
    return namespace["check_delivery"]


@pytest.fixture
async def captured() -> AsyncIterator[list[tuple[dict[str, str], bytes]]]:
    """Deliveries as a receiver sees them (headers, raw body), captured on the wire."""
    seen: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        hook = Webhook(WebhookSettings(url=f"http://127.0.0.1:{port}/hook", secret=SecretStr(SECRET)),
                       session, wall_clock=lambda: T0)
        await hook.deliver(make_event(1))
    yield seen
    await runner.cleanup()


async def test_headers_old_and_new(captured: list[tuple[dict[str, str], bytes]]) -> None:
    [(headers, body)] = captured
    assert headers[TIMESTAMP_HEADER] == str(int(T0))
    assert headers[SIGNATURE_256_HEADER] == sign_timestamped(str(int(T0)), body, SECRET)
    assert verify(body, SECRET, headers[SIGNATURE_HEADER])  # the old header still verifies


async def test_the_readme_receiver_refuses_a_replayed_delivery(
        captured: list[tuple[dict[str, str], bytes]]) -> None:
    check = readme_receiver()
    [(headers, body)] = captured
    seen: dict[str, float] = {}
    assert check(headers, body, SECRET, seen, now=T0 + 2) == "new"
    assert check(headers, body, SECRET, seen, now=T0 + 60) == "duplicate"  # replay within 5 min
    assert check(headers, body, SECRET, {}, now=T0 + 301) == "reject"  # replay later: too old
    assert check(headers, body, SECRET, {}, now=T0 - 301) == "reject"  # from the future


async def test_the_readme_receiver_refuses_forgeries(captured: list[tuple[dict[str, str], bytes]]) -> None:
    check = readme_receiver()
    [(headers, body)] = captured
    restamped = {**headers, TIMESTAMP_HEADER: str(int(T0) + 400)}  # a replay with a new date
    assert check(restamped, body, SECRET, {}, now=T0 + 400) == "reject"
    assert check(headers, body.replace(b"web", b"wab"), SECRET, {}, now=T0) == "reject"
    assert check(headers, body, "another-secret", {}, now=T0) == "reject"
    unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_256_HEADER}
    assert check(unsigned, body, SECRET, {}, now=T0) == "reject"

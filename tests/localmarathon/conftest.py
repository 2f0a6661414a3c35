"""Fixtures of the embedded Marathon's tests: a live server, an HTTP session, an event recorder."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from reactor.localmarathon.server import LocalMarathon

# A copy of shared/reference/marathon-examples lives in tests/fixtures (any clone can run it).
EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "marathon-examples"
SSE = {"Accept": "text/event-stream"}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


async def wait_for(
    cond: Callable[[], Awaitable[Any]], timeout_s: float = 10.0, what: str = "condition"
) -> Any:
    """Poll `cond` until it returns a truthy value; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


class Recorder:
    """Every event the bus publishes, in order (an in-process observer, no HTTP involved)."""

    def __init__(self, lm: LocalMarathon) -> None:
        assert lm.state is not None
        self.events: list[dict[str, Any]] = []
        lm.state.bus.listeners.append(self.events.append)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["eventType"] == event_type]

    async def wait(
        self, pred: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0, what: str = "event"
    ) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            return next((e for e in self.events if pred(e)), None)

        result: dict[str, Any] = await wait_for(found, timeout_s, what)
        return result


@pytest.fixture
async def lm() -> AsyncIterator[LocalMarathon]:
    async with LocalMarathon(port=0, executor="virtual", heartbeat_s=10.0, lenient=True) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def rec(lm: LocalMarathon) -> Recorder:
    return Recorder(lm)

"""Fixtures: a real haproxy per test and real aiohttp task servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from reactor.adapters.lb import HaproxyLoadBalancer
from tests.lb.support import Haproxy, TaskServer


@pytest.fixture
async def haproxy(tmp_path: Path) -> AsyncIterator[Haproxy]:
    proc = Haproxy(tmp_path)
    await proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def lb(haproxy: Haproxy) -> AsyncIterator[HaproxyLoadBalancer]:
    async with HaproxyLoadBalancer(str(haproxy.sock), timeout_s=5.0, remove_busy_timeout_s=15.0) as driver:
        yield driver


@pytest.fixture
async def task_server() -> AsyncIterator[Callable[[str], Awaitable[TaskServer]]]:
    started: list[TaskServer] = []

    async def make(name: str) -> TaskServer:
        server = await TaskServer(name).start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()

"""The drain watcher reads untrusted bodies: a chunked 200 MiB metrics body (no Content-Length)
and a 200 MiB SSE line must not grow the reader's memory. The watcher runs in a child process
whose peak RSS (ru_maxrss) it reports itself; the server is real HTTP in this process."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

CHILD = Path(__file__).with_name("drain_child.py")
REPO = Path(__file__).resolve().parents[2]
TOTAL_MIB = 200
RSS_LIMIT_MIB = 150


class Flood:
    def __init__(self) -> None:
        self.sent = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sse = request.path.endswith("stream")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream" if sse else "text/plain"})
        resp.enable_chunked_encoding()  # no Content-Length: the old check never fired
        await resp.prepare(request)
        chunk = (b"data: " if sse else b"pending_operations 0\n# ") + b"x" * (1024 * 1024 - 30)
        try:
            for _ in range(TOTAL_MIB):
                await resp.write(chunk)
                self.sent += len(chunk)
                chunk = b"x" * len(chunk) if sse else chunk  # one endless SSE line
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the reader gave up, as it should
        return resp


@pytest.fixture
async def flood() -> AsyncIterator[tuple[Flood, int]]:
    f = Flood()
    app = web.Application()
    app.router.add_get("/metrics", f.handle)
    app.router.add_get("/metrics/stream", f.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f, runner.addresses[0][1]
    await runner.cleanup()


@pytest.mark.parametrize(("source", "path", "reason"), [
    ("prometheus", "/metrics", "payload larger than"),
    ("stream", "/metrics/stream", "SSE line of more than"),
])
async def test_a_200_mib_body_keeps_the_watcher_under_150_mb(flood: tuple[Flood, int], source: str,
                                                           path: str, reason: str) -> None:
    server, port = flood
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(port), source, path, cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert reason in result["detail"], result
    rss_mib = result["maxrss_kib"] / 1024
    assert rss_mib < RSS_LIMIT_MIB, f"peak RSS {rss_mib:.0f} MiB reading a {TOTAL_MIB} MiB body"
    assert server.sent < TOTAL_MIB * 1024 * 1024  # the reader stopped early; not all was sent

"""Running `bluegreen sample-app` as a real subprocess for tests, and waiting on conditions.

Shared by tests/sampleapp and tests/drain. Processes are started on a free loopback port and
always killed on exit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

BLUEGREEN = str(Path(sys.executable).parent / "bluegreen")
_INHERITED_DROP = ("PORT", "SAMPLE_", "APP_VERSION", "MARATHON_", "MESOS_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(predicate: Callable[[], Any | Awaitable[Any]], *, timeout_s: float = 10.0,
                     what: str = "condition", step_s: float = 0.02) -> Any:
    """Return the first truthy value of predicate(); fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(step_s)


@dataclass
class SampleApp:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout_s: float = 10.0) -> int:
        await wait_until(lambda: self.proc.poll() is not None, timeout_s=timeout_s, what="process exit")
        return int(self.proc.returncode)


def sample_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_DROP)}
    env.update(extra)
    return env


def spawn_sample_app(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([BLUEGREEN, "sample-app"], env=sample_env(env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


@asynccontextmanager
async def running_sample_app(env: dict[str, str] | None = None,
                             timeout_s: float = 20.0) -> AsyncIterator[SampleApp]:
    """A `bluegreen sample-app` process with PORT0 set, once GET / answers; killed afterwards."""
    app: SampleApp | None = None
    async with aiohttp.ClientSession() as session:
        for _attempt in range(3):  # a free port may be taken by a parallel suite in between
            port = free_port()
            proc = spawn_sample_app({"PORT0": str(port), **(env or {})})
            candidate = SampleApp(proc, port)

            async def up(c: SampleApp = candidate) -> bool:
                return c.proc.poll() is not None or await _answers(session, c.url + "/")

            await wait_until(up, timeout_s=timeout_s, what="sample-app to answer")
            if proc.poll() is None:
                app = candidate
                break
    if app is None:
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        raise AssertionError(f"sample-app did not start: {stderr}")
    try:
        yield app
    finally:
        if app.proc.poll() is None:
            app.proc.kill()
        app.proc.wait()
        if app.proc.stderr:
            app.proc.stderr.close()

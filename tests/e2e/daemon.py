"""The reactor as a daemon child process (`python -m reactor run --config ...`) for e2e tests.

Owns its config file, start (ready = `GET /readyz` 200), SIGKILL, graceful stop, its API
(`/v1/history`, `/v1/events` deploy-event stream) and its log. Signals go to this pid only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from reactor.cli.demo.haproxy import free_port
from tests.e2e.world import settings_dict, to_toml

REPO = Path(__file__).resolve().parents[2]


class ReactorDaemon:
    def __init__(self, workdir: Path, urls: list[str], socket: Path | str, *,
                 drain_source: str = "prometheus",
                 lease_ttl_s: float = 2.0, lb_driver: str = "haproxy", log_level: str = "info",
                 deploy: dict[str, Any] | None = None) -> None:
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        data = settings_dict(urls, socket, workdir / "daemon.db", drain_source=drain_source,
                             lease_ttl_s=lease_ttl_s, api_listen=f"127.0.0.1:{self.api_port}",
                             lb_driver=lb_driver)
        data["log"]["level"] = log_level
        data["deploy"].update(deploy or {})
        self.config = workdir / "reactor.toml"
        self.config.write_text(to_toml(data))
        self.log = workdir / "reactor.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, ready_timeout_s: float = 20.0) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "reactor", "run", "--config", str(self.config),
                stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + ready_timeout_s
        async with aiohttp.ClientSession() as session:
            while not await self._ready(session):
                if self.proc.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError(f"reactor daemon not ready: {self.tail()}")
                await asyncio.sleep(0.05)  # polling the daemon's readiness with a deadline

    async def _ready(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(f"{self.api}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGKILL)

    async def wait_dead(self) -> None:
        assert self.proc is not None
        await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 25)
            except TimeoutError:
                self.kill()
                await self.proc.wait()

    async def history(self, limit: int = 50) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, \
                session.get(f"{self.api}/v1/history", params={"limit": str(limit)}) as r:
            return list((await r.json())["history"]) if r.status == 200 else []

    async def metrics_text(self) -> str:
        async with aiohttp.ClientSession() as session, session.get(f"{self.api}/metrics") as r:
            return await r.text()

    async def kill_at(self, event: str, nth: int, connected: asyncio.Event) -> float:
        """SIGKILL the daemon at the `nth` deploy event `event` of its own stream; when."""
        seen = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session, \
                session.get(f"{self.api}/v1/events") as r:
            connected.set()
            async for raw in r.content:
                if raw.decode().strip() == f"event: {event}":
                    seen += 1
                    if seen == nth:
                        self.kill()
                        return time.time()
        raise AssertionError(f"the daemon's event stream ended before {event} #{nth}")

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    async def __aenter__(self) -> ReactorDaemon:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

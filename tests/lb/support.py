"""Real components for the LB driver tests: a haproxy process and small aiohttp task servers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

HAPROXY_CFG = """\
global
    stats socket {sock} level admin
    stats socket {op_sock} level operator
    stats socket ipv4@127.0.0.1:{cli_port} level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout queue 5s

frontend fe
    bind 127.0.0.1:{http_port}
    default_backend web

frontend fe_checked
    bind 127.0.0.1:{checked_port}
    default_backend checked

backend web
    balance roundrobin

backend checked
    balance roundrobin
    option httpchk GET /health
    # a check fails on the answer (503), never on a slow one: without this the check's timeout
    # is `inter` (100 ms in the tests), and the task servers, which answer from the test's own
    # event loop, were sometimes slower on a busy machine (a backup then went DOWN: a 503)
    timeout check 5s

backend leastconn
    balance leastconn

backend static
    balance static-rr

backend hashed
    balance source

backend hashed_consistent
    balance source
    hash-type consistent

backend foreign
    balance roundrobin
    server static1 127.0.0.1:{unused_port} disabled
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(predicate: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Haproxy:
    """`haproxy -f cfg -db` as a child process, restartable on the same socket and ports."""

    workdir: Path
    sock: Path = field(init=False)
    op_sock: Path = field(init=False)
    cli_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    checked_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.sock = self.workdir / "admin.sock"
        self.op_sock = self.workdir / "operator.sock"
        self.cfg = self.workdir / "haproxy.cfg"
        self.log = self.workdir / "haproxy.log"
        self.cfg.write_text(HAPROXY_CFG.format(
            sock=self.sock, op_sock=self.op_sock, cli_port=self.cli_port, http_port=self.http_port,
            checked_port=self.checked_port, unused_port=free_port(),
        ))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def spawn(self) -> None:
        binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
        assert binary, "haproxy binary missing: apt-get install -y haproxy"
        check = subprocess.run([binary, "-c", "-f", str(self.cfg)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([binary, "-f", str(self.cfg), "-db"], stdout=log,
                                         stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self.spawn()
        await wait_until(self._answers, what="haproxy stats socket")

    async def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log.read_text()[-2000:]
            raise AssertionError(f"haproxy exited with {self.proc.returncode}: {tail}")
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.sock))
        except OSError:
            return False
        writer.write(b"show version\n")
        data = await reader.read()
        writer.close()
        return bool(data.strip())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    async def restart(self) -> None:
        self.stop()
        await self.start()


@dataclass
class TaskServer:
    """A real HTTP task: `/` answers its name, `/slow?ms=N` after N ms, `/health` 200 or 503."""

    name: str
    healthy: bool = True
    port: int = 0
    in_flight: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> TaskServer:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text=self.name)

    async def _slow(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        try:
            await asyncio.sleep(int(request.query.get("ms", "1000")) / 1000)
        finally:
            self.in_flight -= 1
        return web.Response(text=self.name)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self.healthy else 503, text="health")


async def get(url: str, path: str = "/") -> tuple[int, str]:
    """One request on a fresh connection (so HAProxy balances each request on its own)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async with session.get(url + path, timeout=aiohttp.ClientTimeout(total=20)) as resp:
            return resp.status, await resp.text()

"""A real `haproxy` process for the demo, the end-to-end tests and the benchmarks.

Owns: writing the configuration, starting `haproxy -f <cfg> -db` as a child process, waiting
until its runtime socket answers, stopping it, and restarting it as a fresh process (dynamic
servers are then lost: fault tests use that). Must not add or remove servers: whoever routes
(the reactor's LB driver, or the marathon-lb baseline) does that through the runtime API.

Configuration choices (HAProxy >= 2.6; `retry-on` needs >= 2.0, dynamic servers >= 2.5):
- backends have NO static servers and `balance roundrobin`, a dynamic-capable algorithm, so
  `add server` works. HAProxy never applies `default-server` to dynamic servers, so check
  parameters belong on each `add server` line; the backend only declares `option httpchk GET
  <health_path>`, used by servers added with `check` (then `enable health`). Whether to check is
  the router's choice: marathon-lb checks (interval from the app's health check), and a server
  added without `check` is simply routed while it is up.
- `option redispatch`, `retries 3` and `retry-on conn-failure empty-response response-timeout`
  (the default `retry_on`): an idempotent GET that hits a vanished server is replayed on another
  one. This hides some failures from clients; pass `retry_on=None` to measure without it.
- `timeout server` is long (30 s) so slow requests of the load are never cut by HAProxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import time
from pathlib import Path
from types import TracebackType

import structlog

from reactor.cli.demo.errors import ComponentFailed, ComponentMissing
from reactor.cli.demo.runtime import RuntimeApiError, runtime_command

log = structlog.get_logger(__name__)

DEFAULT_RETRY_ON = "conn-failure empty-response response-timeout"
INSTALL_HINT = "apt-get install -y haproxy"
MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def render_config(*, frontend_port: int, backends: list[str], stats_socket: Path,
                  retry_on: str | None = DEFAULT_RETRY_ON, health_path: str = "/health") -> str:
    """The haproxy.cfg text. The first backend is the default; a request carrying the header
    `X-Backend: <name>` goes to that backend instead."""
    lines = [
        "global",
        f"    stats socket {stats_socket} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        "    option httplog",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout queue 10s",
        "    timeout check 2s",
        "    option redispatch",
        "    retries 3",
    ]
    if retry_on:
        lines.append(f"    retry-on {retry_on}")
    lines += ["", "frontend demo", f"    bind 127.0.0.1:{frontend_port}"]
    for name in backends[1:]:
        lines.append(f"    use_backend {name} if {{ req.hdr(x-backend) -m str {name} }}")
    lines += [f"    default_backend {backends[0]}", ""]
    for name in backends:
        lines += [f"backend {name}", "    balance roundrobin", f"    option httpchk GET {health_path}", ""]
    return "\n".join(lines)


class HaproxyProcess:
    """`haproxy` running in the foreground as a child; an async context manager.

    `start`/`stop` are idempotent; `restart()` stops and starts a fresh process on the same
    port and socket. Raises ComponentMissing when the binary cannot be found and
    ComponentFailed when it does not come up (its output is in `workdir/haproxy.log`).
    """

    def __init__(self, workdir: Path, *, backends: list[str], frontend_port: int = 0,
                 stats_socket: Path | None = None, binary: str = "haproxy",
                 retry_on: str | None = DEFAULT_RETRY_ON, health_path: str = "/health",
                 start_timeout_s: float = 10.0, stop_timeout_s: float = 5.0) -> None:
        if not backends:
            raise ValueError("HaproxyProcess needs at least one backend name")
        self.workdir = Path(workdir)
        self.backends = list(backends)
        self.stats_socket = Path(stats_socket) if stats_socket else self.workdir / "admin.sock"
        if len(str(self.stats_socket)) > MAX_UNIX_PATH:
            raise ValueError(f"stats socket path is too long for a unix socket "
                             f"({len(str(self.stats_socket))} > {MAX_UNIX_PATH}): {self.stats_socket}")
        self.binary = binary
        self.retry_on = retry_on
        self.health_path = health_path
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._requested_port = frontend_port
        self._port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self.config_path = self.workdir / "haproxy.cfg"
        self.log_path = self.workdir / "haproxy.log"

    @property
    def frontend_port(self) -> int:
        if self._port is None:
            raise RuntimeError("HaproxyProcess is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def resolve_binary(self) -> str:
        found = shutil.which(self.binary)
        if found is None or not os.access(found, os.X_OK):
            raise ComponentMissing("haproxy", INSTALL_HINT)
        return found

    async def version(self) -> str:
        """First line of `haproxy -v`, e.g. `HAProxy version 2.6.12-1+deb12u4 ...`."""
        proc = await asyncio.create_subprocess_exec(
            self.resolve_binary(), "-v", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return out.decode(errors="replace").splitlines()[0].strip() if out else ""

    async def start(self) -> None:
        if self._proc is not None:
            return
        binary = self.resolve_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        # a port picked by us can be taken by someone else before haproxy binds it: retry then
        attempts = 3 if self._requested_port == 0 and self._port is None else 1
        for attempt in range(attempts):
            port = self._port or self._requested_port or free_port()
            try:
                await self._spawn(binary, port)
                self._port = port
                log.info("haproxy.started", port=port, pid=self.pid, socket=str(self.stats_socket))
                return
            except ComponentFailed:
                if attempt == attempts - 1:
                    raise

    async def _spawn(self, binary: str, port: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.stats_socket.unlink()
        self.config_path.write_text(render_config(
            frontend_port=port, backends=self.backends, stats_socket=self.stats_socket,
            retry_on=self.retry_on, health_path=self.health_path))
        with self.log_path.open("ab") as log_file:
            proc = await asyncio.create_subprocess_exec(
                binary, "-f", str(self.config_path), "-db", stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=log_file, start_new_session=True)
        self._proc = proc
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if proc.returncode is not None:
                self._proc = None
                raise ComponentFailed("haproxy", f"exited with {proc.returncode} at start: "
                                                 f"{self._log_tail()}")
            try:
                if "Name: HAProxy" in await runtime_command(self.stats_socket, "show info", timeout_s=1.0):
                    return
            except RuntimeApiError:
                pass
            if time.monotonic() > deadline:
                await self._terminate()
                raise ComponentFailed("haproxy", f"runtime socket did not answer within "
                                                 f"{self.start_timeout_s}s: {self._log_tail()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.05)

    def _log_tail(self, n_chars: int = 600) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:].strip()
        except OSError:
            return "(no log)"

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)  # with -db, SIGTERM is an immediate stop
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def stop(self) -> None:
        if self._proc is None:
            return
        await self._terminate()
        with contextlib.suppress(FileNotFoundError):
            self.stats_socket.unlink()
        log.info("haproxy.stopped", port=self._port)

    async def restart(self) -> None:
        """A fresh process on the same port and socket: every dynamic server is gone."""
        await self.stop()
        await self.start()

    async def command(self, command: str) -> str:
        """One runtime-API command; the raw answer."""
        return await runtime_command(self.stats_socket, command)

    async def __aenter__(self) -> HaproxyProcess:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

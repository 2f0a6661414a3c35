"""The HAProxy driver: dynamic servers through the Runtime API (HAProxy 2.4+).

Owns the mapping of the LoadBalancer protocol onto `add server` / `set server ... state` /
`enable health` / `del server` / `show servers state` + `show stat`. Every operation is
idempotent: an existing server is re-enabled, an absent one is not an error for drain, maint or
remove. Servers whose names were not made by `names.server_name` (config-file servers,
marathon-lb's) are not reported by observe and never touched. Host names are resolved here:
HAProxy 2.6 does not resolve the address of a dynamic server without a resolvers section.
Must not keep a connection open between commands (restarts would break it).
"""

from __future__ import annotations

import asyncio
import socket
import time

import structlog

from reactor.adapters.lb import haproxy_answers as answers
from reactor.adapters.lb.base import Lifecycle, PoolServer
from reactor.adapters.lb.errors import (
    BackendNotDynamic,
    BackendNotFound,
    LbInvalidRequest,
    LbProtocolError,
    ServerStillBusy,
)
from reactor.adapters.lb.haproxy_answers import Outcome
from reactor.adapters.lb.haproxy_cli import RuntimeApi
from reactor.adapters.lb.names import (
    HAPROXY_NAME_CHARS,
    check_hostname,
    check_port,
    endpoint,
    ip_literal,
    server_name,
    task_id_of,
)

log = structlog.get_logger(__name__)

CLI_SLOTS = 8  # concurrent runtime-API connections (HAProxy's default stats maxconn is 10)
_STAT_BACKEND = 2
_STAT_SERVER = 4


class HaproxyLoadBalancer(Lifecycle):
    """LoadBalancer over HAProxy's Runtime API.

    `health_check` is appended to `add server` (default "check": HAProxy then checks the server
    with the backend's check settings — `option httpchk` if any, else a TCP connect — and a
    failing server is observed DOWN); None adds servers without checks.
    `remove_busy_timeout_s` bounds how long `remove` retries `del server` while connections are
    attached before raising ServerStillBusy (the server then stays in maintenance).
    """

    def __init__(
        self,
        socket_path: str,
        *,
        timeout_s: float = 5.0,
        health_check: str | None = "check",
        remove_busy_timeout_s: float = 10.0,
        remove_retry_interval_s: float = 0.1,
    ) -> None:
        if health_check is not None and any(c in health_check for c in "\n;#"):
            raise LbInvalidRequest(f"health_check {health_check!r} must not contain newlines, ';' or '#'")
        self._api = RuntimeApi(socket_path, timeout_s)
        self._health_check = health_check.strip() if health_check else None
        self._busy_timeout_s = remove_busy_timeout_s
        self._retry_s = remove_retry_interval_s
        self._slots: asyncio.Semaphore | None = None  # created on the running loop
        self.commands_sent = 0  # runtime-API commands (one unix-socket connection each)

    async def _send(self, command: str) -> str:
        """One runtime-API command, at most CLI_SLOTS at once: HAProxy's stats socket accepts
        10 connections by default (`stats maxconn`) and drops the rest ("connection lost"), which
        a refill of many groups at once after a restart would otherwise hit."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(CLI_SLOTS)
        async with self._slots:
            self.commands_sent += 1
            return await self._api.run(command)

    @property
    def target(self) -> str:
        return self._api.target

    async def version(self) -> str:
        """HAProxy's version string (`show version`), e.g. "2.6.12-1+deb12u4"."""
        return (await self._send("show version")).strip()

    async def process_info(self) -> tuple[str, int]:
        """(Pid, Uptime_sec) of the HAProxy process answering `show info`: a new pid or a
        smaller uptime means HAProxy was restarted or reloaded (runtime-added servers lost)."""
        info = dict(line.split(": ", 1) for line in (await self._send("show info")).splitlines()
                    if ": " in line)
        uptime = info.get("Uptime_sec", "").strip()
        return info.get("Pid", "?").strip(), int(uptime) if uptime.isdigit() else 0

    async def _run(self, backend: str, command: str) -> Outcome:
        answer = await self._send(command)
        outcome = answers.classify(answer, command=command, backend=backend, target=self.target)
        if outcome is Outcome.NOT_DYNAMIC:
            raise BackendNotDynamic(backend, await self._algorithm(backend))
        return outcome

    async def _algorithm(self, backend: str) -> str:
        command = f"show stat {backend} {_STAT_BACKEND} -1"
        rows = answers.parse_stat(await self._send(command), command=command)
        return next((r.get("algo") or "?" for r in rows if r.get("svname") == "BACKEND"), "?")

    @staticmethod
    def _check_backend(backend: str) -> str:
        if not backend or not set(backend) <= HAPROXY_NAME_CHARS:
            raise BackendNotFound(backend)
        return backend

    async def _resolve(self, address: str, port: int) -> str:
        ip = ip_literal(address)
        if ip is not None:
            return ip
        check_hostname(address)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(address, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise LbInvalidRequest(f"cannot resolve host {address!r}: {exc}") from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)  # prefer IPv4
        return str(infos[0][4][0])

    async def observe(self, backend: str) -> dict[str, PoolServer]:
        self._check_backend(backend)
        command = f"show servers state {backend}"
        text = await self._send(command)
        if not text.startswith("1"):
            answers.classify(text, command=command, backend=backend, target=self.target)
            raise LbProtocolError(text, command)
        rows = answers.parse_servers_state(text, command=command)
        command = f"show stat {backend} {_STAT_SERVER} -1"
        text = await self._send(command)
        if not text.startswith("# "):
            answers.classify(text, command=command, backend=backend, target=self.target)
        stats = {
            r["svname"]: r for r in answers.parse_stat(text, command=command) if r.get("pxname") == backend
        }
        pool: dict[str, PoolServer] = {}
        for row in rows:
            task_id = task_id_of(row.name)
            if task_id is None:
                continue  # not ours: reported by HAProxy, ignored here
            stat = stats.get(row.name, {})
            pool[task_id] = PoolServer(
                task_id=task_id, name=row.name, address=row.address, port=row.port, state=row.state,
                sessions=answers.stat_int(stat, "scur"), queued=answers.stat_int(stat, "qcur"),
                backup=answers.stat_int(stat, "bck") == 1,
            )
        return pool

    async def add(self, backend: str, task_id: str, address: str, port: int, backup: bool = False) -> None:
        self._check_backend(backend)
        name, port = server_name(task_id), check_port(port)
        ip = await self._resolve(address, port)
        ref = f"{backend}/{name}"
        checks = f" {self._health_check}" if self._health_check else ""
        checks += " backup" if backup else ""
        for _attempt in range(3):  # a concurrent remove may delete it between our commands
            command = f"add server {ref} {endpoint(ip, port)}{checks}"
            outcome = await self._run(backend, command)
            if outcome not in (Outcome.OK, Outcome.EXISTS):
                raise LbProtocolError(outcome.value, command)
            if self._health_check:  # NO_HEALTH_CHECK: an existing server added without checks
                outcome = await self._run(backend, f"enable health {ref}")
                if outcome is Outcome.NO_SERVER:
                    continue
            outcome = await self._run(backend, f"set server {ref} state ready")
            if outcome is Outcome.OK:
                log.info("lb.server_ready", backend=backend, task=task_id, server=name, address=ip, port=port,
                         backup=backup)
                return
            if outcome is not Outcome.NO_SERVER:
                raise LbProtocolError(outcome.value, f"set server {ref} state ready")
        raise LbProtocolError("server vanished after each 'add server'", f"add server {ref}")

    async def _set_state(self, backend: str, task_id: str, state: str) -> Outcome:
        self._check_backend(backend)
        command = f"set server {backend}/{server_name(task_id)} state {state}"
        outcome = await self._run(backend, command)
        if outcome not in (Outcome.OK, Outcome.NO_SERVER):
            raise LbProtocolError(outcome.value, command)
        return outcome

    async def drain(self, backend: str, task_id: str) -> None:
        if await self._set_state(backend, task_id, "drain") is Outcome.OK:
            log.info("lb.server_drain", backend=backend, task=task_id)

    async def maint(self, backend: str, task_id: str) -> None:
        if await self._set_state(backend, task_id, "maint") is Outcome.OK:
            log.info("lb.server_maint", backend=backend, task=task_id)

    async def remove(self, backend: str, task_id: str) -> None:
        if await self._set_state(backend, task_id, "maint") is Outcome.NO_SERVER:
            return
        command = f"del server {backend}/{server_name(task_id)}"
        started = time.monotonic()
        while True:
            outcome = await self._run(backend, command)
            if outcome in (Outcome.OK, Outcome.NO_SERVER):
                log.info("lb.server_removed", backend=backend, task=task_id)
                return
            if outcome is Outcome.NOT_IN_MAINT:  # someone re-enabled it meanwhile
                await self._set_state(backend, task_id, "maint")
            elif outcome is not Outcome.BUSY:
                raise LbProtocolError(outcome.value, command)
            waited_s = time.monotonic() - started
            if waited_s >= self._busy_timeout_s:
                raise ServerStillBusy(backend, task_id, waited_s)
            log.debug("lb.server_busy", backend=backend, task=task_id, waited_s=round(waited_s, 2))
            await asyncio.sleep(self._retry_s)

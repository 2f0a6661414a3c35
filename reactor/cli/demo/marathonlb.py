"""The baseline router: HAProxy kept in sync with one Marathon app the way marathon-lb does.

This is "what users do today", used to compare against the reactor; it is neither tuned to look
bad nor to look good. Exactly what it does:

- Subscribes to `GET /v2/events` (SSE). After every (re)connect it syncs once; afterwards every
  `status_update_event`, `health_status_changed_event`, `instance_health_changed_event` or
  `api_post_event` concerning the app marks it dirty (marathon-lb's cache-invalidation pattern).
  A dropped stream is reconnected after `reconnect_delay_s`.
- A sync re-reads `GET /v2/apps/{id}?embed=app.tasks` and makes the backend's servers equal to
  the app's tasks that are TASK_RUNNING and, when `respect_marathon_health` (marathon-lb's
  `--health-check` flag, on in the DC/OS package), whose health-check results are all alive.
  A task that is KILLING, KILLED, unhealthy or gone loses its server: `set server … state maint`
  (no new requests; requests in flight continue, as with the old process after a marathon-lb
  reload), then `del server` (retried on later syncs while connections remain).
- A new task gets `add server <backend>/<sanitized task id> <host>:<ports[0]>`, with
  `check inter <intervalSeconds> fall <maxConsecutiveFailures + 1>` taken from the app's first
  HTTP health check when `haproxy_checks` (marathon-lb's HAPROXY_BACKEND_SERVER_HTTP_HEALTHCHECK
  template; HAProxy's default rise 2), then `enable health` and `set server … state ready`.
- It never waits for a task to drain and never delays a kill: Marathon's rolling restart decides
  when old tasks die, the router only follows.

Must not: change Marathon, or import the reactor's adapters (the comparison must not share code).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import structlog

from reactor.cli.demo.runtime import RuntimeApiError, checked_command, servers_state
from reactor.cli.demo.scenario import healthy_running_tasks

log = structlog.get_logger(__name__)

WATCHED_EVENTS = frozenset({"status_update_event", "health_status_changed_event",
                            "instance_health_changed_event", "api_post_event"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def server_name(task_id: str) -> str:
    """HAProxy accepts letters, digits and `_.:-` in server names."""
    return _UNSAFE.sub("_", task_id)[:120]


def event_app_id(event: dict[str, Any]) -> str | None:
    if event.get("eventType") == "api_post_event":
        return str((event.get("appDefinition") or {}).get("id"))
    value = event.get("appId") or event.get("runSpecId")
    return None if value is None else str(value)


def check_args(app: dict[str, Any]) -> str:
    """marathon-lb's server check options for the app's first HTTP health check ("" if none)."""
    for hc in app.get("healthChecks") or []:
        if hc.get("protocol", "HTTP") in ("HTTP", "MESOS_HTTP"):
            inter_ms = max(1, round(float(hc.get("intervalSeconds", 60)) * 1000))
            return f" check inter {inter_ms}ms fall {int(hc.get('maxConsecutiveFailures', 3)) + 1}"
    return ""


class MarathonLbSyncer:
    """Keeps `backend` equal to the routable tasks of `app_id`; an async context manager."""

    def __init__(self, marathon_url: str, *, app_id: str, stats_socket: Path, backend: str,
                 respect_marathon_health: bool = True, haproxy_checks: bool = True,
                 reconnect_delay_s: float = 0.5, retry_delay_s: float = 0.2) -> None:
        self.marathon_url = marathon_url.rstrip("/")
        self.app_id = "/" + app_id.strip("/")
        self.stats_socket = Path(stats_socket)
        self.backend = backend
        self.respect_marathon_health = respect_marathon_health
        self.haproxy_checks = haproxy_checks
        self.reconnect_delay_s = reconnect_delay_s
        self.retry_delay_s = retry_delay_s
        self.events_seen: Counter[str] = Counter()
        self.syncs = 0
        self.connects = 0
        self.routed: set[str] = set()  # server names last made ready
        self._dirty = asyncio.Event()
        self._synced = asyncio.Condition()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._session is not None:
            return
        # one big buffer: api_post_event lines carry whole app definitions
        self._session = aiohttp.ClientSession(read_bufsize=2**22)
        self._tasks = [asyncio.create_task(self._watch(), name="marathonlb-watch"),
                       asyncio.create_task(self._sync_forever(), name="marathonlb-sync")]

    async def stop(self) -> None:
        if self._session is None:
            return
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._session.close()
        self._session = None

    async def __aenter__(self) -> MarathonLbSyncer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _watch(self) -> None:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)
        while True:
            try:
                async with self._session.get(f"{self.marathon_url}/v2/events",
                                             headers={"Accept": "text/event-stream"},
                                             timeout=timeout) as resp:
                    resp.raise_for_status()
                    self.connects += 1
                    self._dirty.set()  # no replay on the stream: resync after every connect
                    await self._read_stream(resp)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.info("marathonlb.stream_lost", error=repr(exc))
            await asyncio.sleep(self.reconnect_delay_s)  # reconnect back-off

    async def _read_stream(self, resp: aiohttp.ClientResponse) -> None:
        event_type, data = "", []
        async for raw in resp.content:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line.startswith("event:"):
                event_type = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                self._on_event(event_type, "\n".join(data))
                event_type, data = "", []

    def _on_event(self, event_type: str, data: str) -> None:
        if event_type not in WATCHED_EVENTS:
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            return
        if event_app_id(event) == self.app_id:
            self.events_seen[event_type] += 1
            self._dirty.set()

    async def _sync_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                complete = await self.sync_once()
            except (aiohttp.ClientError, TimeoutError, RuntimeApiError) as exc:
                log.warning("marathonlb.sync_failed", error=repr(exc))
                complete = False
            if not complete:  # retry soon: Marathon/HAProxy refused, or connections remain
                asyncio.get_running_loop().call_later(self.retry_delay_s, self._dirty.set)
            async with self._synced:
                self._synced.notify_all()

    async def desired_servers(self) -> dict[str, tuple[str, int, str]]:
        """server name -> (host, port, check options) for the tasks that should get traffic."""
        assert self._session is not None
        async with self._session.get(f"{self.marathon_url}/v2/apps{self.app_id}",
                                     params={"embed": "app.tasks"}) as resp:
            if resp.status == 404:
                return {}
            resp.raise_for_status()
            app = (await resp.json())["app"]
        tasks = (healthy_running_tasks(app) if self.respect_marathon_health
                 else [t for t in app.get("tasks") or [] if t.get("state") == "TASK_RUNNING"])
        checks = check_args(app) if self.haproxy_checks else ""
        return {server_name(t["id"]): (str(t["host"]), int(t["ports"][0]), checks)
                for t in tasks if t.get("ports")}

    async def sync_once(self) -> bool:
        """One level-triggered pass; False when a removal must be retried later."""
        desired = await self.desired_servers()
        current = await servers_state(self.stats_socket, self.backend)
        complete = True
        for name, state in current.items():
            if name in desired:
                continue
            if not state.in_maintenance:
                await checked_command(self.stats_socket, f"set server {self.backend}/{name} state maint")
            try:
                await checked_command(self.stats_socket, f"del server {self.backend}/{name}")
            except RuntimeApiError:
                complete = False  # still has connections: delete on a later pass
        for name, (host, port, checks) in desired.items():
            existing = current.get(name)
            if existing is None:
                await checked_command(self.stats_socket,
                                      f"add server {self.backend}/{name} {host}:{port}{checks}")
                if checks:
                    await checked_command(self.stats_socket, f"enable health {self.backend}/{name}")
            if existing is None or existing.in_maintenance:
                await checked_command(self.stats_socket, f"set server {self.backend}/{name} state ready")
        self.routed = set(desired)
        self.syncs += 1
        return complete

    async def wait_routed(self, predicate: Any, timeout_s: float) -> set[str]:
        """Wait until `predicate(routed server names)` holds after a sync; TimeoutError otherwise."""
        async with asyncio.timeout(timeout_s):
            async with self._synced:
                await self._synced.wait_for(lambda: predicate(self.routed))
        return set(self.routed)

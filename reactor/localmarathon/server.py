"""`LocalMarathon`: the embedded Marathon-1.11-compatible server as an async context manager.

    async with LocalMarathon(host="127.0.0.1", port=0, executor="virtual") as lm:
        lm.url, lm.standby_url

Owns: wiring (bus, cluster, health, deployments, routes), binding the leader (and optional
standby) sockets, and an orderly stop: streams closed, deployments and checkers cancelled, task
processes killed, sockets closed. Runs inside the caller's asyncio loop. Must not: parse CLI args.
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType
from typing import Any

import structlog
from aiohttp import web

from reactor.localmarathon import routes_apps as apps
from reactor.localmarathon import routes_groups as groups
from reactor.localmarathon import routes_misc as misc
from reactor.localmarathon import routes_tasks as tasks
from reactor.localmarathon.cluster import Cluster
from reactor.localmarathon.dcos_auth import DcosAuth
from reactor.localmarathon.deployments import Deployments
from reactor.localmarathon.events import DEFAULT_SLOW_CONSUMER_LIMIT, EventBus
from reactor.localmarathon.executors import ProcessExecutor, VirtualExecutor
from reactor.localmarathon.faults import Faults
from reactor.localmarathon.health import HealthManager
from reactor.localmarathon.model import Clock
from reactor.localmarathon.ports import HostPorts
from reactor.localmarathon.routes_events import event_stream
from reactor.localmarathon.standby import SELF_KEY, build_standby_app
from reactor.localmarathon.state import MarathonState
from reactor.localmarathon.web import (
    CREDENTIALS_KEY,
    FAULTS_KEY,
    LEADER_KEY,
    STATE_KEY,
    add_leader_header,
    add_routes,
    marathon_middleware,
)

log = structlog.get_logger(__name__)

# Marathon's `--enable_features` values (1.11); only task_killing changes what this server does.
KNOWN_FEATURES = ("vips", "task_killing", "external_volumes", "secrets", "gpu_resources")

ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v2/events", event_stream),
    ("POST", "/v2/apps", apps.create_app),
    ("GET", "/v2/apps", apps.list_apps),
    ("DELETE", "/v2/apps/{id:.+}/tasks/{task_id}", tasks.kill_app_task),
    ("GET", "/v2/apps/{id:.+}/tasks", tasks.app_tasks),
    ("DELETE", "/v2/apps/{id:.+}/tasks", tasks.kill_app_tasks),
    ("GET", "/v2/apps/{id:.+}/versions/{version}", apps.app_version),
    ("GET", "/v2/apps/{id:.+}/versions", apps.app_versions),
    ("POST", "/v2/apps/{id:.+}/restart", apps.restart_app),
    ("GET", "/v2/apps/{id:.+}", apps.get_app),
    ("PUT", "/v2/apps/{id:.+}", apps.put_app),
    ("PATCH", "/v2/apps/{id:.+}", apps.patch_app),
    ("DELETE", "/v2/apps/{id:.+}", apps.delete_app),
    ("GET", "/v2/tasks", tasks.list_tasks),
    ("POST", "/v2/tasks/delete", tasks.delete_tasks),
    ("GET", "/v2/deployments", misc.list_deployments),
    ("DELETE", "/v2/deployments/{id}", misc.delete_deployment),
    ("GET", "/v2/info", misc.info),
    ("GET", "/v2/groups", groups.get_group),
    ("GET", "/v2/groups/{id:.*}", groups.get_group),
    ("GET", "/v2/queue", groups.queue),
    ("GET", "/v2/pods", groups.list_pods),
    ("GET", "/v2/pods/::status", groups.list_pods),
    ("GET", "/v2/pods/{id:.+}", groups.get_pod),
    ("GET", "/v2/leader", misc.leader),
    ("GET", "/ping", misc.ping),
    ("GET", "/_localmarathon/stats", misc.stats),
    ("POST", "/_localmarathon/faults", misc.faults),
    ("GET", "/_localmarathon/timeline", misc.timeline),
    ("POST", "/_localmarathon/timeline", misc.record_timeline),
]


def parse_port_range(spec: str) -> tuple[int, int]:
    first, _, last = spec.partition("-")
    try:
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"bad port range {spec!r}: expected FIRST-LAST within 1-65535") from None
    if not 0 < lo <= hi < 65536:
        raise ValueError(f"bad port range {spec!r}: expected FIRST-LAST within 1-65535")
    return lo, hi


class LocalMarathon:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        executor: str = "virtual",
        heartbeat_s: float = 10.0,
        standby_port: int | None = None,
        credentials: str | None = None,
        port_range: tuple[int, int] = (20000, 29999),
        slow_consumer_limit: int = DEFAULT_SLOW_CONSUMER_LIMIT,
        lenient: bool = False,
        features: tuple[str, ...] = (),
        dcos_auth: DcosAuth | None = None,
    ) -> None:
        """`lenient`: accept fractional health/readiness check seconds (fast unit tests; Marathon
        answers 422). `features`: Marathon's `--enable_features`; only `task_killing` changes
        behaviour here (kills show TASK_KILLING / condition Killing first)."""
        if executor not in ("process", "virtual"):
            raise ValueError(f"unknown executor {executor!r}: expected 'process' or 'virtual'")
        if credentials is not None and ":" not in credentials:
            raise ValueError("credentials must be USER:PASS")
        self.host, self.port = host, port
        self.executor_kind = executor
        self.heartbeat_s = heartbeat_s
        self.standby_port = standby_port
        self.credentials = credentials or ""
        self.port_range = port_range
        self.slow_consumer_limit = slow_consumer_limit
        unknown = [f for f in features if f not in KNOWN_FEATURES]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r}: expected one of {', '.join(KNOWN_FEATURES)}")
        self.lenient = lenient
        self.features = tuple(features)
        self.dcos_auth = dcos_auth  # DC/OS login in front of the leader (not the standby)
        self.state: MarathonState | None = None
        self._runner: web.AppRunner | None = None
        self._standby_runner: web.AppRunner | None = None
        self.url = ""
        self.standby_url: str | None = None

    async def __aenter__(self) -> LocalMarathon:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _build_state(self) -> MarathonState:
        clock = Clock()
        bus = EventBus(clock.now)
        bus.slow_consumer_limit = self.slow_consumer_limit
        executor = ProcessExecutor() if self.executor_kind == "process" else VirtualExecutor()
        cluster = Cluster(
            bus, executor, HostPorts(*self.port_range, check_free=self.executor_kind == "process")
        )
        executor.observer = cluster
        cluster.task_killing = "task_killing" in self.features
        faults = Faults()
        health = HealthManager(cluster, faults.electing)
        state = MarathonState(
            bus,
            cluster,
            health,
            Deployments(cluster, health),
            faults,
            heartbeat_s=self.heartbeat_s,
            lenient=self.lenient,
            features=self.features,
        )
        bus.listeners.append(state.timeline.on_event)
        return state

    async def start(self) -> None:
        if self._runner is not None:
            return
        self.state = state = self._build_state()
        middlewares = [marathon_middleware] if self.dcos_auth is None else [
            self.dcos_auth.middleware, marathon_middleware]
        app = web.Application(middlewares=middlewares, client_max_size=64 * 1024 * 1024)
        app[STATE_KEY] = state
        app[FAULTS_KEY] = state.faults
        app[CREDENTIALS_KEY] = self.credentials
        add_routes(app, ROUTES)
        app.on_response_prepare.append(add_leader_header)
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        state.leader = f"{self.host}:{self.port}"
        self.url = f"http://{state.leader}"
        app[LEADER_KEY] = self.url
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        if self.standby_port is not None:
            await self._start_standby()
        log.info(
            "local-marathon started", url=self.url, executor=self.executor_kind, standby=self.standby_url
        )

    async def _start_standby(self) -> None:
        assert self.standby_port is not None
        sock = _bind(self.host, self.standby_port)
        self.standby_port = sock.getsockname()[1]
        standby = build_standby_app(self.url, self.credentials)
        standby[SELF_KEY] = f"{self.host}:{self.standby_port}"
        standby.on_response_prepare.append(add_leader_header)
        self._standby_runner = web.AppRunner(
            standby, access_log=None, shutdown_timeout=2.0, handle_signals=False
        )
        await self._standby_runner.setup()
        await web.SockSite(self._standby_runner, sock).start()
        self.standby_url = f"http://{self.host}:{self.standby_port}"

    async def stop(self) -> None:
        state, runner = self.state, self._runner
        if runner is None or state is None:
            return
        self._runner = None
        await state.bus.close()
        await state.deployments.close()
        await state.health.close()
        await state.cluster.close()
        if self._standby_runner is not None:
            await self._standby_runner.cleanup()
            self._standby_runner = None
        await asyncio.sleep(0)  # let stream handlers see their subscribers closed
        await runner.cleanup()
        log.info("local-marathon stopped", url=self.url)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock

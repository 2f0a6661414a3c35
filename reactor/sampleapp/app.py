"""The sample application's HTTP surface: settings, pending-work state and request handlers.

Owns what a task of the demo app answers (version, health, slow work, its pending-operations
gauge as Prometheus text, JSON and an SSE stream). It must not import anything of the reactor's
core, adapters, engine or settings: it stands for a user's application, and a mistake on the
reactor's side must not be hidden by shared code.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MAX_WORK_MS = 3_600_000


@dataclass(frozen=True)
class SampleSettings:
    """Everything a sample-app task reads from its environment, resolved once at start."""

    host: str = "127.0.0.1"
    port: int = 0
    version: str | None = None
    task_id: str | None = None
    unhealthy: bool = False
    unhealthy_after_s: float | None = None
    unhealthy_if_file: str | None = None  # GET /health answers 503 while this file exists
    ledger_dir: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, host: str = "127.0.0.1",
                 port: int | None = None) -> SampleSettings:
        """Read PORT0/PORT, APP_VERSION/MARATHON_APP_VERSION, MESOS_TASK_ID and SAMPLE_*.

        Raises ValueError naming the variable when a value is malformed.
        """
        if port is None:
            raw_port = env.get("PORT0") or env.get("PORT")
            if raw_port is None:
                raise ValueError("no port: set PORT0 (or PORT) or pass --port")
            port = _parse_int("PORT0/PORT", raw_port)
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 0..65535")
        after = env.get("SAMPLE_UNHEALTHY_AFTER_S")
        after_s = _parse_float("SAMPLE_UNHEALTHY_AFTER_S", after) if after else None
        return cls(
            host=host,
            port=port,
            version=env.get("APP_VERSION") or env.get("MARATHON_APP_VERSION") or None,
            task_id=env.get("MESOS_TASK_ID") or None,
            unhealthy=env.get("SAMPLE_UNHEALTHY", "") == "1",
            unhealthy_after_s=after_s,
            unhealthy_if_file=env.get("SAMPLE_UNHEALTHY_IF_FILE") or None,
            ledger_dir=env.get("SAMPLE_LEDGER_DIR") or None,
        )


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _parse_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass
class WorkState:
    """Pending and completed operations of this task; every change is pushed to subscribers."""

    settings: SampleSettings
    started_monotonic: float = field(default_factory=time.monotonic)
    pending: int = 0
    completed: int = 0
    subscribers: set[asyncio.Queue[int]] = field(default_factory=set)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        # own registry: the process-global one would mix in interpreter metrics
        self.gauge = Gauge("pending_operations", "Operations accepted and not yet completed",
                           registry=self.registry)
        self.counter = Counter("completed_operations", "Operations completed", registry=self.registry)

    def change(self, delta: int, *, completed: bool = False) -> None:
        self.pending += delta
        self.gauge.set(self.pending)
        if completed:
            self.completed += 1
            self.counter.inc()
        for queue in self.subscribers:
            queue.put_nowait(self.pending)

    def healthy(self) -> bool:
        if self.settings.unhealthy:
            return False
        if self.settings.unhealthy_if_file and os.path.exists(self.settings.unhealthy_if_file):
            return False
        after_s = self.settings.unhealthy_after_s
        return after_s is None or time.monotonic() - self.started_monotonic < after_s

    def identity(self) -> dict[str, object]:
        return {"version": self.settings.version, "task": self.settings.task_id}


STATE = web.AppKey("state", WorkState)


async def _index(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({**state.identity(), "pid": os.getpid(), "pending_operations": state.pending,
                              "completed_operations": state.completed})


async def _health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.healthy():
        return web.json_response({"status": "ok", **state.identity()})
    return web.json_response({"status": "unhealthy", **state.identity()}, status=503)


async def _work(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw = request.query.get("ms", "0")
    try:
        ms = int(raw)
    except ValueError:
        ms = -1
    if not 0 <= ms <= MAX_WORK_MS:
        return web.json_response({"error": f"ms must be an integer 0..{MAX_WORK_MS}, got {raw!r}"},
                                 status=400)
    state.change(+1)
    done = False
    try:
        await asyncio.sleep(ms / 1000)
        done = True
    finally:
        state.change(-1, completed=done)
    return web.json_response({**state.identity(), "ms": ms})


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[STATE].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _metrics_json(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({"gauges": {"pending_operations": {"value": state.pending}},
                              "counters": {"completed_operations": {"count": state.completed}}})


async def _metrics_stream(request: web.Request) -> web.StreamResponse:
    """SSE: one event on connect, then one per change of the gauge, in order."""
    state = request.app[STATE]
    queue: asyncio.Queue[int] = asyncio.Queue()
    state.subscribers.add(queue)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    try:
        await response.prepare(request)
        value = state.pending
        while True:
            await response.write(f"data: {json.dumps({'pending_operations': value})}\n\n".encode())
            value = await queue.get()
    except ConnectionResetError:
        pass  # the subscriber went away
    finally:
        state.subscribers.discard(queue)
    return response


def build_app(settings: SampleSettings) -> web.Application:
    """The sample app as an aiohttp application (its state is `app[STATE]`)."""
    app = web.Application()
    app[STATE] = WorkState(settings)
    app.router.add_get("/", _index)
    app.router.add_get("/health", _health)
    app.router.add_get("/work", _work)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/metrics.json", _metrics_json)
    app.router.add_get("/metrics/stream", _metrics_stream)
    return app

"""The Engine: composes adapters, cache, work queue and reconciler into one running reactor.

Owns the wiring and the long-running coroutines (`watch_marathon`, the work queue, lease
renewal, the safety resync, the API server) inside one TaskGroup, and the routing of inputs:
Marathon events and drain events only mark groups dirty; a resync marks every group dirty.
It decides nothing about deployments itself — that is the planner's job, via the reconciler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import structlog

from reactor.adapters.drain.models import DrainEvent
from reactor.adapters.drain.watcher import DrainWatcher
from reactor.adapters.lb import build_load_balancer
from reactor.adapters.marathon.configured import client_from_settings
from reactor.adapters.marathon.errors import MarathonError, NotFound
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.adapters.store.sqlite import StateStore
from reactor.core import events as ev
from reactor.core.deploy_events import DeployEvent
from reactor.core.models import Snapshot
from reactor.core.registry import DEFAULT, Registry
from reactor.core.view import ClusterView
from reactor.engine.bus import EventBus
from reactor.engine.hooks import HookDispatcher
from reactor.engine.metrics import Metrics
from reactor.engine.reconciler import Reconciler
from reactor.engine.workqueue import WorkQueue
from reactor.settings import Settings, secret_value

log = structlog.get_logger(__name__)

REFRESH_ATTEMPTS = 5

# Server-side filter: the events the view folds in (reference §2), plus the liveness marker.
EVENT_TYPES = (
    "event_stream_attached", "status_update_event", "instance_changed_event",
    "instance_health_changed_event", "health_status_changed_event", "failed_health_check_event",
    "unhealthy_instance_kill_event", "add_health_check_event", "remove_health_check_event",
    "unknown_instance_terminated_event", "deployment_info", "deployment_step_success",
    "deployment_step_failure", "deployment_success", "deployment_failed", "api_post_event",
    "app_terminated_event",
)


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Engine:
    """One reactor. `only_groups` limits it to those groups (the in-process `deploy`)."""

    def __init__(self, settings: Settings, *, registry: Registry | None = None,
                 only_groups: set[str] | None = None, serve_api: bool = True,
                 api_optional: bool = False, takeover: bool = True) -> None:
        self.settings = settings
        self.owner = _owner_id()
        self.only_groups = only_groups
        self.serve_api = serve_api
        self.api_optional = api_optional  # deploy: a daemon may already hold the API port
        self.request_counts: Counter[tuple[str, str]] = Counter()
        # raw reaction samples (trigger, seconds) for benchmarks and the demo; the metric has buckets
        self.reactions: deque[tuple[str, float]] = deque(maxlen=100_000)
        self.registry = registry or DEFAULT
        self.view = ClusterView()
        self.metrics = Metrics()
        self.bus = EventBus()
        self.ready = asyncio.Event()
        self.synced_once = False
        self.takeover = takeover
        self._stack = AsyncExitStack()
        self._stopping = asyncio.Event()
        self._failed_deployments: dict[str, float] = {}  # Marathon deployment id -> when seen
        self.api_port: int | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._refreshing = False
        self._app_events: dict[str, int] = {}  # events seen per app id (stale-read detection)

    # ---- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        try:
            return await self._enter()
        except BaseException:  # e.g. a refused DC/OS login: close what was opened, then report
            await self._stack.aclose()
            raise

    async def _enter(self) -> Engine:
        s = self.settings
        st = self._stack
        session = await st.enter_async_context(aiohttp.ClientSession())
        self.client = await st.enter_async_context(client_from_settings(
            s.marathon, on_request=self._count_request,
            on_auth_failure=self.metrics.count_marathon_auth_failure))
        self.lb = await st.enter_async_context(build_load_balancer(
            s.lb.driver.value, haproxy_socket=s.lb.haproxy.socket,
            haproxy_timeout_s=s.lb.haproxy.timeout_s, command_argv=list(s.lb.command.argv),
            command_timeout_s=s.lb.command.timeout_s))
        self.drains = await st.enter_async_context(DrainWatcher(self._on_drain_event, session=None))
        self.store = StateStore(s.state.path, owner=self.owner)
        self.store.open()
        st.callback(self.store.close)
        self.hooks = await st.enter_async_context(HookDispatcher(
            self.registry, list(s.hooks.webhooks), list(s.hooks.commands),
            claim=self._claim_delivery, metrics=self.metrics, session=session,
            gate_timeout_s=s.hooks.gate_timeout_s))
        self.reconciler = Reconciler(self)
        self.queue = WorkQueue(self.reconciler.reconcile, max_workers=32)
        self.watcher = EventWatcher(
            self.client, on_event=self._on_marathon_event, on_resync=self._on_resync,
            event_types=EVENT_TYPES, idle_timeout_s=s.marathon.event_idle_timeout_s,
            on_reconnect=self.metrics.count_stream_reconnect, on_malformed=self._on_malformed)
        self.metrics.watch_stream(lambda: self.watcher.live)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def run(self) -> None:
        """Run until `stop()` (or cancellation); every long-running part is a named task."""
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self.watcher.watch_marathon(), name="watch_marathon"),
                tg.create_task(self.queue.run(), name="reconcile_forever"),
                tg.create_task(self._renew_leases_forever(), name="renew_leases"),
                tg.create_task(self._safety_resync_forever(), name="safety_resync"),
            ]
            if self.serve_api:
                tasks.append(tg.create_task(self._serve_api(), name="serve_api"))
            await self._stopping.wait()
            await self.queue.stop()
            for t in tasks:
                t.cancel()
        await self._release_all()

    def stop(self) -> None:
        self._stopping.set()

    async def _serve_api(self) -> None:
        from reactor.engine.api import api_server
        from reactor.engine.control import EngineControl

        token = secret_value(self.settings.api.token, self.settings.api.token_file)
        try:  # api_server: [api] as configured (TLS, subscriber limit)
            async with api_server(EngineControl(self), self.bus, self.metrics, self.settings.api,
                                  token=token) as server:
                self.api_port = server.port
                log.info("api listening", listen=self.settings.api.listen, port=server.port)
                await asyncio.Event().wait()
        except OSError as exc:
            if not self.api_optional:
                raise
            log.warning("API not served (address in use?)", listen=self.settings.api.listen,
                        error=str(exc))

    # ---- inputs: everything only marks groups dirty -----------------------------------------------
    def wants(self, group: str) -> bool:
        return self.only_groups is None or group in self.only_groups

    def mark(self, groups: set[str] | list[str], trigger: str) -> None:
        now = time.monotonic()
        for group in groups:
            if self.wants(group):
                self.queue.add(group, trigger=trigger, at=now)

    def _on_marathon_event(self, event: ev.MarathonEvent) -> None:
        etype = getattr(event, "event_type", type(event).__name__)
        self.metrics.count_marathon_event(etype)
        if isinstance(event, ev.DeploymentFailed):
            self._failed_deployments[event.id] = time.monotonic()
        if (app_id := getattr(event, "app_id", None) or getattr(event, "run_spec_id", None)) is not None:
            self._app_events[app_id] = self._app_events.get(app_id, 0) + 1
        self.mark(self.view.apply(event), trigger=etype)
        if self.view.needs_refresh and not self._refreshing:
            self._refreshing = True
            self.spawn(self._refresh_apps(etype), name="refresh_apps")

    async def _refresh_apps(self, trigger: str) -> None:
        """Targeted re-read of apps an event could not pin down (e.g. a kill the event cannot
        tell from a relaunch). Rare: our own writes are folded into the view when they succeed."""
        try:
            while app_ids := self.view.take_needs_refresh():
                for app_id in sorted(app_ids):
                    await self._refresh_app(app_id, trigger)
        finally:
            self._refreshing = False

    def _on_resync(self, snapshot: Snapshot) -> None:
        dirty = self.view.replace(snapshot) | set(self.view.groups())
        dirty |= set(self.store.active_intents())
        self.synced_once = True
        self.ready.set()
        self.mark(dirty, trigger="resync")

    def _on_malformed(self, exc: Exception) -> None:
        self.metrics.count_marathon_event("malformed")
        log.warning("malformed marathon event", error=str(exc))

    def _on_drain_event(self, event: DrainEvent) -> None:
        group = self.reconciler.group_of_drained_task(event.task_id)
        if group is not None:
            self.mark({group}, trigger=f"drain.{event.kind.value}")

    async def _refresh_app(self, app_id: str, trigger: str) -> None:
        """Re-read one app; a read that an event for the app overtook is stale and read again
        (applying it would undo that newer event, e.g. bring back an app just terminated)."""
        for _ in range(REFRESH_ATTEMPTS):
            seen = self._app_events.get(app_id, 0)
            try:
                app = await self.client.get_app(app_id)
            except NotFound:
                app = None
            except MarathonError as exc:
                log.warning("app refresh failed; the next resync repairs it", app=app_id, error=str(exc))
                return
            if self._app_events.get(app_id, 0) != seen:
                await asyncio.sleep(0.02)  # let the burst of events for the app settle
                continue
            dirty = self.view.replace_app(app) if app is not None else self.view.remove_app(app_id)
            self.mark(dirty, trigger=trigger)
            return
        log.warning("app kept changing while re-read; the next resync repairs it", app=app_id)

    def publish(self, event: DeployEvent) -> None:
        """A deploy event: to the log, the API's stream and every hook (hooks never block)."""
        bad = event.name.value in ("deployment.failed", "rollback.started", "deployment.paused")
        (log.warning if bad else log.info)("deploy event", deploy_event=event.name.value, group=event.group,
                                           id=event.id, tasks=list(event.tasks), reason=event.reason)
        self.bus.publish(event)
        self.hooks.dispatch(event)

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _count_request(self, method: str, route: str, status: int) -> None:
        self.request_counts[(method.upper(), route)] += 1
        self.metrics.count_marathon_request(method, route, status)

    def failed_deployment_ids(self) -> frozenset[str]:
        return frozenset(self._failed_deployments)

    def _claim_delivery(self, event_id: str, hook: str) -> bool:
        return self.store.claim_delivery(event_id, hook, now_s=time.time())

    # ---- background duties ---------------------------------------------------------------------------
    async def _renew_leases_forever(self) -> None:
        ttl = self.settings.state.lease_ttl_s
        while True:
            await asyncio.sleep(ttl / 3)
            held = self.store.renew_leases(ttl_s=ttl, now_s=time.time())
            self.reconciler.leases_renewed(set(held))

    async def _safety_resync_forever(self) -> None:
        interval = self.settings.marathon.resync_interval_s
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                self._on_resync(await self.client.snapshot())

    async def _release_all(self) -> None:
        for group in self.reconciler.held_groups():
            with contextlib.suppress(Exception):
                self.store.release_lease(group)


def install_signal_handlers(engine: Engine, loop: asyncio.AbstractEventLoop,
                            on_signal: Callable[[], None] | None = None) -> None:
    """SIGTERM/SIGINT → graceful stop (the current reconcile finishes; no LB change half applied)."""
    import signal

    def handler() -> None:
        log.info("stopping on signal")
        if on_signal:
            on_signal()
        engine.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handler)

"""The Engine: the composition root of one running reactor.

Owns the wiring (adapters, coordination/state backend, cache, work queue, group controllers,
each given its `Deps` explicitly) and the long-running coroutines (`watch_marathon`, the work
queue, lease upkeep, the safety resync, the API server) inside one TaskGroup, and the routing of
inputs: Marathon events and drain events only mark groups dirty; a resync marks every group
dirty. It decides nothing about deployments itself (the planner does, via the controllers), and
no module of the engine package imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
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
from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.factory import build_backend
from reactor.core import events as ev
from reactor.core.allowlist import group_refusal
from reactor.core.deploy_events import DeployEvent
from reactor.core.models import Snapshot
from reactor.core.registry import DEFAULT, Registry
from reactor.core.view import ClusterView
from reactor.engine.api import api_server
from reactor.engine.bus import EventBus
from reactor.engine.control import EngineControl
from reactor.engine.controllers import Controllers
from reactor.engine.deps import Clock, Deps
from reactor.engine.hooks import HookDispatcher
from reactor.engine.housekeeping import prune_forever
from reactor.engine.lbguard import GuardedLoadBalancer
from reactor.engine.lbwatch import watch_lb_restarts
from reactor.engine.marking import mark_within
from reactor.engine.metrics import Metrics
from reactor.engine.workqueue import WorkQueue
from reactor.settings import Settings, secret_value

log = structlog.get_logger(__name__)

REFRESH_ATTEMPTS = 5
FAILED_DEPLOYMENT_TTL_S = 3600.0
MAX_FAILED_DEPLOYMENTS = 1000
MAX_TRACKED_APPS = 10_000
# Rounds of different groups run at once up to this many. A round mostly awaits I/O (its intent's
# commit, Marathon's answer), so the bound only caps memory: with 32, 50 groups deploying at once
# left 18 due groups waiting for a slot while rounds of others waited on I/O.
MAX_CONCURRENT_ROUNDS = 512

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
    """One reactor: the composition root. `only_groups` limits it to those groups (the in-process
    `deploy`). Public attributes are what the CLI, the demo and tests may read; nothing inside
    the engine package reads into this object."""

    def __init__(self, settings: Settings, *, registry: Registry | None = None,
                 only_groups: set[str] | None = None, serve_api: bool = True,
                 api_optional: bool = False, takeover: bool = True, clock: Clock | None = None) -> None:
        self.settings = settings
        self.owner = _owner_id()
        self.only_groups = only_groups
        self.serve_api = serve_api
        self.api_optional = api_optional  # deploy: a daemon may already hold the API port
        self.request_counts: Counter[tuple[str, str]] = Counter()
        # raw reaction samples (trigger, seconds) for benchmarks and the demo; the metric has buckets
        self.reactions: deque[tuple[str, float]] = deque(maxlen=100_000)
        self.registry = registry or DEFAULT
        self.clock = clock or Clock()
        self.view = ClusterView()
        self.metrics = Metrics()
        self.bus = EventBus()
        self.ready = asyncio.Event()
        self.takeover = takeover
        self._stack = AsyncExitStack()
        self._stopping = asyncio.Event()
        self._failed_deployments: dict[str, float] = {}  # Marathon deployment id -> when seen
        self.api_port: int | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._refused_groups: set[str] = set()  # [deploy] allowed_groups refusals already logged
        self._refreshing = False
        self._app_events: dict[str, int] = {}  # events seen per app id (stale-read detection)

    @property
    def synced_once(self) -> bool:
        return self.controllers.synced

    @property
    def reconciler(self) -> Controllers:
        """The group controllers (old name kept for callers of round 1)."""
        return self.controllers

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
        self.lb = await st.enter_async_context(GuardedLoadBalancer(build_load_balancer(
            s.lb.driver.value, haproxy_socket=s.lb.haproxy.socket,
            haproxy_timeout_s=s.lb.haproxy.timeout_s, command_argv=list(s.lb.command.argv),
            command_timeout_s=s.lb.command.timeout_s,
            command_env_passthrough=list(s.lb.command.env_passthrough)), s.lb.allowed_backends))
        self.drains = await st.enter_async_context(DrainWatcher(self._on_drain_event, session=None))
        c = s.coordination
        self.backend = await st.enter_async_context(build_backend(
            c.backend.value, owner=self.owner, state_path=s.state.path, lease_ttl_s=s.state.lease_ttl_s,
            zk_hosts=c.hosts, zk_root=c.root, session_timeout_s=c.session_timeout_s))
        self.hooks = await st.enter_async_context(HookDispatcher(
            self.registry, list(s.hooks.webhooks), list(s.hooks.commands),
            claim=self.backend.claim_delivery, metrics=self.metrics, session=session,
            gate_timeout_s=s.hooks.gate_timeout_s))
        self.controllers = Controllers(self._deps())
        self.backend.on_lost(self.controllers.lost)
        self.queue = WorkQueue(self.controllers.reconcile, max_workers=MAX_CONCURRENT_ROUNDS)
        self.watcher = EventWatcher(
            self.client, on_event=self._on_marathon_event, on_resync=self._on_resync,
            event_types=EVENT_TYPES, idle_timeout_s=s.marathon.event_idle_timeout_s,
            on_reconnect=self.metrics.count_stream_reconnect, on_malformed=self._on_malformed)
        self.metrics.watch_stream(lambda: self.watcher.live)
        self.metrics.watch_queue(lambda: len(self.queue), lambda: self.queue.in_flight)
        return self

    def _deps(self) -> Deps:
        return Deps(
            settings=self.settings, view=self.view, backend=self.backend, marathon=self.client,
            lb=self.lb, drains=self.drains, clock=self.clock, metrics=self.metrics,
            publish=self.publish, gate=self.hooks.gate if self.hooks.has_gates() else None,
            spawn=lambda coro, name: self.spawn(coro, name=name),
            mark=lambda groups, trigger: self.mark(groups, trigger=trigger),
            failed_deployments=self.failed_deployment_ids, on_reaction=self._on_reaction,
            takeover=self.takeover,
            only_groups=frozenset(self.only_groups) if self.only_groups is not None else None)

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def run(self) -> None:
        """Run until `stop()` (or cancellation); every long-running part is a named task."""
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self.watcher.watch_marathon(), name="watch_marathon"),
                tg.create_task(self.queue.run(), name="reconcile_forever"),
                tg.create_task(self._keep_leases_forever(), name="renew_leases"),
                tg.create_task(self._safety_resync_forever(), name="safety_resync"),
            ]
            if self.only_groups is None:  # the daemon keeps the store bounded (not a CLI run)
                tasks.append(tg.create_task(
                    prune_forever(self.backend, self.settings, self.clock.mono), name="prune"))
            if self.serve_api:
                tasks.append(tg.create_task(self._serve_api(), name="serve_api"))
            process_info = getattr(self.lb, "process_info", None)
            if process_info is not None:
                tasks.append(tg.create_task(watch_lb_restarts(
                    process_info, self._on_lb_restart, self.metrics), name="watch_lb_restarts"))
            await self._stopping.wait()
            await self.queue.stop()
            for t in tasks:
                t.cancel()
        await self._release_all()

    def stop(self) -> None:
        self._stopping.set()

    def control(self) -> EngineControl:
        return EngineControl(
            controllers=self.controllers, backend=self.backend,
            mark=lambda groups, trigger: self.mark(groups, trigger=trigger),
            is_synced=lambda: self.controllers.synced, watcher_ok=lambda: self.watcher.live,
            auth_error=lambda: self.client.auth_error, drain_observations=self.drains.observations)

    async def _serve_api(self) -> None:
        token = secret_value(self.settings.api.token, self.settings.api.token_file)
        try:
            async with api_server(self.control(), self.bus, self.metrics, self.settings.api,
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
        if self.only_groups is not None and group not in self.only_groups:
            return False
        if (reason := group_refusal(group, self.settings.deploy.allowed_groups)) is not None:
            if group not in self._refused_groups:  # once per group: labels are anyone's to set
                self._refused_groups.add(group)
                log.warning("group ignored", reason=reason)
            return False
        return True

    def mark(self, groups: set[str] | list[str], trigger: str, *, within_s: float = 0.0) -> None:
        """Mark the groups this reactor acts for: at once, or within `within_s` (see marking)."""
        now = self.clock.mono()
        for group in groups:
            if self.wants(group):
                if within_s > 0:
                    self.queue.add_after(group, within_s, trigger=trigger, at=now)
                else:
                    self.queue.add(group, trigger=trigger, at=now)

    def _on_marathon_event(self, event: ev.MarathonEvent) -> None:
        fields = vars(event)  # not getattr: a pydantic model's missing attribute is a slow exception
        etype = fields.get("event_type") or type(event).__name__
        self.metrics.count_marathon_event(etype)
        if isinstance(event, ev.DeploymentFailed):
            self._remember_failed(event.id)
        if (app_id := fields.get("app_id") or fields.get("run_spec_id")) is not None:
            if len(self._app_events) >= MAX_TRACKED_APPS and app_id not in self._app_events:
                self._app_events.clear()  # bounded; a refresh in flight then simply reads again
            self._app_events[app_id] = self._app_events.get(app_id, 0) + 1
        groups = self.view.apply(event)
        if groups:
            self.mark(groups, trigger=etype, within_s=mark_within(event, etype, app_id, self.view))
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

    def _remember_failed(self, deployment_id: str) -> None:
        """Failed Marathon deployments matter while a round may still ask about them: keep them
        FAILED_DEPLOYMENT_TTL_S, at most MAX_FAILED_DEPLOYMENTS (bounded for months of uptime)."""
        now = self.clock.mono()
        self._failed_deployments[deployment_id] = now
        stale = [d for d, t in self._failed_deployments.items() if now - t > FAILED_DEPLOYMENT_TTL_S]
        for d in stale:
            del self._failed_deployments[d]
        while len(self._failed_deployments) > MAX_FAILED_DEPLOYMENTS:
            del self._failed_deployments[next(iter(self._failed_deployments))]

    def _on_resync(self, snapshot: Snapshot) -> None:
        self._app_events.clear()  # counts only matter between a refresh's read and its check
        dirty = self.view.replace(snapshot) | set(self.view.groups())
        self.controllers.synced = True
        self.ready.set()
        self.mark(dirty, trigger="resync")
        self.spawn(self._mark_active_intents(), name="mark_active_intents")

    async def _mark_active_intents(self) -> None:
        """Groups with an unfinished intent but no app left (e.g. GREEN deleted): look at them."""
        try:
            active = await self.backend.active_intents()
        except StoreError as exc:
            self.metrics.count_store_error("active_intents")
            log.warning("state store failed while listing deployments", error=str(exc))
            return
        self.mark(set(active), trigger="resync")

    def _on_malformed(self, exc: Exception) -> None:
        self.metrics.count_marathon_event("malformed")
        log.warning("malformed marathon event", error=str(exc))

    def _on_drain_event(self, event: DrainEvent) -> None:
        group = self.controllers.group_of_drained_task(event.task_id)
        if group is not None:
            self.mark({group}, trigger=f"drain.{event.kind.value}")

    def _on_lb_restart(self) -> None:
        if self.controllers.synced:
            self.mark(set(self.view.groups()), trigger="lb.restart")

    def _on_reaction(self, trigger: str, seconds: float) -> None:
        self.metrics.observe_reaction(trigger, seconds)
        self.reactions.append((trigger, seconds))

    async def _refresh_app(self, app_id: str, trigger: str) -> None:
        """Re-read one app; a read that an event for the app overtook is stale and read again
        (applying it would undo that newer event, e.g. bring back an app just terminated)."""
        for _ in range(REFRESH_ATTEMPTS):
            seen = self._app_events.get(app_id, 0)
            try:
                app = await self.client.get_app(app_id)
            except NotFound:
                app = None
            except (MarathonError, ValueError) as exc:  # ValueError: an app body we cannot read
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
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        """A background duty's failure is one log line (not asyncio's 'exception was never
        retrieved' at exit); what it was for is repaired by the next round or resync."""
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task failed", task=task.get_name(), error=f"{type(exc).__name__}: {exc}")

    def _count_request(self, method: str, route: str, status: int) -> None:
        self.request_counts[(method.upper(), route)] += 1
        self.metrics.count_marathon_request(method, route, status)

    def failed_deployment_ids(self) -> frozenset[str]:
        return frozenset(self._failed_deployments)

    # ---- background duties ---------------------------------------------------------------------------
    async def _keep_leases_forever(self) -> None:
        """The backend renews held leases (and fences on its own when it cannot)."""
        await self.backend.run()

    async def _safety_resync_forever(self) -> None:
        interval = self.settings.marathon.resync_interval_s
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                self._on_resync(await self.client.snapshot())

    async def _release_all(self) -> None:
        for group in self.backend.acting_for():
            with contextlib.suppress(Exception):
                await self.backend.release(group)


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

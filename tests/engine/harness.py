"""Test harness for the deployment engine: embedded Marathon, BLUE/GREEN apps, settings, a running
Engine, a REST sampler of healthy capacity, and waits with deadlines (never sleeps as sync).

Real components only: LocalMarathon is a real HTTP server (virtual executor), the Engine is the
production one, the state store a real SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from reactor.core import labels as L
from reactor.core.deploy_events import DeployEvent
from reactor.core.registry import Registry
from reactor.engine.engine import Engine
from reactor.localmarathon.server import LocalMarathon
from reactor.settings import Settings
from tests.waiting import free_port, wait_until

GROUP = "web"
BLUE_ID = "/web-blue"
GREEN_ID = "/web-green"
BLUE_STARTED = datetime(2026, 1, 1, tzinfo=UTC)




def health_check(interval_s: float = 0.1, grace_s: float = 5.0, max_failures: int = 3) -> dict[str, Any]:
    return {"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0, "intervalSeconds": interval_s,
            "gracePeriodSeconds": grace_s, "timeoutSeconds": 1, "maxConsecutiveFailures": max_failures}


def app_def(app_id: str, instances: int, labels: dict[str, str], *, health: str = "healthy",
            staging_s: float = 0.05, interval_s: float = 0.1, max_failures: int = 3) -> dict[str, Any]:
    return {
        "id": app_id, "cmd": "sleep 1000", "cpus": 0.01, "mem": 16, "instances": instances,
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [health_check(interval_s, max_failures=max_failures)],
        "labels": {"LOCALMARATHON_HEALTH": health, "LOCALMARATHON_STAGING_S": str(staging_s), **labels},
    }


def blue_def(instances: int, *, group: str = GROUP, app_id: str = BLUE_ID) -> dict[str, Any]:
    return app_def(app_id, instances, {L.GROUP: group, L.STARTED_AT: L.format_timestamp(BLUE_STARTED)})


def green_def(target: int, *, group: str = GROUP, app_id: str = GREEN_ID, previous: str | None = BLUE_ID,
              health: str = "healthy", instances: int = 0, extra: dict[str, str] | None = None,
              max_failures: int = 3) -> dict[str, Any]:
    labels = L.green_labels(group=group, target_instances=target,
                            started_at=BLUE_STARTED + timedelta(hours=1), previous=previous)
    return app_def(app_id, instances, {**labels, **(extra or {})}, health=health,
                   max_failures=max_failures)


class Rest:
    """The few Marathon REST calls a test makes itself (not through the reactor's client)."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(f"{self.url}/v2/apps", json=body) as r:
            assert r.status == 201, (r.status, await r.text())
            return dict(await r.json())

    async def scale(self, app_id: str, instances: int) -> None:
        async with self.session.put(f"{self.url}/v2/apps{app_id}?force=true",
                                    json={"instances": instances}) as r:
            assert r.status == 200, (r.status, await r.text())

    async def apps(self) -> dict[str, dict[str, Any]]:
        async with self.session.get(f"{self.url}/v2/apps?embed=apps.tasks") as r:
            assert r.status == 200, await r.text()
            return {a["id"]: a for a in (await r.json())["apps"]}

    async def deployments(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/v2/deployments") as r:
            return list(await r.json())

    async def stats(self) -> dict[str, int]:
        async with self.session.get(f"{self.url}/_localmarathon/stats") as r:
            return dict((await r.json())["requests"])

    async def wait_app_healthy(self, app_id: str, n: int, timeout_s: float = 15.0) -> None:
        async def ok() -> bool:
            app = (await self.apps()).get(app_id)
            return app is not None and healthy_count(app) == n and not await self.deployments()
        await wait_until(ok, timeout_s=timeout_s, what=f"{app_id} {n} healthy and no deployment")


def healthy_count(app: dict[str, Any]) -> int:
    return sum(1 for t in app.get("tasks", []) if t.get("state") == "TASK_RUNNING"
               and t.get("healthCheckResults") and all(h.get("alive") for h in t["healthCheckResults"]))


@dataclass
class Sample:
    at: float
    blue: int | None  # healthy BLUE tasks, None = BLUE app absent
    green: int | None


@dataclass
class CapacitySampler:
    """Samples healthy counts of BLUE and GREEN from REST every `interval_s` in the background."""

    rest: Rest
    blue_id: str = BLUE_ID
    green_id: str = GREEN_ID
    interval_s: float = 0.02
    samples: list[Sample] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                apps = await self.rest.apps()
                b, g = apps.get(self.blue_id), apps.get(self.green_id)
                self.samples.append(Sample(time.monotonic(), healthy_count(b) if b else None,
                                           healthy_count(g) if g else None))
            await asyncio.sleep(self.interval_s)

    async def __aenter__(self) -> CapacitySampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def assert_floor(self, floor: int) -> None:
        """Healthy BLUE + GREEN never below `floor` once the run started with BLUE at full strength."""
        assert self.samples, "no capacity sample taken"
        low = [s for s in self.samples if (s.blue or 0) + (s.green or 0) < floor]
        assert not low, f"capacity below {floor}: {low[:5]}"

    def assert_blue_outlived_green_ramp(self, target: int) -> None:
        """BLUE was never gone while GREEN served less than the full target."""
        for s in self.samples:
            if s.blue is None and s.green is not None:
                assert s.green >= target, f"BLUE gone while GREEN healthy {s.green}/{target}: {s}"


def make_settings(tmp_path: Path, marathon_url: str, *, lb: dict[str, Any] | None = None,
                  drain: dict[str, Any] | None = None, deploy: dict[str, Any] | None = None,
                  state_name: str = "state.db", lease_ttl_s: float = 15.0) -> Settings:
    return Settings.model_validate({
        "marathon": {"urls": [marathon_url], "event_idle_timeout_s": 5.0},
        "lb": lb or {"driver": "none"},
        "drain": {"source": "none", **(drain or {})},
        "deploy": {"batch_size": 1, "health_timeout_s": 20.0, "rollback_window_s": 0.0, **(deploy or {})},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "state": {"path": str(tmp_path / state_name), "lease_ttl_s": lease_ttl_s},
        "log": {"format": "console", "level": "warning"},
    })


@contextlib.asynccontextmanager
async def local_marathon(
        port_range: tuple[int, int] = (20000, 29999)) -> AsyncIterator[tuple[LocalMarathon, Rest]]:
    async with LocalMarathon(host="127.0.0.1", port=0, executor="virtual", heartbeat_s=1.0,
                             port_range=port_range, lenient=True) as lm:
        async with aiohttp.ClientSession() as session:
            yield lm, Rest(lm.url, session)


@dataclass
class RunningEngine:
    engine: Engine
    task: asyncio.Task[None]

    async def wait_finished(self, group: str = GROUP, timeout_s: float = 30.0) -> dict[str, Any]:
        done = self.engine.reconciler.finished(group)
        waiter = asyncio.ensure_future(done.wait())
        finished, _ = await asyncio.wait({waiter, self.task}, timeout=timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        if waiter not in finished:
            waiter.cancel()
            if self.task.done():
                self.task.result()  # re-raise the engine's crash
            st = self.engine.reconciler.status.get(group)
            raise AssertionError(f"deployment of {group} not finished after {timeout_s}s: "
                                 f"{st.intent.phase if st else None} {st.blockers if st else None}")
        history = await self.engine.backend.list_history(group)
        assert history, "finished without a history record"
        return history[0]

    async def wait_phase(self, phase: str, group: str = GROUP, timeout_s: float = 20.0) -> Any:
        def at() -> Any:
            if self.task.done():
                self.task.result()
            st = self.engine.reconciler.status.get(group)
            return st if st is not None and st.intent.phase.value == phase else None
        return await wait_until(at, timeout_s=timeout_s, what=f"phase {phase}")

    def events(self, group: str = GROUP) -> list[DeployEvent]:
        return self.engine.bus.recent(group=group)

    def event_names(self, group: str = GROUP) -> list[str]:
        return [e.name.value for e in self.events(group)]


@contextlib.asynccontextmanager
async def running_engine(settings: Settings, *,
                         registry: Registry | None = None) -> AsyncIterator[RunningEngine]:
    async with Engine(settings, registry=registry or Registry()) as engine:
        task = asyncio.create_task(engine.run(), name="engine-under-test")
        try:
            yield RunningEngine(engine, task)
        finally:
            engine.stop()
            try:
                await asyncio.wait_for(task, 20)
            except BaseException:
                task.cancel()
                raise


def assert_order(names: list[str], *expected: str) -> None:
    """`expected` appear in `names` in this relative order (first occurrences)."""
    positions = []
    for name in expected:
        assert name in names, f"{name} missing from {names}"
        positions.append(names.index(name))
    assert positions == sorted(positions), f"events out of order: expected {expected} in {names}"


@contextlib.asynccontextmanager
async def haproxy_pool(tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """A real haproxy (tests/lb's config: backend `web`) and a driver of our own to look at it."""
    from reactor.adapters.lb import HaproxyLoadBalancer
    from tests.lb.support import Haproxy

    proc = Haproxy(tmp_path)
    await proc.start()
    try:
        async with HaproxyLoadBalancer(str(proc.sock), timeout_s=5.0) as driver:
            yield proc, driver
    finally:
        proc.stop()


@dataclass
class PoolSampler:
    """Samples the READY servers of an HAProxy backend in the background."""

    lb: Any
    backend: str
    interval_s: float = 0.02
    ready: list[int] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            pool = await self.lb.observe(self.backend)
            self.ready.append(sum(1 for s in pool.values() if s.state.value == "ready"))
            await asyncio.sleep(self.interval_s)

    async def __aenter__(self) -> PoolSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def assert_ready_floor(self, floor: int) -> None:
        assert self.ready, "no pool sample taken"
        assert min(self.ready) >= floor, f"READY servers fell to {min(self.ready)} (< {floor})"


@dataclass
class TaskPorts:
    """Real HTTP servers on a contiguous range of loopback ports that the embedded Marathon hands to
    virtual tasks: HAProxy's connect checks see those tasks UP, and `GET /metrics` answers the
    Prometheus gauge `pending_operations` with `pending[port]` (default 0) for the drain watcher."""

    first: int
    last: int
    pending: dict[int, int] = field(default_factory=dict)

    @property
    def range(self) -> tuple[int, int]:
        return self.first, self.last

    def busy(self, app: dict[str, Any], pending: int = 5) -> None:
        for t in app["tasks"]:
            self.pending[t["ports"][0]] = pending


@contextlib.asynccontextmanager
async def task_ports(count: int = 32) -> AsyncIterator[TaskPorts]:
    import random

    from aiohttp import web

    ports = TaskPorts(0, 0)

    async def metrics(request: web.Request) -> web.Response:
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        n = ports.pending.get(port, 0)
        return web.Response(text=f"# TYPE pending_operations gauge\npending_operations {n}\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    try:
        for _ in range(50):
            base = random.randrange(30000, 60000 - count)
            sites: list[web.TCPSite] = []
            try:
                for port in range(base, base + count):
                    site = web.TCPSite(runner, "127.0.0.1", port)
                    await site.start()
                    sites.append(site)
            except OSError:
                for site in sites:
                    await site.stop()
                continue
            ports.first, ports.last = base, base + count - 1
            yield ports
            return
        raise AssertionError(f"no {count} contiguous free loopback ports found")
    finally:
        await runner.cleanup()


async def assert_rolled_back(rest: Rest, blue_instances: int, record: dict[str, Any],
                             blue_id: str = BLUE_ID, green_id: str = GREEN_ID) -> dict[str, Any]:
    """BLUE intact (original count, all healthy, no deployment left), GREEN deleted, outcome recorded."""
    assert record["outcome"] == "rolled_back", record
    await rest.wait_app_healthy(blue_id, blue_instances)
    apps = await rest.apps()
    assert green_id not in apps, f"GREEN {green_id} still exists"
    assert apps[blue_id]["instances"] == blue_instances
    return apps

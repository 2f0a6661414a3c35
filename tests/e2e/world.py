"""The end-to-end world: embedded Marathon (process executor) + real HAProxy + sample-app tasks +
the reactor, under steady HTTP load, with faults injected at chosen deploy events.

Owns the scaffolding shared by tests/e2e and the benchmarks that compare against the baseline:
starting the world (an async context manager), the reactor's settings (in-process `DeployFlow`
or the daemon's TOML), putting BLUE into service with the reactor, deploying GREEN with
triggers (`At("blue.draining", 2, action)`), the switch timeline of the load and the ledger.
Real components only; waits have deadlines; nothing here asserts (the tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from reactor.cli.demo.haproxy import HaproxyProcess, free_port
from reactor.cli.demo.ledger import LedgerSummary, read_ledger
from reactor.cli.demo.load import LoadGenerator, RequestRecord
from reactor.cli.demo.runtime import servers_state
from reactor.cli.demo.scenario import ChildProcess, sample_app_definition, start_local_marathon_subprocess
from reactor.cli.deploy_flow import DeployFlow
from reactor.settings import Settings

GROUP = "web"
APP_ID = "/e2e/web"
DEPLOY_TIMEOUT_S = 60.0
# Health checks of the tests' apps: two worlds share 2 cores under `pytest -n 2`, and a check
# that times out three times makes Marathon kill a healthy task under load (that is the machine,
# not the product). bench_compare uses the sample app's defaults on both sides instead.
TOLERANT_HEALTH: dict[str, Any] = {"health_timeout_s": 2.0, "max_consecutive_failures": 5}


# Host ports of the world's tasks: a block of its own, outside local-marathon's default range
# (20000-29999, used by other suites) and below the kernel's ephemeral range. Two worlds drawing
# from one range hand out the same port at once (checked free, then bound ~0.5 s later by the
# task): a task of one world then answers the other world's HAProxy and health checks.
PORT_BLOCKS = range(12000, 20000, 100)
PORT_BLOCK_SIZE = 100


class PortBlock:
    """An exclusive block of host ports for one world, held by an flock on a file in /tmp."""

    def __init__(self) -> None:
        self.first = self.last = 0
        self._fd: int | None = None

    def __enter__(self) -> PortBlock:
        blocks = list(PORT_BLOCKS)
        random.shuffle(blocks)
        for first in blocks:
            fd = os.open(os.path.join(tempfile.gettempdir(), f"bluegreen-e2e-ports-{first}.lock"),
                         os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._fd, self.first, self.last = fd, first, first + PORT_BLOCK_SIZE - 1
            return self
        raise RuntimeError("every e2e port block is taken")

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    @property
    def arg(self) -> str:
        return f"{self.first}-{self.last}"


@dataclass(frozen=True)
class LoadShape:
    """The same load for every run (ours and the baseline): fast `GET /` and slow `/work`."""

    rate_per_s: float = 40.0
    slow_fraction: float = 0.25
    slow_ms: tuple[int, int] = (300, 1200)
    seed: int | None = 7

    def generator(self, url: str, *, max_duration_s: float = 240.0) -> LoadGenerator:
        return LoadGenerator(url, rate_per_s=self.rate_per_s, slow_fraction=self.slow_fraction,
                             slow_ms=self.slow_ms, seed=self.seed, max_duration_s=max_duration_s)


def settings_dict(urls: list[str], socket: Path | str, state_path: Path, *, drain_source: str = "prometheus",
                  lease_ttl_s: float = 15.0, api_listen: str = "127.0.0.1:0",
                  lb_driver: str = "haproxy") -> dict[str, Any]:
    drain: dict[str, Any] = {"source": drain_source, "interval_s": 0.1, "timeout_s": 120}
    if drain_source == "stream":
        drain["path"] = "/metrics/stream"
    return {
        "marathon": {"urls": urls, "event_idle_timeout_s": 30},
        "lb": {"driver": lb_driver, "haproxy": {"socket": str(socket), "backend": "{group}"}},
        "drain": drain,
        "deploy": {"health_timeout_s": 120, "rollback_window_s": 0.0},
        "api": {"listen": api_listen},
        "state": {"path": str(state_path), "lease_ttl_s": lease_ttl_s},
        "log": {"format": "json", "level": "warning"},
    }


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for settings_dict: tables of tables of scalars and lists."""
    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {scalar(v)}" for k, v in body.items() if not isinstance(v, dict))
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}", v)

    for name, body in data.items():
        table(name, body)
    return "\n".join(lines) + "\n"


@dataclass
class At:
    """Run `action` when the `nth` deploy event named `event` is published."""

    event: str
    nth: int
    action: Callable[[], Awaitable[Any]]
    fired_at: float | None = None  # time.monotonic() when the action started
    done_at: float | None = None
    result: Any = None


@dataclass
class DeployRun:
    code: int
    summary: dict[str, Any]
    events: list[tuple[str, float]]  # (deploy event name, wall-clock time.time())
    triggers: list[At] = field(default_factory=list)
    metrics: Any = None  # the deploying Engine's reactor.engine.metrics.Metrics

    def counter(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels`."""
        total = 0.0
        for family in self.metrics.registry.collect():
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def first(self, name: str) -> float:
        return next(t for n, t in self.events if n == name)

    def last(self, name: str) -> float:
        return [t for n, t in self.events if n == name][-1]

    def names(self) -> list[str]:
        return [n for n, _ in self.events]


class World:
    """Embedded Marathon + HAProxy (+ a standby Marathon URL when `standby`); `async with`."""

    def __init__(self, workdir: Path, *, standby: bool = False, retry_on: str | None = None,
                 health: dict[str, Any] | None = None) -> None:
        self.health = TOLERANT_HEALTH if health is None else health
        self.workdir = Path(workdir)
        self.ledger_dir = self.workdir / "ledger"
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        self.standby_port = free_port() if standby else None
        self.retry_on = retry_on
        self._stack = contextlib.AsyncExitStack()
        self.lm: ChildProcess
        self.hap: HaproxyProcess
        self._session: aiohttp.ClientSession

    async def __aenter__(self) -> World:
        try:
            ports = self._stack.enter_context(PortBlock())
            extra: tuple[str, ...] = ("--port-range", ports.arg)
            if self.standby_port:
                extra += ("--standby-port", str(self.standby_port))
            self.lm = await self._stack.enter_async_context(
                start_local_marathon_subprocess(workdir=self.workdir, extra_args=extra))
            self.hap = await self._stack.enter_async_context(
                HaproxyProcess(self.workdir, backends=[GROUP], retry_on=self.retry_on))
            self._session = await self._stack.enter_async_context(aiohttp.ClientSession())
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    @property
    def standby_url(self) -> str | None:
        return f"http://127.0.0.1:{self.standby_port}" if self.standby_port else None

    @property
    def marathon_urls(self) -> list[str]:
        """The standby first when there is one: the reactor must find the leader itself."""
        return [u for u in (self.standby_url, self.lm.url) if u]

    def settings(self, *, drain_source: str = "prometheus", state_name: str = "bluegreen.db") -> Settings:
        return Settings.model_validate(settings_dict(
            self.marathon_urls, self.hap.stats_socket, self.workdir / state_name, drain_source=drain_source))

    def ledger(self) -> LedgerSummary:
        return read_ledger(self.ledger_dir)

    # ---- Marathon REST (scaffolding; the reactor itself never polls) ---------------------------
    async def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self._session.request(method, self.lm.url + path, json=body) as resp:
            text = await resp.text()
            try:
                data = await resp.json(content_type=None) if text else None
            except ValueError:
                data = text
            return resp.status, data

    async def fault(self, body: dict[str, Any]) -> dict[str, Any]:
        status, data = await self.rest("POST", "/_localmarathon/faults", body)
        if status != 200:
            raise RuntimeError(f"fault {body} refused: {status} {data}")
        return dict(data)

    async def stats(self) -> dict[str, Any]:
        return dict((await self.rest("GET", "/_localmarathon/stats"))[1])

    async def app(self, app_id: str) -> dict[str, Any] | None:
        status, data = await self.rest("GET", f"/v2/apps{app_id}?embed=app.tasks")
        return data["app"] if status == 200 else None

    async def group_apps(self) -> list[dict[str, Any]]:
        _, data = await self.rest("GET", "/v2/apps?embed=apps.tasks")
        return [a for a in data["apps"] if (a.get("labels") or {}).get("BLUEGREEN_GROUP") == GROUP]

    async def serving(self) -> int:
        """HAProxy servers of the group's backend that take new requests now."""
        try:
            return sum(1 for s in (await servers_state(self.hap.stats_socket, GROUP)).values() if s.serving)
        except Exception:
            return -1

    # ---- app definitions and deployments -------------------------------------------------------
    def definition(self, version: str, instances: int, *, env: dict[str, str] | None = None,
                   labels: dict[str, str] | None = None) -> dict[str, Any]:
        return sample_app_definition(APP_ID, version=version, instances=instances, ledger_dir=self.ledger_dir,
                                     group=GROUP, extra_env=env, labels=labels, **self.health)

    async def put_blue_in_service(self, instances: int, *, version: str = "v1") -> DeployRun:
        """BLUE v1 deployed by the reactor (a first deploy: all at once); raises if it fails."""
        run = await deploy_green(self.settings(), self.definition(version, instances), batch_size=instances)
        if run.code != 0:
            raise RuntimeError(f"BLUE setup failed: {run.summary}")
        return run


async def deploy_green(settings: Settings, definition: dict[str, Any], *, batch_size: int,
                       at: list[At] | None = None, timeout_s: float = DEPLOY_TIMEOUT_S) -> DeployRun:
    """`bluegreen deploy` in-process (DeployFlow), firing each `At` at its deploy event."""
    flow = DeployFlow(settings, definition, group=GROUP, batch_size=batch_size, json_output=False,
                      tty=False, quiet=True)
    await flow.create_green()
    events: list[tuple[str, float]] = []
    triggers = list(at or [])
    subscribed = asyncio.Event()
    actions: list[asyncio.Task[None]] = []
    follower = asyncio.create_task(_follow(flow, events, triggers, subscribed, actions))
    await subscribed.wait()
    driver = asyncio.create_task(flow.drive(), name="deploy-flow")
    try:
        done, _ = await asyncio.wait({driver}, timeout=timeout_s)
        if not done:
            raise AssertionError(f"deployment not finished after {timeout_s}s: {_stuck(flow, events)}")
        code = driver.result()
    finally:
        if not driver.done():
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        if actions:
            await asyncio.gather(*actions)
    return DeployRun(code, flow.summary, events, triggers, metrics=flow.engine.metrics)


def _stuck(flow: DeployFlow, events: list[tuple[str, float]]) -> str:
    """What a deployment that does not end is waiting for (taken while its engine still runs)."""
    e = flow.engine
    st = e.reconciler.status.get(GROUP)
    if st is None:
        return f"no status; events {[n for n, _ in events]}"
    return (f"events {[n for n, _ in events]}; phase {st.intent.phase.value}; blockers {st.blockers}; "
            f"killed {sorted(st.intent.killed)}; draining {sorted(st.intent.draining)}; last plan "
            f"{time.time() - st.updated_at:.1f}s ago; next look in {e.queue.due_in(GROUP)}s; reconciling "
            f"now {e.queue.in_flight}; counts {st.counts}")


async def _follow(flow: DeployFlow, events: list[tuple[str, float]], triggers: list[At],
                  subscribed: asyncio.Event, actions: list[asyncio.Task[None]]) -> None:
    seen: dict[str, int] = {}
    async with flow.engine.bus.subscribe() as sub:
        subscribed.set()
        async for event in sub:
            name = event.name.value
            events.append((name, event.timestamp.timestamp()))
            seen[name] = seen.get(name, 0) + 1
            for trig in triggers:
                if trig.event == name and trig.nth == seen[name] and trig.fired_at is None:
                    trig.fired_at = time.monotonic()
                    actions.append(asyncio.create_task(_fire(trig)))


async def _fire(trig: At) -> None:
    trig.result = await trig.action()
    trig.done_at = time.monotonic()


# ---- the load's switch timeline ---------------------------------------------------------------------
@dataclass
class Timeline:
    """Ok answers ordered by end time: BLUE only, then mixed, then GREEN only."""

    blue_only: int
    mixed: int
    green_only: int
    first_new_s: float | None  # wall clock
    last_old_s: float | None
    versions: list[str]
    mixed_new: int = 0  # answers of the new version inside the mixed window
    mixed_old: int = 0


def timeline(records: list[RequestRecord], wall0: float, old: str = "v1", new: str = "v2") -> Timeline:
    ok = sorted((r for r in records if r.ok and r.end_s is not None), key=lambda r: r.end_s or 0.0)
    versions: list[str] = []
    for r in ok:
        if r.version is not None and r.version not in versions:
            versions.append(r.version)
    new_ends = [r.end_s for r in ok if r.version == new and r.end_s is not None]
    old_ends = [r.end_s for r in ok if r.version == old and r.end_s is not None]
    first_new = min(new_ends) if new_ends else None
    last_old = max(old_ends) if old_ends else None
    lo = first_new if first_new is not None else float("inf")
    hi = last_old if last_old is not None else float("-inf")
    blue_only = sum(1 for r in ok if (r.end_s or 0.0) < lo)
    green_only = sum(1 for r in ok if (r.end_s or 0.0) > hi)
    mixed = [r for r in ok if lo <= (r.end_s or 0.0) <= hi]
    return Timeline(blue_only=blue_only, mixed=len(mixed), green_only=green_only,
                    first_new_s=None if first_new is None else wall0 + first_new,
                    last_old_s=None if last_old is None else wall0 + last_old, versions=versions,
                    mixed_new=sum(1 for r in mixed if r.version == new),
                    mixed_old=sum(1 for r in mixed if r.version == old))


async def wait_for(predicate: Callable[[], Any], *, timeout_s: float, what: str,
                   interval_s: float = 0.05) -> Any:
    """Poll a (sync or async) predicate until truthy; AssertionError naming `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


def now_utc() -> datetime:
    return datetime.now(UTC)


class MarathonEvents:
    """An independent subscriber of the leader's `/v2/events`: (time.time(), eventType, event)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, str, dict[str, Any]]] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> MarathonEvents:
        self._session = aiohttp.ClientSession(read_bufsize=2**22, timeout=aiohttp.ClientTimeout(total=None))
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        import json

        assert self._session is not None
        async with self._session.get(f"{self.url}/v2/events", headers={"Accept": "text/event-stream"}) as r:
            self.connected.set()
            data: list[str] = []
            async for raw in r.content:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    with contextlib.suppress(ValueError):
                        event = json.loads("\n".join(data))
                        self.seen.append((time.time(), str(event.get("eventType")), event))
                    data = []

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for _, t, e in self.seen if t == event_type]

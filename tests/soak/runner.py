"""The soak's world and its loop: deployment after deployment, one drawn fault each, then the checks.

Owns: starting the world (embedded Marathon without `--lenient`, HAProxy with `retries 3`,
`option redispatch`, `retry-on all-retryable-errors`, the reactor daemon, steady load with slow
operations), creating each GREEN by REST with the labels `bluegreen deploy` writes (the daemon
takes over), firing the fault at its moment, waiting for the history record, clearing the faults
and running the invariants. A deployment that never ends stops the soak (the world is no longer
known-good). Must not: draw faults (plan.py) or judge (invariants.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactor.cli.demo.load import LoadGenerator
from reactor.core.labels import green_labels
from tests.e2e.daemon import ReactorDaemon
from tests.e2e.world import APP_ID, GROUP, World, now_utc, to_toml, wait_for
from tests.soak import faults, invariants
from tests.soak.plan import Draw
from tests.soak.watch import MarathonWatch

RETRY_ON = "all-retryable-errors"
HEALTH = {"health_timeout_s": 2.0, "max_consecutive_failures": 5}  # tolerant of a loaded machine
GREEN_HEALTH_TIMEOUT_S = 15  # per-deployment label: a bad GREEN is rolled back after this
ROLLBACK_WINDOW_S = 4.0  # [deploy] rollback_window_s: GREEN failing this soon after the switch rolls back


@dataclass
class Result:
    draw: Draw
    outcome: str | None
    duration_s: float
    violations: list[str]
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class SoakConfig:
    instances: int = 2
    rate_per_s: float = 20.0
    deploy_timeout_s: float = 120.0
    verbose: bool = True


class Soak:
    def __init__(self, workdir: Path, config: SoakConfig) -> None:
        self.workdir = Path(workdir)
        self.cfg = config
        self.results: list[Result] = []
        self.serving_id = ""
        self.deployments_done = 0
        self._ledger_seen: set[tuple[str | None, int]] = set()

    async def run(self, draws: list[Draw]) -> list[Result]:
        async with World(self.workdir, retry_on=RETRY_ON, health=HEALTH) as world, \
                MarathonWatch(world.lm.url) as watch:
            daemon = ReactorDaemon(self.workdir, world.marathon_urls, world.hap.stats_socket,
                                   lease_ttl_s=2.0, log_level="warning")
            _short_rollback_window(daemon)
            await daemon.start()
            try:
                await self._first(world, daemon)
                load = LoadGenerator(world.hap.url, rate_per_s=self.cfg.rate_per_s, slow_fraction=0.25,
                                     slow_ms=(300, 1200), seed=7, max_duration_s=24 * 3600,
                                     max_requests=10**7)
                async with load:
                    wall0 = time.time()
                    for draw in draws:
                        result = await self._one(world, daemon, watch, load, wall0, draw)
                        self.results.append(result)
                        if self.cfg.verbose:
                            print(_line(result), flush=True)
                        if result.outcome is None:
                            break  # stuck: the world is no longer known-good
            finally:
                await daemon.stop()
        return self.results

    async def _first(self, world: World, daemon: ReactorDaemon) -> None:
        """BLUE v0 put into service by the daemon (a first deployment, no fault)."""
        green_id = f"{APP_ID}-d000"
        await self._create(world, green_id, "v0", None, {})
        record = await self._wait_history(daemon, 1)
        if record is None or record.get("outcome") != "completed":
            raise RuntimeError(f"BLUE could not be put into service: {record} {daemon.tail()}")
        self.serving_id, self.deployments_done = green_id, 1

    async def _create(self, world: World, app_id: str, version: str, previous: str | None,
                      env: dict[str, str]) -> None:
        labels = green_labels(group=GROUP, target_instances=self.cfg.instances, started_at=now_utc(),
                              previous=previous)
        labels["BLUEGREEN_BATCH_SIZE"] = "1"
        labels["BLUEGREEN_HEALTH_TIMEOUT_S"] = str(GREEN_HEALTH_TIMEOUT_S)
        body = {**world.definition(version, 0, env=env, labels=labels), "id": app_id}
        for _ in range(50):  # Marathon may be mid-election from the previous fault: retry its 502s
            status, answer = await world.rest("POST", "/v2/apps", body)
            if status == 201:
                return
            if status not in (502, 503):
                raise RuntimeError(f"creating {app_id}: {status} {answer}")
            await asyncio.sleep(0.2)
        raise RuntimeError(f"creating {app_id}: Marathon kept answering {status}")

    async def _wait_history(self, daemon: ReactorDaemon, n: int) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.cfg.deploy_timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the daemon may be restarting (a fault)
                history = await daemon.history(limit=200)
                if len(history) >= n:
                    return dict(history[0])
            await asyncio.sleep(0.2)
        return None

    async def _one(self, world: World, daemon: ReactorDaemon, watch: MarathonWatch, load: LoadGenerator,
                   wall0: float, draw: Draw) -> Result:
        green_id = f"{APP_ID}-d{draw.index:03d}"
        exp = invariants.Expected(green_id=green_id, blue_id=self.serving_id, bad_green=draw.bad_green,
                                  instances=self.cfg.instances, history_len=self.deployments_done + 1)
        started = time.time()
        await self._create(world, green_id, f"v{draw.index}", self.serving_id, faults.green_env(draw))
        firing = asyncio.create_task(self._fire(draw, world, daemon))
        record = await self._wait_history(daemon, exp.history_len)
        applied = await firing
        await faults.clear(world)
        duration = time.time() - started
        v = invariants.Verdict(outcome=None)
        if record is None:
            status = await _status(daemon)
            v.violations.append(f"no outcome within {self.cfg.deploy_timeout_s:.0f}s: {status}")
            return Result(draw, None, duration, v.violations, applied.result)
        self.deployments_done += 1
        await _leader_back(world)  # a failover's election may outlast the deployment
        self.serving_id = invariants.check_outcome(record, exp, v)
        invariants.check_history(await daemon.history(limit=200), exp, v)
        await invariants.check_apps(world, self.serving_id, exp, v)
        await invariants.check_pool(world, self.serving_id, v)
        await invariants.check_lease(self.workdir / "daemon.db", v)
        invariants.check_ledger(self._new_ledger(world), watch.health_killed, v)
        down = applied.lb_down
        lb_down = None if down is None else (down[0] - wall0, down[1] - wall0)
        window = (started - wall0, time.time() - wall0)
        invariants.check_requests([r for r in load.records if r.end_s is not None
                                   and window[0] <= r.start_s < window[1]], lb_down, v)
        return Result(draw, v.outcome, duration, v.violations, {**applied.result, **v.figures})

    async def _fire(self, draw: Draw, world: World, daemon: ReactorDaemon) -> faults.Applied:
        if draw.bad_green:
            return faults.Applied()
        await asyncio.sleep(draw.at_s)  # the drawn moment of the fault (chaos timing, not a wait)
        try:
            return await faults.apply(draw, world, daemon)
        except Exception as exc:  # a fault that could not be applied is reported with the run
            return faults.Applied({"fault_error": f"{type(exc).__name__}: {exc}"})

    def _new_ledger(self, world: World) -> list[Any]:
        out = []
        for e in world.ledger().entries:
            key = (e.task, e.completed)
            if key not in self._ledger_seen:
                self._ledger_seen.add(key)
                out.append(e)
        return out


def _short_rollback_window(daemon: ReactorDaemon) -> None:
    """The daemon's config with `[deploy] rollback_window_s` short: each deployment stays open
    that long after its last switch (a GREEN failing meanwhile is rolled back)."""
    data = tomllib.loads(daemon.config.read_text())
    data["deploy"]["rollback_window_s"] = ROLLBACK_WINDOW_S
    data["deploy"].pop("rollback_window_standby", None)  # the default warm standby (1 task)
    daemon.config.write_text(to_toml(data))


async def _leader_back(world: World) -> None:
    async def answering() -> bool:
        status, _ = await world.rest("GET", "/v2/apps")
        return status == 200

    await wait_for(answering, timeout_s=60, what="Marathon answering after its election")


async def _status(daemon: ReactorDaemon) -> str:
    with contextlib.suppress(Exception):
        import aiohttp

        async with aiohttp.ClientSession() as s, s.get(f"{daemon.api}/v1/deployments") as r:
            return (await r.text())[:600]
    return "daemon not answering"


def _line(r: Result) -> str:
    verdict = "ok" if not r.violations else "VIOLATION " + " | ".join(r.violations)
    return f"{r.draw.describe()}: {r.outcome} in {r.duration_s:.1f}s; {r.figures}; {verdict}"

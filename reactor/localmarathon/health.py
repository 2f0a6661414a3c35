"""Health checks (Marathon-level semantics) and readiness checks of running instances.

Owns: one checker loop per (app, config version, check) like Marathon's HealthCheckActor, emitting
`add_health_check_event`/`remove_health_check_event` when loops start/stop; per-instance `Health`
(grace period, consecutive failures, `maxConsecutiveFailures` "+1" kill, reference §5.1/§5.3);
`health_status_changed_event` on each check's `alive` flip; `instance_health_changed_event` on the
aggregate's transitions (null = unknown); `failed_health_check_event` (instance id under `taskId`);
`unhealthy_instance_kill_event` then a kill (relaunch). Readiness: polled per new instance until
ready (§5.2). Must not: decide deployments (it only updates instances and notifies).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog

from reactor.localmarathon import catalogue
from reactor.localmarathon.cluster import Cluster
from reactor.localmarathon.model import HealthResult, Instance, TaskState

log = structlog.get_logger(__name__)


MARATHON_LEVEL = frozenset({"HTTP", "HTTPS", "TCP"})


class HealthManager:
    def __init__(self, cluster: Cluster, electing: Callable[[], bool] = lambda: False) -> None:
        self.cluster = cluster
        self.bus = cluster.bus
        self.electing = electing  # no leader: Marathon-level checks do not run
        self._leader_ready_s = 0.0  # monotonic; a new leader's first check comes one interval later
        self._loops: dict[tuple[str, str], list[asyncio.Task[None]]] = {}
        self._readiness: dict[str, asyncio.Task[None]] = {}
        cluster.on_instance_running = self._instance_running
        cluster.on_instance_gone = self._instance_gone

    # --- checker loops ---------------------------------------------------------------------------
    def ensure(self, app_id: str) -> None:
        """Start the loops of the app's current config version (dedup'd like Marathon's actors)."""
        rec = self.cluster.apps.get(app_id)
        if rec is None:
            return
        key = (app_id, rec.last_config_change_at)
        checks = list(rec.defn.get("healthChecks") or [])
        if key in self._loops or not checks:
            return
        loop = asyncio.get_running_loop()
        for check in checks:
            self.bus.publish(catalogue.add_health_check(app_id, check, rec.version, self.bus.now()))
        self._loops[key] = [
            loop.create_task(self._run(app_id, key[1], i, c, len(checks))) for i, c in enumerate(checks)
        ]

    def reconcile(self, app_id: str) -> None:
        """Stop loops of config versions that are no longer current and have no instances left."""
        rec = self.cluster.apps.get(app_id)
        live = {i.config_version for i in self.cluster.app_instances(app_id)}
        for key in [k for k in self._loops if k[0] == app_id]:
            if (rec is not None and key[1] == rec.last_config_change_at) or key[1] in live:
                continue
            self._stop(key)

    def stop_app(self, app_id: str) -> None:
        for key in [k for k in self._loops if k[0] == app_id]:
            self._stop(key)

    def _stop(self, key: tuple[str, str]) -> None:
        for task in self._loops.pop(key, []):
            task.cancel()
            self.bus.publish(catalogue.remove_health_check(key[0], self.bus.now()))

    async def _run(self, app_id: str, cfg: str, idx: int, check: dict[str, Any], n_checks: int) -> None:
        interval_s = max(float(check.get("intervalSeconds", 60)), 0.01)
        while True:
            await asyncio.sleep(interval_s)
            insts = [
                i
                for i in self.cluster.app_instances(app_id)
                if i.config_version == cfg and i.state is TaskState.RUNNING
            ]
            if insts:
                await asyncio.gather(*(self._check(i, idx, check, n_checks) for i in insts))

    async def _check(self, inst: Instance, idx: int, check: dict[str, Any], n_checks: int) -> None:
        rec = self.cluster.apps.get(inst.app_id)
        if rec is None:
            return
        task_id = inst.task_id
        try:
            ok, cause = await self.cluster.executor.probe(inst, check, rec.defn)
        except Exception as exc:  # a probe bug must not kill the checker loop
            ok, cause = False, str(exc) or type(exc).__name__
        if ok is None or inst.task_id != task_id or inst.state is not TaskState.RUNNING:
            return
        if check.get("protocol", "HTTP") in MARATHON_LEVEL and (
            self.electing()
            or time.monotonic() < self._leader_ready_s + float(check.get("intervalSeconds", 60))
        ):
            return
        self.apply(inst, idx, check, n_checks, ok, cause)

    def apply(
        self, inst: Instance, idx: int, check: dict[str, Any], n_checks: int, ok: bool, cause: str
    ) -> None:
        now = self.bus.now()
        before = inst.healthy(n_checks)
        health = inst.health.get(idx) or HealthResult(inst.instance_id)
        was_alive = health.alive
        kill = False
        if ok:
            health.first_success = health.first_success or now
            health.last_success = now
            health.consecutive_failures = 0
            health.alive = True
        elif not self._in_grace(inst, health, check):
            previous_failures = health.consecutive_failures
            health.consecutive_failures += 1
            health.last_failure, health.last_failure_cause, health.alive = now, cause, False
            self.bus.publish(catalogue.failed_health_check(inst, check, now))
            max_failures = int(check.get("maxConsecutiveFailures", 3))
            kill = max_failures > 0 and previous_failures >= max_failures
        inst.health[idx] = health
        if was_alive != health.alive:
            self.bus.publish(catalogue.health_status_changed(inst, health.alive, self.bus.now()))
        after = inst.healthy(n_checks)
        if after != before:
            self.bus.publish(catalogue.instance_health_changed(inst, after, self.bus.now()))
        if kill and not inst.kill_requested:  # Marathon's killingInFlight: one kill per task
            self.bus.publish(catalogue.unhealthy_instance_kill(inst, cause, now))
            self.cluster.kill(inst, decommission=False)
        self.cluster.changed.notify(inst.app_id)

    def forget_leader_results(self, leader_ready_s: float) -> None:
        """Leader failover: Marathon-level results lived in the old leader's memory; MESOS_* survive.

        The new leader starts with `healthCheckResults: []` and `tasksHealthy: 0` until its first
        checks (reference §5.1; marathon-lb caches health across failovers for this reason).
        """
        for inst in list(self.cluster.instances.values()):
            rec = self.cluster.apps.get(inst.app_id)
            checks = (rec.defn.get("healthChecks") or []) if rec else []
            for idx in list(inst.health):
                if idx >= len(checks) or checks[idx].get("protocol", "HTTP") in MARATHON_LEVEL:
                    del inst.health[idx]
        self._leader_ready_s = leader_ready_s
        self.cluster.changed.notify()

    @staticmethod
    def _in_grace(inst: Instance, health: HealthResult, check: dict[str, Any]) -> bool:
        if health.first_success is not None or inst.running_since_s is None:
            return False
        return time.monotonic() - inst.running_since_s < float(check.get("gracePeriodSeconds", 300))

    # --- readiness -------------------------------------------------------------------------------
    def _instance_running(self, inst: Instance) -> None:
        rec = self.cluster.apps.get(inst.app_id)
        checks = (rec.defn.get("readinessChecks") or []) if rec else []
        if not checks:
            inst.ready = True
            return
        task = asyncio.get_running_loop().create_task(self._poll_ready(inst, inst.task_id, checks[0]))
        self._readiness[inst.task_id] = task

    def _instance_gone(self, inst: Instance) -> None:
        """The task ended: its results are purged, so a known aggregate becomes unknown (`healthy: null`)."""
        task = self._readiness.pop(inst.task_id, None)
        if task is not None:
            task.cancel()
        rec = self.cluster.apps.get(inst.app_id)
        n_checks = len(rec.defn.get("healthChecks") or []) if rec else len(inst.health)
        known = inst.healthy(n_checks) is not None
        inst.health = {}
        if known:
            self.bus.publish(catalogue.instance_health_changed(inst, None, self.bus.now()))

    async def _poll_ready(self, inst: Instance, task_id: str, check: dict[str, Any]) -> None:
        interval_s = max(float(check.get("intervalSeconds", 30)), 0.01)
        try:
            while inst.task_id == task_id and inst.state is TaskState.RUNNING:
                rec = self.cluster.apps.get(inst.app_id)
                if rec is None:
                    return
                ready, last = await self.cluster.executor.ready(inst, check, rec.defn)
                inst.readiness_last = last if check.get("preserveLastResponse") else None
                if ready:
                    inst.ready = True
                    self.cluster.changed.notify(inst.app_id)
                    return
                await asyncio.sleep(interval_s)
        finally:
            self._readiness.pop(task_id, None)

    async def close(self) -> None:
        tasks = [t for ts in self._loops.values() for t in ts] + list(self._readiness.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        self._readiness.clear()

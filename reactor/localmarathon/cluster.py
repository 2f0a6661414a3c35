"""The cluster state: apps with their versions, instances and their tasks' lifecycle.

Owns: the app store (definition, version, versionInfo, version history, lastTaskFailure), the
instances, launch/kill/relaunch (kill without scale relaunches the same instance with incarnation
+1; goal Decommissioned expunges it), status/instance events, and a change notifier that
deployments wait on. Must not: decide plans or locks (deployments.py), probe health (health.py),
or run processes (executors.py).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from reactor.localmarathon import catalogue
from reactor.localmarathon.events import EventBus
from reactor.localmarathon.model import (
    Goal,
    Instance,
    TaskState,
    app_json,
    instance_id_of,
    json_copy,
    last_task_failure_json,
    new_instance_id,
)
from reactor.localmarathon.ports import HostPorts, ServicePorts, needs_host_port, port_slots

log = structlog.get_logger(__name__)


class Executor(Protocol):
    def launch(self, inst: Instance, app: dict[str, Any]) -> None: ...
    def kill(self, inst: Instance, grace_s: float) -> None: ...
    async def probe(
        self, inst: Instance, check: dict[str, Any], app: dict[str, Any]
    ) -> tuple[bool | None, str]: ...
    async def ready(self, inst: Instance, check: dict[str, Any], app: dict[str, Any]) -> tuple[bool, Any]: ...
    async def close(self) -> None: ...


@dataclass
class AppRecord:
    defn: dict[str, Any]  # canonical definition incl. instances, without version fields
    version: str
    last_scaling_at: str
    last_config_change_at: str
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> stored definition JSON
    last_failure: dict[str, Any] | None = None

    def definition_json(self, with_version_info: bool = True) -> dict[str, Any]:
        extra: dict[str, Any] = {"version": self.version}
        if with_version_info:
            extra["versionInfo"] = {
                "lastScalingAt": self.last_scaling_at,
                "lastConfigChangeAt": self.last_config_change_at,
            }
        return app_json({**self.defn, **extra})


class VersionKind(enum.Enum):
    CONFIG = "config"  # version = lastScalingAt = lastConfigChangeAt = now
    SCALE = "scale"  # version = lastScalingAt = now
    RESTART = "restart"  # version = lastConfigChangeAt = now


class Notifier:
    """Level-triggered wake-ups: waiters re-check their condition after a change. A waiter for
    one app wakes on that app's changes and on changes of no app in particular (`notify()`), not
    on every other app's: 100 deployments waiting must not all wake for each task of any app."""

    def __init__(self) -> None:
        self._any = asyncio.Event()
        self._apps: dict[str, asyncio.Event] = {}

    def notify(self, app_id: str | None = None) -> None:
        if app_id is None:
            woken = [self._any, *self._apps.values()]
            self._apps = {}
        else:
            woken = [self._any]
            if (event := self._apps.pop(app_id, None)) is not None:
                woken.append(event)
        self._any = asyncio.Event()
        for event in woken:
            event.set()

    async def wait(self, timeout_s: float | None = None, app_id: str | None = None) -> None:
        event = self._any if app_id is None else self._apps.setdefault(app_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass


class Cluster:
    def __init__(self, bus: EventBus, executor: Executor, host_ports: HostPorts) -> None:
        self.bus = bus
        self.executor = executor
        self.host_ports = host_ports
        self.service_ports = ServicePorts()
        self.apps: dict[str, AppRecord] = {}
        self.instances: dict[str, Instance] = {}
        self.by_app: dict[str, dict[str, Instance]] = {}
        self.changed = Notifier()
        self._seq = itertools.count(1)
        self._relaunch_handles: dict[str, asyncio.TimerHandle] = {}
        self._closing = False  # once set, nothing is launched or relaunched (no task outlives stop())
        self.task_killing = False  # Mesos' `task_killing` feature: TASK_KILLING / Killing on kills
        self.on_instance_running: Callable[[Instance], None] = lambda inst: None
        self.on_instance_gone: Callable[[Instance], None] = lambda inst: None

    # --- apps -------------------------------------------------------------------------------
    def store_app(self, defn: dict[str, Any], kind: VersionKind, version: str | None = None) -> AppRecord:
        """Create or update an app with a new version (GroupVersioningUtil rules, reference §4.3)."""
        now = version or self.bus.now()
        old = self.apps.get(defn["id"])
        previous = [int(p.get(k) or 0) for k, p in port_slots(old.defn)] if old else []
        defn = json_copy(defn)
        slots = port_slots(defn)
        if slots:
            self.service_ports.assign([p for _, p in slots], previous, key=slots[0][0])
        if old is None:
            rec = AppRecord(defn, now, now, now)
        else:
            rec = old
            rec.defn = defn
            rec.version = now
            if kind is not VersionKind.RESTART:
                rec.last_scaling_at = now
            if kind is not VersionKind.SCALE:
                rec.last_config_change_at = now
        rec.versions[rec.version] = rec.definition_json()
        self.apps[defn["id"]] = rec
        self.by_app.setdefault(defn["id"], {})
        return rec

    def remove_app(self, app_id: str) -> None:
        self.apps.pop(app_id, None)

    def app_instances(self, app_id: str) -> list[Instance]:
        return list(self.by_app.get(app_id, {}).values())

    # --- instances ----------------------------------------------------------------------------
    def launch(self, app_id: str, count: int) -> list[Instance]:
        rec = self.apps[app_id]
        out: list[Instance] = []
        if self._closing:
            return out
        for _ in range(count):
            inst = Instance(
                new_instance_id(app_id), app_id, rec.version, rec.last_config_change_at, next(self._seq)
            )
            self.instances[inst.instance_id] = inst
            self.by_app.setdefault(app_id, {})[inst.instance_id] = inst
            self._start_task(inst, rec)
            out.append(inst)
        self.changed.notify(app_id)
        return out

    def _start_task(self, inst: Instance, rec: AppRecord) -> None:
        inst.state = TaskState.STAGING
        slots = port_slots(rec.defn)
        inst.ports = [self.host_ports.take() for _, p in slots if needs_host_port(rec.defn, p)]
        inst.service_ports = [int(p.get(k) or 0) for k, p in slots]
        inst.staged_at = self.bus.now()
        inst.started_at = None
        inst.running_since_s = None
        inst.health = {}
        inst.ready = False
        inst.readiness_last = None
        inst.killed_by_us = False
        inst.kill_requested = False
        inst.message = ""
        ts = self.bus.now()
        # Scheduled (no agent), Provisioned (offer accepted, no Mesos status yet: slaveId and
        # message ""), then Mesos' TASK_STAGING; a status update precedes its instance change.
        self.bus.publish(catalogue.instance_changed(inst, "Scheduled", ts, placed=False))
        self.bus.publish(catalogue.status_update(inst, ts, provisioned=True))
        self.bus.publish(catalogue.instance_changed(inst, "Provisioned", ts))
        self.bus.publish(catalogue.status_update(inst, ts))
        self.bus.publish(catalogue.instance_changed(inst, "Staging", ts))
        self.executor.launch(inst, rec.defn)

    def task_running(self, inst: Instance) -> None:
        """Executor callback: the task's process (or virtual task) is up (TASK_STARTING, TASK_RUNNING)."""
        if inst.state is not TaskState.STAGING:
            return
        inst.state = TaskState.STARTING
        ts = self.bus.now()
        self.bus.publish(catalogue.status_update(inst, ts))
        self.bus.publish(catalogue.instance_changed(inst, "Starting", ts))
        inst.state = TaskState.RUNNING
        inst.started_at = self.bus.now()
        inst.running_since_s = time.monotonic()
        ts = self.bus.now()
        self.bus.publish(catalogue.status_update(inst, ts))
        self.bus.publish(catalogue.instance_changed(inst, "Running", ts))
        self.on_instance_running(inst)
        self.changed.notify(inst.app_id)

    def kill(self, inst: Instance, decommission: bool) -> None:
        """Kill the instance's task (relaunched unless `decommission`, which changes the goal).

        Default (Marathon 1.11 without Mesos' `task_killing` feature): the task stays TASK_RUNNING
        until TASK_KILLED; a goal change is an `instance_changed_event` repeating the current
        condition. With the feature: TASK_KILLING / condition Killing first.
        """
        goal_changed = False
        if decommission:
            goal_changed = inst.goal is not Goal.DECOMMISSIONED
            inst.goal = Goal.DECOMMISSIONED
            handle = self._relaunch_handles.pop(inst.instance_id, None)
            if handle is not None:
                handle.cancel()
            if inst.state.terminal:
                self._expunge(inst)
                return
        if inst.state.terminal or inst.kill_requested:
            if goal_changed:
                self.bus.publish(catalogue.instance_changed(inst, inst.state.condition, self.bus.now()))
            self.changed.notify(inst.app_id)
            return
        inst.killed_by_us = True
        inst.kill_requested = True
        ts = self.bus.now()
        if goal_changed:
            self.bus.publish(catalogue.instance_changed(inst, inst.state.condition, ts))
        if self.task_killing:
            inst.state = TaskState.KILLING
            self.bus.publish(catalogue.status_update(inst, ts))
            self.bus.publish(catalogue.instance_changed(inst, "Killing", ts))
        rec = self.apps.get(inst.app_id)
        grace_s = float((rec.defn if rec else {}).get("taskKillGracePeriodSeconds") or 3.0)
        self.executor.kill(inst, grace_s)
        self.changed.notify(inst.app_id)

    def task_terminated(self, inst: Instance, state: TaskState, message: str) -> None:
        """Executor callback: the task ended (TASK_FINISHED / TASK_FAILED / TASK_KILLED)."""
        if inst.state.terminal:
            return
        inst.state = state
        inst.message = message
        ts = self.bus.now()
        self.host_ports.release(inst.ports)
        self.bus.publish(catalogue.status_update(inst, ts))
        self.bus.publish(catalogue.instance_changed(inst, state.condition, ts))
        rec = self.apps.get(inst.app_id)
        if state is TaskState.FAILED and rec is not None:
            rec.last_failure = last_task_failure_json(inst, ts)
        self.on_instance_gone(inst)
        if inst.goal is Goal.DECOMMISSIONED or rec is None or self._closing:
            self._expunge(inst)
        else:
            delay_s = 0.0 if state is TaskState.KILLED else float(rec.defn.get("backoffSeconds", 1))
            loop = asyncio.get_running_loop()
            self._relaunch_handles[inst.instance_id] = loop.call_later(delay_s, self._relaunch, inst)
        self.changed.notify(inst.app_id)

    def _relaunch(self, inst: Instance) -> None:
        self._relaunch_handles.pop(inst.instance_id, None)
        rec = self.apps.get(inst.app_id)
        if (
            rec is None
            or self._closing
            or inst.goal is not Goal.RUNNING
            or inst.instance_id not in self.instances
        ):
            return
        inst.incarnation += 1
        inst.version = rec.version
        inst.config_version = rec.last_config_change_at
        self._start_task(inst, rec)
        self.changed.notify(inst.app_id)

    def _expunge(self, inst: Instance) -> None:
        self.instances.pop(inst.instance_id, None)
        self.by_app.get(inst.app_id, {}).pop(inst.instance_id, None)
        if not self.by_app.get(inst.app_id) and inst.app_id not in self.apps:
            self.by_app.pop(inst.app_id, None)
        self.changed.notify(inst.app_id)

    def find_task(self, task_id: str) -> Instance | None:
        """The instance a task id names, whatever its incarnation: Marathon maps every task id to
        its instance id (TasksResource.killTasks, AppTasksResource.deleteOne), so a kill of an
        older incarnation's id kills the instance's current task (reference: kill by task id)."""
        iid = instance_id_of(task_id)
        return self.instances.get(iid) if iid else None

    async def close(self) -> None:
        self._closing = True
        for handle in self._relaunch_handles.values():
            handle.cancel()
        self._relaunch_handles.clear()
        await self.executor.close()

    # --- views ----------------------------------------------------------------------------------
    def counts(self, app_id: str) -> dict[str, int]:
        rec = self.apps.get(app_id)
        has_checks = bool(rec and rec.defn.get("healthChecks"))
        staged = running = healthy = unhealthy = 0
        for inst in self.by_app.get(app_id, {}).values():
            if inst.state is TaskState.RUNNING:
                running += 1
            elif inst.state is TaskState.STAGING:
                staged += 1
            if has_checks and inst.health:
                if all(h.alive for h in inst.health.values()):
                    healthy += 1
                else:
                    unhealthy += 1
        return {
            "tasksStaged": staged,
            "tasksRunning": running,
            "tasksHealthy": healthy,
            "tasksUnhealthy": unhealthy,
        }

    def last_failure(self, app_id: str) -> dict[str, Any] | None:
        rec = self.apps.get(app_id)
        return rec.last_failure if rec else None

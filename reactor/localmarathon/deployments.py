"""Deployment plans: steps, locks, force/cancel, and the step runners (reference §3, §4.3, §4.4).

Owns: plan ids/versions, the lock table (an app is locked while a running plan affects it), the
409 + `group_change_failed` + `deployment_failed` answer to a conflicting non-forced change,
cancellation (`deployment_failed` "The upgrade has been cancelled"), empty plans (immediate
`deployment_success`, never listed), StartApplication/ScaleApplication/RestartApplication/
StopApplication runners waiting — level-triggered on the cluster's notifier — until new instances
are running, healthy (if checked) and ready (if readiness checks exist). An unhealthy new version
therefore hangs forever, as in Marathon. Must not: parse requests or store app definitions.
"""

from __future__ import annotations

import asyncio
import enum
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from reactor.localmarathon import catalogue, errors
from reactor.localmarathon.cluster import AppRecord, Cluster
from reactor.localmarathon.health import HealthManager
from reactor.localmarathon.model import Goal, Instance, TaskState, config_of

log = structlog.get_logger(__name__)


class ActionKind(enum.StrEnum):
    START = "StartApplication"
    SCALE = "ScaleApplication"
    RESTART = "RestartApplication"
    STOP = "StopApplication"


@dataclass
class Action:
    kind: ActionKind
    app_id: str
    sentenced: list[str] = field(default_factory=list)  # instance ids (tasks/delete?scale=true)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.kind.value, "app": self.app_id}


@dataclass
class Plan:
    id: str
    version: str
    steps: list[list[Action]]
    originals: dict[str, dict[str, Any] | None]  # app id -> definition before the change (None: new app)
    current_step: int = 0
    cancelled: bool = False
    task: asyncio.Task[None] | None = None
    _affected: tuple[list[list[Action]], list[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def affected_apps(self) -> list[str]:
        """Read for every lock check; computed again only when `steps` is replaced."""
        if self._affected is None or self._affected[0] is not self.steps:
            self._affected = (self.steps, sorted({a.app_id for step in self.steps for a in step}))
        return self._affected[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "steps": [{"actions": [a.to_json() for a in s]} for s in self.steps],
            "version": self.version,
        }


def steps_for_update(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[list[Action]]:
    """DeploymentPlan.dependencyOrderedSteps for one app (AppDefinition.isUpgrade, §4.3)."""
    if old is None and new is None:
        return []
    if new is None:
        assert old is not None
        return [[Action(ActionKind.STOP, old["id"])]]
    if old is None:
        return [[Action(ActionKind.START, new["id"])], [Action(ActionKind.SCALE, new["id"])]]
    if config_of(old) != config_of(new):
        return [[Action(ActionKind.RESTART, new["id"])]]
    if old.get("instances") != new.get("instances"):
        return [[Action(ActionKind.SCALE, new["id"])]]
    return []


class Deployments:
    def __init__(self, cluster: Cluster, health: HealthManager) -> None:
        self.cluster = cluster
        self.health = health
        self.bus = cluster.bus
        self.plans: dict[str, Plan] = {}

    def new_plan(self, steps: list[list[Action]], originals: dict[str, dict[str, Any] | None]) -> Plan:
        return Plan(str(uuid.uuid4()), self.bus.now(), steps, originals)

    def locking(self, app_ids: list[str]) -> list[str]:
        wanted = set(app_ids)
        return [p.id for p in self.plans.values() if any(a in wanted for a in p.affected_apps)]

    def for_app(self, app_id: str) -> list[str]:
        return self.locking([app_id])

    def admit(self, plan: Plan, force: bool, group_id: str) -> None:
        """Raise the 409 (with its events) on a lock conflict, or cancel the conflicting plans if forced."""
        if not plan.steps:
            return
        conflicting = self.locking(plan.affected_apps)
        if not conflicting:
            return
        if not force:
            ts = self.bus.now()
            self.bus.publish(catalogue.group_change_failed(group_id, plan.version, errors.LOCKED_MESSAGE, ts))
            self.bus.publish(catalogue.deployment_failed(plan.to_json(), ts, errors.LOCKED_MESSAGE))
            raise errors.locked(conflicting)
        for plan_id in conflicting:
            self.cancel(plan_id)

    def start(self, plan: Plan, group_id: str) -> None:
        self.bus.publish(catalogue.group_change_success(group_id, plan.version, self.bus.now()))
        if not plan.steps:
            self.bus.publish(catalogue.deployment_success(plan.to_json(), self.bus.now()))
            return
        self.plans[plan.id] = plan
        plan.task = asyncio.get_running_loop().create_task(self._run(plan))

    def cancel(self, plan_id: str) -> Plan:
        plan = self.plans.pop(plan_id, None)
        if plan is None:
            raise errors.deployment_not_found(plan_id)
        plan.cancelled = True
        self.bus.publish(catalogue.deployment_failed(plan.to_json(), self.bus.now(), errors.CANCELLED_REASON))
        if plan.task is not None:
            plan.task.cancel()
        return plan

    async def _run(self, plan: Plan) -> None:
        step_json: dict[str, Any] = {"actions": []}
        try:
            for i, step in enumerate(plan.steps):
                plan.current_step = i + 1
                step_json = {"actions": [a.to_json() for a in step]}
                self.bus.publish(
                    catalogue.deployment_step("deployment_info", plan.to_json(), step_json, self.bus.now())
                )
                await asyncio.gather(*(self._action(a) for a in step))
                self.bus.publish(
                    catalogue.deployment_step(
                        "deployment_step_success", plan.to_json(), step_json, self.bus.now()
                    )
                )
        except asyncio.CancelledError:
            return
        except Exception as exc:
            log.exception("deployment failed", plan=plan.id)
            self.plans.pop(plan.id, None)
            ts = self.bus.now()
            self.bus.publish(
                catalogue.deployment_step("deployment_step_failure", plan.to_json(), step_json, ts)
            )
            self.bus.publish(catalogue.deployment_failed(plan.to_json(), ts, str(exc) or type(exc).__name__))
            return
        self.plans.pop(plan.id, None)
        for app_id in plan.affected_apps:
            self.health.reconcile(app_id)
        self.bus.publish(catalogue.deployment_success(plan.to_json(), self.bus.now()))

    async def _action(self, action: Action) -> None:
        if action.kind is ActionKind.START:
            self.health.ensure(action.app_id)
        elif action.kind is ActionKind.SCALE:
            await self._scale(action)
        elif action.kind is ActionKind.RESTART:
            await self._restart(action.app_id)
        else:
            await self._stop(action.app_id)

    # --- runners ---------------------------------------------------------------------------------
    def counted(self, inst: Instance, rec: AppRecord) -> bool:
        """Counts for a deployment: running, healthy if the app has checks, ready if it has readiness."""
        if inst.state is not TaskState.RUNNING or inst.goal is not Goal.RUNNING:
            return False
        n_checks = len(rec.defn.get("healthChecks") or [])
        return (n_checks == 0 or inst.healthy(n_checks) is True) and inst.ready

    def _victims(self, insts: list[Instance], n: int, rec: AppRecord) -> list[Instance]:
        youngest_first = rec.defn.get("killSelection", "YOUNGEST_FIRST") == "YOUNGEST_FIRST"
        ordered = sorted(insts, key=lambda i: (self.counted(i, rec), -i.seq if youngest_first else i.seq))
        return ordered[: max(n, 0)]

    async def _scale(self, action: Action) -> None:
        app_id = action.app_id
        rec = self.cluster.apps[app_id]
        self.health.ensure(app_id)
        for iid in action.sentenced:
            inst = self.cluster.instances.get(iid)
            if inst is not None:
                self.cluster.kill(inst, decommission=True)
        target = int(rec.defn["instances"])
        active = [i for i in self.cluster.app_instances(app_id) if i.goal is Goal.RUNNING]
        for inst in self._victims(active, len(active) - target, rec):
            self.cluster.kill(inst, decommission=True)
        if len(active) < target:
            self.cluster.launch(app_id, target - len(active))
        while True:
            insts = self.cluster.app_instances(app_id)
            if (
                not any(i.goal is Goal.DECOMMISSIONED for i in insts)
                and sum(self.counted(i, rec) for i in insts) >= target
            ):
                return
            await self.cluster.changed.wait(1.0, app_id)

    async def _restart(self, app_id: str) -> None:
        rec = self.cluster.apps[app_id]
        self.health.ensure(app_id)
        cfg = rec.last_config_change_at
        n = int(rec.defn["instances"])
        strategy = rec.defn["upgradeStrategy"]
        old0 = sum(
            1
            for i in self.cluster.app_instances(app_id)
            if i.config_version != cfg and i.goal is Goal.RUNNING
        )
        min_healthy = math.ceil(n * float(strategy["minimumHealthCapacity"]))
        max_capacity = math.floor(n * (1 + float(strategy["maximumOverCapacity"])))
        if min_healthy == max_capacity and max_capacity <= old0:
            max_capacity += 1  # one new task is started before an old one is killed
        keep_old = min(old0, min_healthy)
        while True:
            insts = self.cluster.app_instances(app_id)
            news = [i for i in insts if i.config_version == cfg and i.goal is Goal.RUNNING]
            ready_new = sum(self.counted(i, rec) for i in news)
            olds = [i for i in insts if i.config_version != cfg and i.goal is Goal.RUNNING]
            allowed_old = max(0, keep_old - ready_new)
            for inst in self._victims(olds, len(olds) - allowed_old, rec):
                self.cluster.kill(inst, decommission=True)
            occupying = sum(1 for i in insts if i.config_version != cfg and not i.state.terminal) + len(news)
            can_launch = min(n - len(news), max_capacity - occupying)
            if can_launch > 0:
                self.cluster.launch(app_id, can_launch)
                continue
            if not any(i.config_version != cfg for i in insts) and ready_new >= n:
                return
            await self.cluster.changed.wait(1.0, app_id)

    async def _stop(self, app_id: str) -> None:
        self.health.stop_app(app_id)
        for inst in self.cluster.app_instances(app_id):
            self.cluster.kill(inst, decommission=True)
        while self.cluster.app_instances(app_id):
            await self.cluster.changed.wait(1.0, app_id)
        self.bus.publish(catalogue.app_terminated(app_id, self.bus.now()))

    # --- views -----------------------------------------------------------------------------------
    def step_info(self, plan: Plan) -> dict[str, Any]:
        current = plan.steps[plan.current_step - 1] if plan.current_step else []
        actions = []
        for a in current:
            rec = self.cluster.apps.get(a.app_id)
            results = []
            if rec is not None and rec.defn.get("readinessChecks"):
                name = rec.defn["readinessChecks"][0]["name"]
                for inst in self.cluster.app_instances(a.app_id):
                    if inst.config_version == rec.last_config_change_at and inst.state is TaskState.RUNNING:
                        r: dict[str, Any] = {"name": name, "taskId": inst.task_id, "ready": inst.ready}
                        if inst.readiness_last is not None:
                            r["lastResponse"] = inst.readiness_last
                        results.append(r)
            actions.append({**a.to_json(), "readinessCheckResults": results})
        return {
            "id": plan.id,
            "version": plan.version,
            "affectedApps": plan.affected_apps,
            "affectedPods": [],
            "steps": plan.to_json()["steps"],
            "currentActions": actions,
            "currentStep": plan.current_step,
            "totalSteps": len(plan.steps),
        }

    async def close(self) -> None:
        tasks = [p.task for p in self.plans.values() if p.task is not None]
        self.plans.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""Reconcile one group: lease → intent → observation → plan → write-ahead → actions → history.

Owns the per-group control loop of design.md (level-triggered, idempotent): it reads the
recorded intent and the observed world, asks the pure planner what to do, persists the new
intent (with an outbox of deploy events) BEFORE acting, executes, and measures reaction time.
Operator commands and gate answers are queued in memory and folded into the intent here, so
only the group's single worker ever writes its intent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from reactor.adapters.lb.errors import LbError
from reactor.core import actions as A
from reactor.core import labels as L
from reactor.core.deploy_events import DeployEvent, GateAnswer
from reactor.core.intent import Command, Intent, Outcome, new_intent
from reactor.core.planner import plan
from reactor.engine.executor import Executor, GroupTarget
from reactor.engine.observe import build_observed, group_apps, newest_app, policy_for, port_index_for

if TYPE_CHECKING:
    from reactor.engine.engine import Engine

log = structlog.get_logger(__name__)

REPLAN_AFTER_ACTION_S = 0.05
FAILED_ACTION_RETRY_S = 1.0
LB_ACTIONS = (A.LbAdd, A.LbDrain, A.LbMaint, A.LbRemove)


@dataclass
class GroupStatus:
    """The last plan's view of a group, for `status`, the API and the progress display."""

    intent: Intent
    blockers: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    updated_at: float = 0.0


class Reconciler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.executor = Executor(engine, on_gate=self._run_gate)
        self.status: dict[str, GroupStatus] = {}
        self._held: set[str] = set()
        self._commands: dict[str, list[Command]] = {}
        self._gate_answers: dict[str, tuple[str, GateAnswer, str | None]] = {}
        self._gates_running: set[str] = set()
        self._drain_group: dict[str, str] = {}
        self._finished_events: dict[str, asyncio.Event] = {}
        self.definitions: dict[str, dict[str, Any]] = {}  # group -> GREEN's definition, not yet folded

    # ---- bookkeeping used by the engine -----------------------------------------------------------
    def held_groups(self) -> set[str]:
        return set(self._held)

    def leases_renewed(self, held: set[str]) -> None:
        for lost in self._held - held:
            log.warning("lease lost; another reactor acts on the group now", group=lost)
        self._held &= held

    def group_of_drained_task(self, task_id: str) -> str | None:
        return self._drain_group.get(task_id)

    def queue_command(self, group: str, command: Command) -> None:
        self._commands.setdefault(group, []).append(command)

    def finished(self, group: str) -> asyncio.Event:
        return self._finished_events.setdefault(group, asyncio.Event())

    # ---- the loop body ----------------------------------------------------------------------------
    async def reconcile(self, group: str, trigger: tuple[str, float] | None = None) -> float | None:
        with structlog.contextvars.bound_contextvars(group=group):  # every log line names its group
            return await self._reconcile(group, trigger)

    async def _reconcile(self, group: str, trigger: tuple[str, float] | None) -> float | None:
        e = self.engine
        if not e.synced_once:
            return None  # the first resync marks every group again
        ttl = e.settings.state.lease_ttl_s
        if not e.store.acquire_lease(group, ttl_s=ttl, now_s=time.time()):
            self._held.discard(group)
            return ttl / 2
        self._held.add(group)
        stored = e.store.load_intent(group)
        intent = Intent.model_validate(stored["intent"]) if stored else None
        if stored and stored.get("outbox"):
            self._deliver_outbox(stored["outbox"])
        intent = self._start_if_new(group, intent)
        if intent is None or intent.finished:
            self._release(group)
            return None
        intent = self._fold_inputs(group, intent)
        return await self._step(group, intent, trigger)

    async def _step(self, group: str, intent: Intent, trigger: tuple[str, float] | None) -> float | None:
        e = self.engine
        apps = group_apps(e.view, group)
        green = e.view.app(intent.green_app)
        policy = policy_for(e.settings, green)
        target = self._target(group, green)
        pool, lb_ok = await self._observe_lb(target.backend)
        observed = build_observed(
            view=e.view, group=group, apps=apps, port_index=port_index_for(e.settings, green),
            pool=pool, lb_available=lb_ok, drains=self._drains_of(group),
            failed=e.failed_deployment_ids(), now=datetime.now(UTC))
        decision = plan(observed, intent, policy)
        events = [a.event.model_dump(mode="json") for a in decision.actions
                  if isinstance(a, A.Emit | A.RequestGate)]
        new = decision.intent
        e.store.save_intent(group, {"intent": new.model_dump(mode="json"), "outbox": events},
                            now_s=time.time(), finished=new.finished)  # write-ahead
        for a in decision.actions:
            if isinstance(a, A.WatchDrain):
                self._drain_group[a.task_id] = group
        out = await self.executor.execute(target, decision.actions)
        self._observe_drain_times(decision.actions[:out.done], intent)
        if out.deployment_ids:
            for dep in out.deployment_ids:
                new = new.with_own_deployment(dep)
        undelivered = [a.event.model_dump(mode="json") for a in decision.actions[out.done:]
                       if isinstance(a, A.Emit | A.RequestGate)]
        e.store.save_intent(group, {"intent": new.model_dump(mode="json"), "outbox": undelivered},
                            now_s=time.time(), finished=new.finished)
        if trigger is not None and out.first_write_at is not None:
            reaction_s = max(0.0, out.first_write_at - trigger[1])
            e.metrics.observe_reaction(trigger[0], reaction_s)
            e.reactions.append((trigger[0], reaction_s))
        self._record_status(group, new, decision.blockers, observed)
        if new.finished and not intent.finished:
            self._finish(group, new)
            return None
        if out.failed is not None:  # retried by the next reconcile (soon), not by a loop here
            return min(decision.requeue_after_s or FAILED_ACTION_RETRY_S, FAILED_ACTION_RETRY_S)
        if any(isinstance(a, LB_ACTIONS) for a in decision.actions[:out.done]):
            # LB changes raise no event: re-plan right after them (Marathon writes raise events)
            return min(decision.requeue_after_s or REPLAN_AFTER_ACTION_S, REPLAN_AFTER_ACTION_S)
        return decision.requeue_after_s

    def _drains_of(self, group: str) -> dict[str, Any]:
        return {tid: o for tid, o in self.engine.drains.observations().items()
                if self._drain_group.get(tid) == group}

    def _observe_drain_times(self, done: tuple[A.Action, ...], intent: Intent) -> None:
        now = datetime.now(UTC)
        for a in done:
            if isinstance(a, A.KillAndScale):
                for tid in a.task_ids:
                    if (started := intent.draining.get(tid)) is not None:
                        self.engine.metrics.observe_drain("forced" if a.forced else "drained",
                                                          (now - started).total_seconds())
            elif isinstance(a, A.UnwatchDrain):
                self._drain_group.pop(a.task_id, None)

    def _start_if_new(self, group: str, intent: Intent | None) -> Intent | None:
        """A deployment starts when the group's newest app is neither side of the last one."""
        e = self.engine
        apps = group_apps(e.view, group)
        green = newest_app(apps)
        if green is None:
            return intent if intent is not None and not intent.finished else None
        if intent is not None and (not intent.finished or (
                green.id in (intent.green_app, intent.blue_app) and not _recreated(green, intent))):
            return intent
        if not e.takeover and (e.only_groups is None or group not in e.only_groups):
            return None
        blues = [a for a in apps if a.id != green.id]
        blue = max(blues, key=lambda a: (L.started_at_of(a.labels) or datetime.min.replace(tzinfo=UTC),
                                         a.instances)) if blues else None
        target = L.target_instances_of(green.labels)
        if target is None:
            target = blue.instances if blue is not None else max(green.instances, 1)
        if blue is None and green.instances >= target:
            return None  # a lone app already at its count: the group is at rest, nothing to deploy
        started = new_intent(
            group=group, deployment_id=str(uuid.uuid4()), green_app=green.id, target_instances=target,
            now=datetime.now(UTC), blue_app=blue.id if blue else None,
            blue_instances=blue.instances if blue else 0, green_instances=green.instances)
        log.info("deployment taken over", group=group, green=green.id, blue=blue.id if blue else None,
                 target=target)
        self._keep_definition(group, green.id)
        return started

    def _keep_definition(self, group: str, green_id: str) -> None:
        """Read GREEN's definition once (history keeps it, for `undo`); folded into the intent by
        the next reconcile. A definition handed over by `deploy` (`definitions`) wins."""
        if group in self.definitions:
            return

        async def read() -> None:
            try:
                self.definitions.setdefault(group, await self.engine.client.app_definition(green_id))
            except Exception as exc:  # history then lacks the definition; nothing else depends on it
                log.warning("GREEN's definition not read; undo will not offer it", app=green_id,
                            error=str(exc))
                return
            self.engine.mark({group}, trigger="definition")

        self.engine.spawn(read(), name=f"definition:{group}")

    def _fold_inputs(self, group: str, intent: Intent) -> Intent:
        now = datetime.now(UTC)
        if intent.green_definition is None and (definition := self.definitions.pop(group, None)):
            intent = intent.model_copy(update={"green_definition": definition})
        for command in self._commands.pop(group, []):
            intent = intent.with_command(command, now)
        if (ans := self._gate_answers.pop(group, None)) is not None:
            intent = intent.with_gate_answer(ans[1], ans[2])
        return intent

    def _target(self, group: str, green: Any) -> GroupTarget:
        s = self.engine.settings
        o = L.overrides_of(green.labels) if green is not None else L.Overrides()
        backend = o.lb_backend or s.lb.haproxy.backend.format(group=group)
        return GroupTarget(group=group, backend=backend, drain_path=o.drain_path or s.drain.path,
                           drain_metric=o.drain_metric or s.drain.metric,
                           drain_timeout_s=o.drain_timeout_s or s.drain.timeout_s)

    async def _observe_lb(self, backend: str) -> tuple[dict[str, Any] | None, bool]:
        if self.engine.settings.lb.driver.value == "none":
            return None, True
        try:
            return await self.engine.lb.observe(backend), True
        except LbError as exc:
            log.warning("load balancer unavailable; LB steps wait", backend=backend, error=str(exc))
            self.engine.metrics.count_lb_error("observe", type(exc).__name__)
            return {}, False

    # ---- gates, outbox, endings -----------------------------------------------------------------
    def _run_gate(self, group: str, action: A.RequestGate) -> None:
        if group in self._gates_running:
            return
        self._gates_running.add(group)

        async def ask() -> None:
            try:
                answer = await self.engine.hooks.gate(action.event)
                reason = None
            except Exception as exc:  # a gate's failure is a veto (documented)
                answer, reason = GateAnswer.VETO, f"gate failed: {exc}"
            finally:
                self._gates_running.discard(group)
            self._gate_answers[group] = (action.event.id, answer, reason)
            self.engine.mark({group}, trigger="gate")

        self.engine.spawn(ask(), name=f"gate:{group}")

    def _deliver_outbox(self, events: list[dict[str, Any]]) -> None:
        for raw in events:
            self.engine.publish(DeployEvent.model_validate(raw))

    def _record_status(self, group: str, intent: Intent, blockers: tuple[str, ...], observed: Any) -> None:
        green = observed.app(intent.green_app)
        blue = observed.app(intent.blue_app)
        counts = {
            "target": intent.target_instances,
            "green_healthy": len(green.healthy_tasks()) if green else 0,
            "green_instances": green.instances if green else 0,
            "blue_live": len(blue.live_tasks()) if blue else 0,
            "blue_killed": len(intent.killed), "forced": intent.forced_kills,
            # live tasks READY in the LB pool (the watch view's traffic share; i14)
            "pool_green": sum(observed.in_pool(t.task_id) for t in green.live_tasks()) if green else 0,
            "pool_blue": sum(observed.in_pool(t.task_id) for t in blue.live_tasks()) if blue else 0,
        }
        self.status[group] = GroupStatus(intent, blockers, counts, time.time())
        self.engine.metrics.set_phase(group, intent.phase.value)

    def _finish(self, group: str, intent: Intent) -> None:
        e = self.engine
        outcome = intent.outcome or Outcome.FAILED
        duration = ((intent.finished_at or datetime.now(UTC)) - intent.started_at).total_seconds()
        e.store.append_history({
            "group": group, "deployment_id": intent.deployment_id, "outcome": outcome.value,
            "blue_app": intent.blue_app, "green_app": intent.green_app,
            "started_at": intent.started_at.isoformat(),
            "finished_at": (intent.finished_at or datetime.now(UTC)).isoformat(),
            "duration_s": duration, "reason": intent.rollback_reason or intent.paused_reason,
            "green_definition": intent.green_definition,
            "counts": {"target": intent.target_instances, "killed": len(intent.killed),
                       "forced": intent.forced_kills, "green_failed": intent.green_failures}})
        e.metrics.count_deployment(outcome.value, duration)
        log.info("deployment finished", group=group, outcome=outcome.value, duration_s=round(duration, 3))
        self._release(group)
        self.finished(group).set()

    def _release(self, group: str) -> None:
        if group in self._held:
            self.engine.store.release_lease(group)
            self._held.discard(group)


def _recreated(app: Any, finished: Intent) -> bool:
    """The app carries an id of the last deployment but was created after it ended (a new
    deployment that reuses a freed id)."""
    started = L.started_at_of(app.labels)
    return started is not None and finished.finished_at is not None and started > finished.finished_at

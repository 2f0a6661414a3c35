"""One planning round in the making: the evolving intent, the actions, blockers and requeue candidates.

Owns the bookkeeping every planner rule shares (phase transitions with their deploy events,
deterministic event ids, the serving-pool arithmetic) so the rules in planner_* read as the
procedure. Lives for one `plan` call; must not do I/O or read a clock (`observed.now` is the time).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reactor.core.actions import Action, Decision, Emit, RequestGate
from reactor.core.deploy_events import DeployEvent, DeployEventName
from reactor.core.intent import Intent, Outcome, Phase
from reactor.core.observed import AppView, Observed, Policy, TaskView

E = DeployEventName

RETRY_S = 10.0  # re-issue a write whose effect Marathon still does not show after this long
LB_RETRY_S = 2.0  # look again this soon while the LB is unreachable
LB_IDLE_RECHECK_S = 1.0  # drained by its metric, still has LB sessions: look again this soon
GATE_RETRY_S = 60.0  # a gate request with no answer is asked again (same event id) after this long


class Step:
    def __init__(self, observed: Observed, intent: Intent, policy: Policy) -> None:
        self.obs = observed
        self.policy = policy
        self.intent = intent
        self.now: datetime = observed.now
        self.actions: list[Action] = []
        self.blockers: list[str] = []
        self._requeue: list[float] = []

    # -- intent and output ------------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        """Change the intent through its checked copy (a misspelt key or a wrong type raises)."""
        self.intent = self.intent.changed(**changes)

    def act(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def block(self, message: str) -> None:
        self.blockers.append(message)

    def requeue_at(self, deadline: datetime) -> None:
        self._requeue.append(max(0.0, (deadline - self.now).total_seconds()))

    def requeue_in(self, seconds: float) -> None:
        self._requeue.append(max(0.0, seconds))

    def event(self, name: DeployEventName, tasks: tuple[str, ...] | list[str] = (),
              reason: str | None = None, key: str | None = None,
              counts: dict[str, int] | None = None) -> DeployEvent:
        """A deploy event whose id is `<deployment>:<name>:<key>`; the key defaults to a counter
        kept in the intent, so re-planning from the same stored intent yields the same id."""
        i = self.intent
        if key is None:
            self.update(seq=i.seq + 1)
            key = str(i.seq + 1)
        return DeployEvent(
            id=f"{i.deployment_id}:{name.value}:{key}", name=name, group=i.group,
            deployment_id=i.deployment_id, blue_app=i.blue_app, green_app=i.green_app,
            tasks=tuple(tasks), counts=self.counts() | (counts or {}), reason=reason, timestamp=self.now)

    def emit(self, name: DeployEventName, tasks: tuple[str, ...] | list[str] = (),
             reason: str | None = None, **counts: int) -> None:
        self.act(Emit(event=self.event(name, tasks, reason, counts=counts)))

    def request_gate(self) -> None:
        """Ask the gate hooks; the id is fixed so a repeated request is recognisably the same."""
        self.act(RequestGate(event=self.event(E.PROMOTION_GATE, key="first-shift")))

    def counts(self) -> dict[str, int]:
        green, blue = self.green(), self.blue()
        out = {"target": self.intent.target_instances,
               "green_instances": green.instances if green else 0,
               "green_healthy": len(green.healthy_tasks()) if green else 0,
               "forced": self.intent.forced_kills}
        if self.intent.blue_app is not None:
            out["blue_remaining"] = len(blue.live_tasks()) if blue else 0
        return out

    def decision(self) -> Decision:
        requeue = min(self._requeue) if self._requeue else None
        if self.intent.finished or self.intent.phase is Phase.PAUSED:
            requeue = None
        return Decision(intent=self.intent, actions=tuple(self.actions),
                        requeue_after_s=requeue, blockers=tuple(self.blockers))

    # -- transitions -----------------------------------------------------------------------
    def goto(self, phase: Phase) -> None:
        if phase is not self.intent.phase:
            self.update(phase=phase, phase_since=self.now)

    def pause(self, reason: str) -> None:
        self.update(paused_reason=reason, paused_from=self.intent.phase)
        self.goto(Phase.PAUSED)
        self.emit(E.DEPLOYMENT_PAUSED, reason=reason)
        self.block(f"paused: {reason}")

    def start_rollback(self, reason: str) -> None:
        self.update(rollback_reason=reason, paused_reason=None, paused_from=None)
        self.goto(Phase.ROLLING_BACK)
        self.emit(E.ROLLBACK_STARTED, reason=reason)

    def finish(self, phase: Phase, outcome: Outcome, name: DeployEventName,
               reason: str | None = None) -> None:
        self.goto(phase)
        self.update(outcome=outcome, finished_at=self.now)
        self.emit(name, reason=reason)

    # -- views -----------------------------------------------------------------------------
    def green(self) -> AppView | None:
        return self.obs.app(self.intent.green_app)

    def blue(self) -> AppView | None:
        return self.obs.app(self.intent.blue_app)

    def serving(self, app: AppView | None) -> list[TaskView]:
        """Tasks that carry traffic: healthy, in the pool (READY), and not being drained by us."""
        if app is None:
            return []
        taken = set(self.intent.draining) | set(self.intent.killed) | set(self.intent.standby)
        return [t for t in app.healthy_tasks() if t.task_id not in taken and self.obs.in_pool(t.task_id)]

    def standby_target(self) -> int:
        """BLUE tasks kept running (warm standby) through the rollback window: the policy's count
        capped at the target; none without a window."""
        if self.policy.rollback_window_s <= 0 or self.intent.blue_app is None:
            return 0
        return min(self.policy.rollback_window_standby, self.intent.target_instances)

    def drain_deadline(self, task_id: str) -> datetime | None:
        started = self.intent.draining.get(task_id)
        if started is None:
            return None
        return started + timedelta(seconds=self.policy.drain_timeout_s)

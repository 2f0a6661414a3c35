"""The level-triggered planner: `plan(observed, intent, policy) -> Decision`.

Owns the order of one planning round: operator commands, completion of already-committed kills,
foreign-change and failure checks, then the rules of the current phase (planner_forward,
planner_rollback). Pure and deterministic: the same snapshot and intent always give the same
decision, so missed/duplicated events and reactor restarts are harmless. Must not do I/O, read
a clock, log, or hold state between calls.
"""

from __future__ import annotations

from datetime import timedelta

from reactor.core.actions import Decision, KillAndScale, LbRemove, UnwatchDrain
from reactor.core.deploy_events import DeployEventName as E
from reactor.core.intent import (
    FORWARD_PHASES,
    AppExpectation,
    Command,
    GateState,
    Intent,
    Phase,
    command_refusal,
)
from reactor.core.observed import AppView, Observed, Policy
from reactor.core.planner_forward import awaiting_promotion, scaling_green, shifting
from reactor.core.planner_rollback import rolling_back
from reactor.core.planner_step import RETRY_S, Step
from reactor.core.planner_window import rollback_window, window_failure

__all__ = ["plan"]

_HANDLERS = {
    Phase.SCALING_GREEN: scaling_green,
    Phase.AWAITING_PROMOTION: awaiting_promotion,
    Phase.SHIFTING: shifting,
    Phase.ROLLING_BACK: rolling_back,
    Phase.ROLLBACK_WINDOW: rollback_window,
}


def plan(observed: Observed, intent: Intent, policy: Policy) -> Decision:
    """The next idempotent actions for one group, the new intent (persist it before acting),
    when to look again, and what blocks progress."""
    if observed.group != intent.group:
        raise ValueError(f"observation of group {observed.group!r} given for intent of {intent.group!r}")
    step = Step(observed, intent, policy)
    if intent.finished:
        return step.decision()
    if intent.seq == 0:
        step.emit(E.DEPLOYMENT_STARTED)
    _apply_command(step)
    _settle_kills(step)
    committed = step.intent.blue_app in step.intent.delete_requested  # BLUE is going: no way back
    if step.intent.phase in FORWARD_PHASES and not _foreign_change(step) and not committed:
        _failure_triggers(step)
    elif step.intent.phase is Phase.ROLLBACK_WINDOW and not committed:
        window_failure(step)  # others may scale GREEN now (e.g. an autoscaler): not foreign
    for _ in range(5):  # follow transitions within the round (bounded: phases only move on)
        phase = step.intent.phase
        handler = _HANDLERS.get(phase)
        if handler is None:
            break
        handler(step)
        if step.intent.phase is phase:
            break
    if step.intent.phase is Phase.PAUSED:
        step.block(f"paused: {step.intent.paused_reason} (`bluegreen resume {intent.group}` continues, "
                   f"`bluegreen rollback {intent.group}` restores BLUE)")
    return step.decision()


def _apply_command(step: Step) -> None:
    pending = step.intent.command
    if pending is None:
        return
    step.update(command=None)
    refusal = command_refusal(step.intent, pending.command)
    if refusal is not None:
        step.block(f"ignored `{pending.command.value}`: {refusal}")
        return
    if pending.command is Command.PROMOTE:
        step.update(gate=GateState.ALLOW, gate_reason="promoted by operator")
    elif pending.command is Command.ABORT:
        step.pause("aborted by operator")
    elif pending.command is Command.ROLLBACK:
        step.start_rollback("rollback requested by operator")
    elif pending.command is Command.RESUME:
        _resume(step)


def _resume(step: Step) -> None:
    """Continue where it was; what the operator accepted becomes the new baseline."""
    i, now = step.intent, step.now
    back_to = i.paused_from or Phase.SCALING_GREEN
    updates: dict[str, object] = {
        "paused_reason": None, "paused_from": None,
        "draining": {t: now for t in i.draining},  # a drain timeout restarts its clock
        "green_scaled_at": now,  # and so does the health timeout
    }
    if i.gate is GateState.HOLD and back_to is Phase.AWAITING_PROMOTION:
        updates["gate"] = GateState.NOT_ASKED  # ask the gate again
    for key, app in (("green", step.green()), ("blue", step.blue())):
        exp: AppExpectation | None = getattr(i, key)
        if app is not None and exp is not None:
            if not exp.explains(app.instances):
                exp = exp.expect(app.instances)
            updates[key] = exp.model_copy(update={"config_version": app.config_version})
    step.update(**updates)
    step.goto(back_to)
    step.emit(E.DEPLOYMENT_RESUMED)


def _settle_kills(step: Step) -> None:
    """Finish kills we already decided (write-ahead: the stored intent may be ahead of Marathon)."""
    i, blue, obs = step.intent, step.blue(), step.obs
    alive = []
    for task_id, killed_at in i.killed.items():
        task = blue.task(task_id) if blue else None
        if task is not None and task.alive:
            if step.now - killed_at >= timedelta(seconds=RETRY_S):
                alive.append(task_id)
            else:  # e.g. decided before a crash and never sent: nothing else will wake us
                step.requeue_at(killed_at + timedelta(seconds=RETRY_S))
        if obs.lb is not None and obs.lb_available and task_id in obs.lb:
            step.act(LbRemove(task_id=task_id))
        if task_id in obs.drains:
            step.act(UnwatchDrain(task_id=task_id))
    if alive and blue is not None and not blue.locked:
        step.act(KillAndScale(app_id=blue.app_id, task_ids=tuple(alive)))
    elif alive:
        step.requeue_in(RETRY_S)


def _foreign_change(step: Step) -> bool:
    """Pause (and return True) when someone else changed BLUE or GREEN under us."""
    i = step.intent
    green = step.green()
    if green is None:
        if i.green_observed:
            step.pause(f"GREEN app {i.green_app} was deleted by someone else")
            return True
        step.block(f"waiting for GREEN app {i.green_app} to appear in Marathon")
        return False
    if not i.green_observed:
        step.update(green_observed=True)
    reason = _unexplained(step, "green", "GREEN", green)
    blue = step.blue()
    if reason is None and i.blue_app is not None and i.blue_app not in i.delete_requested:
        if blue is None:
            reason = f"BLUE app {i.blue_app} was deleted by someone else"
        else:
            reason = _unexplained(step, "blue", "BLUE", blue)
    if reason is not None:
        step.pause(reason)
        return True
    return False


def _unexplained(step: Step, key: str, colour: str, app: AppView) -> str | None:
    exp: AppExpectation | None = getattr(step.intent, key)
    if exp is None:
        return None
    if exp.config_version is None:
        step.update(**{key: exp.model_copy(update={"config_version": app.config_version})})
    elif app.config_version != exp.config_version:
        return (f"{colour} app {app.app_id} was restarted or redeployed by someone else "
                f"(config version {app.config_version}, expected {exp.config_version})")
    if not exp.explains(app.instances):
        return (f"{colour} app {app.app_id} was scaled to {app.instances} by someone else "
                f"(expected {exp.instances})")
    if app.instances == exp.instances and exp.low < exp.instances:
        # our last scale is visible; the cache only moves forward, so lower counts are foreign now
        step.update(**{key: getattr(step.intent, key).model_copy(update={"low": app.instances})})
    return None


def _failure_triggers(step: Step) -> None:
    """Start a rollback on: our Marathon deployment failed, a healthy GREEN task turned bad,
    or GREEN tasks failing beyond max_green_failures."""
    i, green = step.intent, step.green()
    failed = sorted(set(step.obs.failed_deployments) & set(i.own_deployment_ids))
    if failed:
        step.start_rollback(f"Marathon deployment {', '.join(failed)} failed")
        return
    if green is None:
        return
    live = {t.task_id for t in green.live_tasks()}
    healthy = {t.task_id for t in green.healthy_tasks()}
    seen = tuple(dict.fromkeys((*i.green_seen, *sorted(live))))
    ever = tuple(dict.fromkeys((*i.green_ever_healthy, *sorted(healthy))))
    died = [t for t in seen if t not in live and t not in i.green_failed]
    step.update(green_seen=seen, green_ever_healthy=ever, green_failed=(*i.green_failed, *died))
    turned = [t for t in i.green_ever_healthy if t not in healthy and _reported_bad(green, t)]
    if turned:
        step.start_rollback(f"GREEN task {turned[0]} became unhealthy after being healthy")
    elif step.intent.green_failures > step.policy.max_green_failures:
        step.start_rollback(f"{step.intent.green_failures} GREEN tasks failed "
                            f"(max_green_failures = {step.policy.max_green_failures})")


def _reported_bad(app: AppView, task_id: str) -> bool:
    """Unhealthy or dead; unknown health (None) alone is not proof of failure."""
    task = app.task(task_id)
    return task is None or not task.alive or task.healthy is False

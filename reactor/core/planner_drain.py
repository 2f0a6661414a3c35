"""Draining tasks out of the pool: start, progress, timeout policy, and the kill of drained BLUE tasks.

Owns the rule "nothing is killed with work in flight": a task is done draining when the drain
watcher reports 0 pending operations (or its endpoint is gone) and, with require_lb_idle, the LB
shows no session and nothing queued for it; a drain timeout applies on_drain_timeout (pause,
rollback, or force = kill anyway, counted). Used by the forward (BLUE) and rollback (GREEN)
rules. Must not decide which tasks to drain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reactor.core.actions import KillAndScale, LbDrain, LbRemove, UnwatchDrain, WatchDrain
from reactor.core.deploy_events import DeployEventName as E
from reactor.core.intent import Phase
from reactor.core.observed import AppView, LbState, OnDrainTimeout, TaskView
from reactor.core.planner_step import LB_IDLE_RECHECK_S, Step


@dataclass
class Survey:
    done: list[TaskView] = field(default_factory=list)  # drained (and idle): may go
    timed_out: list[TaskView] = field(default_factory=list)  # still busy past the deadline
    busy: int = 0


def unreadable(step: Step, tasks: list[TaskView]) -> bool:
    """A task the drain source must read has no port at the drain port index (a worker app with
    no ports, or another index configured): nothing could ever tell it is drained, so the
    deployment pauses once, saying why, instead of watching in vain."""
    reads = step.policy.drain_reads
    portless = [t.task_id for t in tasks if t.port is None] if reads is not None else []
    if not portless:
        return False
    if step.intent.phase is not Phase.PAUSED:
        step.pause(f"{', '.join(portless)}: no port at the drain port index for drain source "
                   f"{reads} (an app without ports needs drain source none, or set "
                   f"BLUEGREEN_DRAIN_PORT_INDEX)")
    return True


def start_drain(step: Step, tasks: list[TaskView]) -> bool:
    """Out of the pool and watched; False (paused, nothing started) if the source cannot read one."""
    if unreadable(step, tasks):
        return False
    obs = step.obs
    for t in tasks:
        if obs.lb is not None and t.task_id in obs.lb:
            step.act(LbDrain(task_id=t.task_id))
        step.act(WatchDrain(task_id=t.task_id, host=t.host, port=t.port))
    step.update(draining={**step.intent.draining, **{t.task_id: step.now for t in tasks}})
    return True


def survey(step: Step, app: AppView | None) -> Survey:
    """Progress of every task we are draining (all belong to `app`: BLUE going forward, GREEN in a
    rollback); forgets those that died on their own."""
    obs, out = step.obs, Survey()
    draining = dict(step.intent.draining)
    for task_id in list(draining):
        task = app.task(task_id) if app else None
        if task is None or not task.alive:
            forget(step, task_id)
            del draining[task_id]
            continue
        dv, srv = obs.drains.get(task_id), obs.server(task_id)
        if srv is not None and srv.state is LbState.READY:
            step.act(LbDrain(task_id=task_id))  # our drain is not visible: (re)issue it
        if dv is None and not unreadable(step, [task]):
            step.act(WatchDrain(task_id=task_id, host=task.host, port=task.port))
        metric_done = dv is not None and (dv.drained or dv.gone)
        lb_idle = not step.policy.require_lb_idle or srv is None or srv.idle
        if metric_done and lb_idle:
            out.done.append(task)
            continue
        deadline = step.drain_deadline(task_id)
        if (deadline is not None and step.now >= deadline) or (dv is not None and dv.timed_out):
            out.timed_out.append(task)
            continue
        out.busy += 1
        if deadline is not None:
            step.requeue_at(deadline)
        if metric_done:
            step.requeue_in(LB_IDLE_RECHECK_S)
            step.block(f"draining {task_id}: {srv.sessions if srv else 0} LB sessions, "
                       f"{srv.queued if srv else 0} queued")
        else:
            pending = "?" if dv is None or dv.pending is None else str(dv.pending)
            step.block(f"draining {task_id}: {pending} pending")
    step.update(draining=draining)
    return out


def forget(step: Step, task_id: str) -> None:
    """Out of the LB and the drain watcher (a task that is gone, killed, or kept as standby)."""
    obs = step.obs
    if obs.lb is not None and obs.lb_available and task_id in obs.lb:
        step.act(LbRemove(task_id=task_id))
    if task_id in obs.drains:
        step.act(UnwatchDrain(task_id=task_id))


def timeout_policy(step: Step, timed_out: list[TaskView]) -> list[TaskView]:
    """Apply on_drain_timeout; returns the tasks to kill anyway (force), else transitions."""
    if not timed_out:
        return []
    policy = step.policy.on_drain_timeout
    names = ", ".join(t.task_id for t in timed_out)
    pending = [step.obs.drains.get(t.task_id) for t in timed_out]
    counts = "/".join("?" if d is None or d.pending is None else str(d.pending) for d in pending)
    reason = f"drain timeout ({step.policy.drain_timeout_s:g}s): {names} still busy ({counts} pending)"
    if policy is OnDrainTimeout.FORCE:
        return timed_out
    if policy is OnDrainTimeout.ROLLBACK and step.intent.phase is not Phase.ROLLING_BACK:
        step.start_rollback(reason)
    else:
        step.pause(reason)
    return []


def kill_drained(step: Step, app: AppView, done: list[TaskView], forced: list[TaskView]) -> None:
    """Kill-and-scale drained BLUE tasks in one call, then take them out of the LB and the watcher."""
    tasks = done + forced
    if not tasks:
        return
    if app.locked:
        step.block(f"waiting for Marathon deployment {', '.join(app.deployment_ids)} on {app.app_id}")
        return
    ids = tuple(t.task_id for t in tasks)
    forced_ids = tuple(t.task_id for t in forced)
    step.act(KillAndScale(app_id=app.app_id, task_ids=ids, forced=bool(forced)))
    for task_id in ids:
        forget(step, task_id)
    i = step.intent
    draining = {k: v for k, v in i.draining.items() if k not in ids}
    blue = i.blue.expect(i.blue.instances - len(ids)) if i.blue else None
    step.update(killed={**i.killed, **dict.fromkeys(ids, step.now)}, draining=draining,
                forced=(*i.forced, *forced_ids), blue=blue)
    if done:
        step.emit(E.BLUE_DRAINED, tasks=[t.task_id for t in done])
    reason = f"forced after drain timeout: {', '.join(forced_ids)}" if forced else None
    step.emit(E.BLUE_KILLED, tasks=ids, reason=reason, killed=len(ids), forced_now=len(forced_ids))

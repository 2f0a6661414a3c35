"""Rollback rules: restore BLUE first, only then take GREEN out of the pool and delete it.

Owns the order that keeps traffic served during a rollback: drained-but-alive BLUE tasks go back
into the pool (a rollback window's standby backup servers become normal ones once idle), BLUE
is scaled back to its original count and its healthy tasks are added; when
BLUE serves its original count again, GREEN is drained (never killed with work in flight unless
on_drain_timeout = force) and deleted -> ROLLED_BACK. A BLUE that no longer exists cannot be
restored -> FAILED (GREEN is left serving). Must not move forward.
"""

from __future__ import annotations

from datetime import timedelta

from reactor.core import planner_drain as drain
from reactor.core.actions import DeleteApp, LbAdd, LbRemove, ScaleApp, UnwatchDrain
from reactor.core.deploy_events import DeployEventName as E
from reactor.core.intent import Outcome, Phase
from reactor.core.observed import AppView, LbState, TaskView
from reactor.core.planner_step import LB_RETRY_S, RETRY_S, Step
from reactor.core.pool import place


def rolling_back(step: Step) -> None:
    if step.obs.lb_blocked:
        step.block("load balancer unreachable: no traffic decision this round")
        step.requeue_in(LB_RETRY_S)
        return
    i, blue, green = step.intent, step.blue(), step.green()
    _return_blue_drains(step, blue, green)
    if i.blue_app is not None:
        if blue is None:
            step.finish(Phase.FAILED, Outcome.FAILED, E.DEPLOYMENT_FAILED,
                        reason=f"BLUE app {i.blue_app} is gone: cannot roll back ({i.rollback_reason})")
            return
        if not _restore_blue(step, blue):
            return
    _retire_green(step, green)


def _return_blue_drains(step: Step, blue: AppView | None, green: AppView | None) -> None:
    """BLUE tasks we were draining (and did not kill) serve again."""
    obs, i = step.obs, step.intent
    draining = dict(i.draining)
    for task_id in list(draining):
        if green is not None and green.task(task_id) is not None:
            continue  # a GREEN drain of this rollback
        task = blue.task(task_id) if blue else None
        if task is not None and task.alive and obs.lb is not None:
            srv = obs.server(task_id)
            if srv is None or srv.state is not LbState.READY:
                step.act(LbAdd(task_id=task_id, host=task.host, port=task.lb_port))
        elif obs.lb is not None and task_id in obs.lb:
            step.act(LbRemove(task_id=task_id))
        if task_id in obs.drains:
            step.act(UnwatchDrain(task_id=task_id))
        del draining[task_id]
    if draining != i.draining:
        step.update(draining=draining, batch_tasks=())


def _restore_blue(step: Step, blue: AppView) -> bool:
    """True once BLUE serves its original count again."""
    i, now, obs = step.intent, step.now, step.obs
    want = i.blue_original_instances
    exp = i.blue
    if exp is not None and exp.instances < want:
        if blue.locked:
            step.block(f"waiting for Marathon deployment {', '.join(blue.deployment_ids)} on BLUE")
            return False
        step.act(ScaleApp(app_id=blue.app_id, instances=want))
        step.update(blue=exp.expect(want), blue_restore_at=now)
    elif blue.instances < want and not blue.locked and (
            now - (i.blue_restore_at or i.phase_since) >= timedelta(seconds=RETRY_S)):
        step.act(ScaleApp(app_id=blue.app_id, instances=want))  # our scale is not visible: again
        step.update(blue_restore_at=now)
    back: list[TaskView] = []
    for t in blue.healthy_tasks():
        if t.task_id in i.killed:
            continue
        back.append(t)
        if obs.lb is not None:  # a standby backup server becomes a normal one once it is idle
            step.act(*place(obs.server(t.task_id), t, backup=False))
        if t.task_id in obs.drains and t.task_id not in i.draining:
            step.act(UnwatchDrain(task_id=t.task_id))  # a cancelled drain whose unwatch was lost
    serving = sum(1 for t in back if obs.in_pool(t.task_id))
    if serving < want:
        step.block(f"BLUE back in the pool {serving}/{want}")
        step.requeue_in(RETRY_S)
        return False
    return True


def _retire_green(step: Step, green: AppView | None) -> None:
    i, obs, now = step.intent, step.obs, step.now
    if green is None:
        for task_id in (*i.pooled, *i.draining):
            if obs.lb is not None and task_id in obs.lb:
                step.act(LbRemove(task_id=task_id))
            if task_id in obs.drains:
                step.act(UnwatchDrain(task_id=task_id))
        step.update(draining={})
        step.finish(Phase.ROLLED_BACK, Outcome.ROLLED_BACK, E.ROLLBACK_COMPLETED, reason=i.rollback_reason)
        return
    survey = drain.survey(step, green)
    forced = drain.timeout_policy(step, survey.timed_out)
    if step.intent.phase is not Phase.ROLLING_BACK:
        return
    i = step.intent
    fresh = [t for t in green.live_tasks() if t.task_id not in i.draining and _in_lb(step, t)]
    if fresh:
        if drain.start_drain(step, fresh):
            step.block(f"draining GREEN: {len(fresh)} task(s) leave the pool")
        return
    if survey.busy:
        return  # GREEN is deleted only when every task of it is drained at the same time
    retry = timedelta(seconds=RETRY_S)
    visible = len(green.live_tasks())
    unseen = (green.instances < i.green.instances and now - i.green_scaled_at < retry) or (
        visible < green.instances and now - i.phase_since < retry)
    if unseen:  # GREEN may run tasks this observation does not show yet (they could carry work)
        step.block(f"waiting for Marathon to show all GREEN tasks ({visible}/{green.instances})")
        step.requeue_in(RETRY_S)
        return
    if forced:
        step.update(forced=(*i.forced, *(t.task_id for t in forced if t.task_id not in i.forced)))
    asked = i.delete_requested.get(green.app_id)
    if asked is None or now - asked >= timedelta(seconds=RETRY_S):
        step.act(DeleteApp(app_id=green.app_id, force=True))  # a hung GREEN scale must not block it
        step.update(delete_requested={**step.intent.delete_requested, green.app_id: now})
    step.block(f"waiting for Marathon to delete GREEN {green.app_id}")
    step.requeue_in(RETRY_S)


def _in_lb(step: Step, task: TaskView) -> bool:
    """Might carry traffic: in the LB in any state; with no LB driver, whatever routes traffic
    may send it to any GREEN task, so every one is watched until drained."""
    return step.obs.lb is None or task.task_id in step.obs.lb

"""The rollback window: after the last traffic shift, BLUE waits (with a warm standby) before deletion.

Owns the phase between "every other BLUE task is gone" and "BLUE's app is deleted": BLUE keeps
its standby tasks (`rollback_window_standby`, the last ones drained; 0 = BLUE at 0 instances) in
the pool as backup servers, which serve only while no GREEN server is up; GREEN's pool
follows its healthy tasks (relaunches, scales by others; fail open), GREEN failing (a task that
was healthy turns unhealthy or dies, or too many failures — checked by the planner's failure
triggers) starts the rollback, `rollback` by an operator works, and when the window has passed
the standby is drained (its work finishes) and BLUE is deleted: the deployment is done.
Must not do I/O or read a clock.
"""

from __future__ import annotations

from datetime import timedelta

from reactor.core import planner_drain as drain
from reactor.core.actions import LbAdd, LbDrain, LbRemove
from reactor.core.deploy_events import DeployEventName as E
from reactor.core.intent import Outcome, Phase
from reactor.core.observed import AppView
from reactor.core.planner_forward import LB_READY_RECHECK_S, delete_blue, standby_text
from reactor.core.planner_step import LB_RETRY_S, Step
from reactor.core.pool import converge


def rollback_window(step: Step) -> None:
    i, green, blue = step.intent, step.green(), step.blue()
    if green is None:
        step.start_rollback(f"GREEN app {i.green_app} disappeared during the rollback window")
        return
    started = i.window_started or i.phase_since
    end = started + timedelta(seconds=step.policy.rollback_window_s)
    retiring = step.now >= end  # the window has passed: the standby leaves the pool
    if step.obs.lb_blocked:
        step.block("load balancer unreachable: the pool waits")
        step.requeue_in(LB_RETRY_S)
    else:
        keep = blue is not None and step.policy.lb_backup and not retiring
        pool = converge(step.obs, frozenset({green.app_id}),
                        frozenset({blue.app_id}) if keep and blue is not None else frozenset())
        # a server already changed this round (the standby flipped to backup as the window
        # opened) is not changed again from the same observation
        decided = {a.task_id for a in step.actions if isinstance(a, LbAdd | LbDrain | LbRemove)}
        step.act(*(a for a in pool.actions if getattr(a, "task_id", None) not in decided))
        if pool.actions or pool.flag_waits:
            step.requeue_in(LB_READY_RECHECK_S)  # LB changes raise no event: look again soon
        if pool.fail_open:
            step.block(f"fail open: no healthy GREEN task; {len(pool.fail_open)} unhealthy kept in the pool")
    if blue is None:
        step.finish(Phase.DONE, Outcome.COMPLETED, E.DEPLOYMENT_COMPLETED)
        return
    if not retiring:
        step.block(f"rollback window: BLUE {blue.app_id} kept at {standby_text(step)} "
                   f"until {end.isoformat()}")
        step.requeue_at(end)
        return
    if _standby_drained(step, blue):
        delete_blue(step, blue)


def _standby_drained(step: Step, blue: AppView) -> bool:
    """The window has passed: BLUE's standby tasks are drained like any BLUE task (a backup that
    served during a GREEN flap finishes its work) before BLUE's app is deleted."""
    i, obs = step.intent, step.obs
    if blue.app_id in i.delete_requested:
        return True
    live = [t for t in blue.live_tasks() if t.task_id not in i.killed]
    fresh = [t for t in live if t.task_id not in i.draining and (obs.lb is None or t.task_id in obs.lb)]
    if fresh:
        if drain.start_drain(step, fresh):
            step.block(f"rollback window over: draining BLUE's standby ({len(fresh)} task(s))")
            step.requeue_in(LB_RETRY_S)
        return False
    survey = drain.survey(step, blue)
    if survey.busy:
        return False
    forced = [t.task_id for t in survey.timed_out if t.task_id not in i.forced]
    if forced:  # the window is over either way: deleted with work in flight, counted
        step.update(forced=(*step.intent.forced, *forced))
    return True


def window_failure(step: Step) -> None:
    """GREEN failing within the window starts the rollback: evidence only (a check that failed on
    a task that was healthy, or a task that was healthy died and Marathon relaunches it). Unknown
    health (no result yet, e.g. after a Marathon failover) is not evidence, and tasks gone in a
    scale-down by someone else are not failures."""
    i, green = step.intent, step.green()
    if green is None:
        return
    live = green.live_tasks()
    live_ids = {t.task_id for t in live}
    ever = set(i.green_ever_healthy)
    turned = sorted(t.task_id for t in live if t.healthy is False and t.task_id in ever)
    fresh = live_ids - set(i.green_seen)
    died = sorted(t for t in ever if t not in live_ids)
    healthy = [t.task_id for t in green.healthy_tasks()]
    step.update(green_seen=tuple(dict.fromkeys((*i.green_seen, *sorted(live_ids)))),
                green_ever_healthy=tuple(dict.fromkeys((*i.green_ever_healthy, *healthy))))
    if turned:
        step.start_rollback(f"GREEN task {turned[0]} became unhealthy during the rollback window")
    elif died and fresh and len(live) <= green.instances:
        step.start_rollback(f"GREEN task {died[0]} died during the rollback window and Marathon "
                            f"relaunches it")

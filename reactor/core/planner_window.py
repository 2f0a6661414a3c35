"""The rollback window: after the last traffic shift, BLUE waits at 0 instances before deletion.

Owns the phase between "every BLUE task is gone" and "BLUE's app is deleted": GREEN's pool
follows its healthy tasks (relaunches, scales by others; fail open), GREEN failing (a task that
was healthy turns unhealthy or dies, or too many failures — checked by the planner's failure
triggers) starts the rollback, `rollback` by an operator works, and when the window has passed
BLUE is deleted and the deployment is done. Must not do I/O or read a clock.
"""

from __future__ import annotations

from datetime import timedelta

from reactor.core.deploy_events import DeployEventName as E
from reactor.core.intent import Outcome, Phase
from reactor.core.planner_forward import delete_blue
from reactor.core.planner_step import LB_RETRY_S, Step
from reactor.core.pool import converge


def rollback_window(step: Step) -> None:
    i, green, blue = step.intent, step.green(), step.blue()
    if green is None:
        step.start_rollback(f"GREEN app {i.green_app} disappeared during the rollback window")
        return
    if step.obs.lb_blocked:
        step.block("load balancer unreachable: the pool waits")
        step.requeue_in(LB_RETRY_S)
    else:
        pool = converge(step.obs, frozenset({green.app_id}))
        step.act(*pool.actions)
        if pool.fail_open:
            step.block(f"fail open: no healthy GREEN task; {len(pool.fail_open)} unhealthy kept in the pool")
    if blue is None:
        step.finish(Phase.DONE, Outcome.COMPLETED, E.DEPLOYMENT_COMPLETED)
        return
    started = i.window_started or i.phase_since
    end = started + timedelta(seconds=step.policy.rollback_window_s)
    if step.now < end:
        step.block(f"rollback window: BLUE {blue.app_id} kept at 0 instances until {end.isoformat()}")
        step.requeue_at(end)
        return
    delete_blue(step, blue)


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

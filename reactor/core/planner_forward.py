"""Forward rules of a blue-green deployment: scale GREEN per batch, pass the gate, shift traffic.

Owns, per batch: GREEN's next count (never past target, never while GREEN is unready or locked),
the health and min_healthy_s waits with the health timeout (-> rollback), the promotion gate of
the first shift, adding healthy GREEN to the pool, picking BLUE tasks to drain without taking
the serving pool below target, and deleting BLUE once GREEN serves the full target.
Must not touch a rollback (planner_rollback) or the drain mechanics (planner_drain).
"""

from __future__ import annotations

from datetime import timedelta

from reactor.core import planner_drain as drain
from reactor.core.actions import DeleteApp, LbAdd, ScaleApp, UnwatchDrain
from reactor.core.deploy_events import DeployEventName as E
from reactor.core.intent import GateState, Intent, Outcome, Phase
from reactor.core.observed import AppView, LbState, Policy, TaskPhase, TaskView, oldest_first
from reactor.core.planner_step import GATE_RETRY_S, LB_RETRY_S, RETRY_S, Step
from reactor.core.pool import place


def batch_target(intent: Intent, policy: Policy) -> int:
    """GREEN's count for the current batch: the creation count (or one batch) first, then +batch."""
    target = intent.target_instances
    if intent.blue_app is None:
        return target  # first deploy: simply scale to target
    # not green.low: that one moves up as our scales become visible (foreign-change detection)
    first = intent.green_initial if intent.green_initial > 0 else policy.batch_size
    return min(target, first + (intent.batch - 1) * policy.batch_size)


def scaling_green(step: Step) -> None:
    i, green, now = step.intent, step.green(), step.now
    if green is None:
        return
    n = i.green.instances
    healthy = green.healthy_tasks()
    unready = [t for t in green.live_tasks() if not green.is_healthy(t)]
    all_ok = len(healthy) >= n and not unready and not green.locked
    want = batch_target(i, step.policy)
    if n < want and all_ok:
        step.act(ScaleApp(app_id=green.app_id, instances=want))
        step.update(green=i.green.expect(want), green_scaled_at=now, green_healthy_since=None)
        step.emit(E.GREEN_SCALED, instances=want, batch=i.batch)
        step.block(f"GREEN healthy {len(healthy)}/{want}")
        step.requeue_at(now + timedelta(seconds=step.policy.health_timeout_s))
        return
    if green.instances < n and not green.locked:
        if now - i.green_scaled_at >= timedelta(seconds=RETRY_S):
            step.act(ScaleApp(app_id=green.app_id, instances=n))  # our scale is not visible: again
            step.update(green_scaled_at=now)
        else:  # e.g. decided before a crash and never sent: nothing else will wake us
            step.requeue_at(i.green_scaled_at + timedelta(seconds=RETRY_S))
    if not all_ok:
        deadline = i.green_scaled_at + timedelta(seconds=step.policy.health_timeout_s)
        if now >= deadline:
            step.start_rollback(f"GREEN not healthy within {step.policy.health_timeout_s:g}s "
                                f"({len(healthy)}/{n} healthy)")
            return
        locked = f"; Marathon deployment {', '.join(green.deployment_ids)} running" if green.locked else ""
        step.block(f"GREEN healthy {len(healthy)}/{n}{locked}")
        step.requeue_at(deadline)
        return
    since = i.green_healthy_since
    if since is None:
        since = now
        step.update(green_healthy_since=now)
        step.emit(E.GREEN_HEALTHY, tasks=[t.task_id for t in healthy])
    ready_at = since + timedelta(seconds=step.policy.min_healthy_s)
    if now < ready_at:
        step.block(f"GREEN must stay healthy until {ready_at.isoformat()} (min_healthy_s)")
        step.requeue_at(ready_at)
        return
    step.goto(Phase.SHIFTING if step.intent.promoted else Phase.AWAITING_PROMOTION)


def awaiting_promotion(step: Step) -> None:
    i, green, now = step.intent, step.green(), step.now
    if green is None or len(green.healthy_tasks()) < i.green.instances or green.locked or any(
            not green.is_healthy(t) for t in green.live_tasks()):
        step.goto(Phase.SCALING_GREEN)  # verify again (with its health timeout)
        return
    if i.gate is GateState.ALLOW:
        step.update(promoted=True)
        step.goto(Phase.SHIFTING)
    elif i.gate is GateState.VETO:
        step.start_rollback(f"vetoed by the promotion gate: {i.gate_reason or 'no reason given'}")
    elif i.gate is GateState.HOLD:
        step.block(f"held by the promotion gate: {i.gate_reason or 'no reason given'} "
                   f"(`bluegreen promote {i.group}` continues)")
    elif not step.policy.auto_promote:
        step.block(f"waiting for `bluegreen promote {i.group}` (auto_promote = false)")
    elif i.gate is GateState.NOT_ASKED or (
            i.gate_asked_at is not None and now - i.gate_asked_at >= timedelta(seconds=GATE_RETRY_S)):
        step.request_gate()
        step.update(gate=GateState.ASKED, gate_asked_at=now)
        step.block("waiting for the promotion gate")
        step.requeue_in(GATE_RETRY_S)
    else:
        step.block("waiting for the promotion gate")
        if i.gate_asked_at is not None:
            step.requeue_at(i.gate_asked_at + timedelta(seconds=GATE_RETRY_S))


LB_READY_RECHECK_S = 0.2  # a GREEN server was added: how soon to look for it serving


def shifting(step: Step) -> None:
    if step.obs.lb_blocked:
        step.block("load balancer unreachable: no traffic decision this round")
        step.requeue_in(LB_RETRY_S)
        return
    green, blue = step.green(), step.blue()
    if green is None:
        return
    _pool_green(step, green)
    if blue is not None:
        _repool_blue(step, blue)
    survey = drain.survey(step, blue)
    forced = drain.timeout_policy(step, survey.timed_out)
    if step.intent.phase is not Phase.SHIFTING:
        return
    if blue is not None:
        drain.kill_drained(step, blue, _keep_standby(step, blue, survey.done), forced)
    picked = _pick_blue(step, green, blue)
    if step.intent.phase is not Phase.SHIFTING:
        return  # paused: the drain source cannot read a picked task
    _end_of_batch(step, green, blue, picked)


def _pool_green(step: Step, green: AppView) -> None:
    obs, i = step.obs, step.intent
    new: list[str] = []
    for t in green.healthy_tasks():
        srv = obs.server(t.task_id)
        if obs.lb is not None and (srv is None or srv.state in (LbState.DRAIN, LbState.MAINT)):
            step.act(LbAdd(task_id=t.task_id, host=t.host, port=t.lb_port))
        elif srv is not None and srv.state is LbState.DOWN:
            step.block(f"LB reports GREEN task {t.task_id} down")
        if t.task_id not in i.pooled:
            new.append(t.task_id)
        if obs.lb is not None and not obs.in_pool(t.task_id):
            # LB state changes raise no event: look again soon until the LB shows it serving
            step.requeue_in(LB_READY_RECHECK_S)
    if new:
        step.update(pooled=(*i.pooled, *new))
        step.emit(E.TRAFFIC_SHIFTED, tasks=new, green_added=len(new))


def _repool_blue(step: Step, blue: AppView) -> None:
    """BLUE serves until we drain it: a healthy BLUE task we did not pick that the LB does not
    know (e.g. HAProxy restarted and lost its runtime servers) goes back into the pool rather
    than being counted as not serving and drained."""
    obs, i = step.obs, step.intent
    if obs.lb is None:
        return
    for t in blue.healthy_tasks():
        if t.task_id not in (*i.draining, *i.killed, *i.standby) and obs.server(t.task_id) is None:
            step.act(LbAdd(task_id=t.task_id, host=t.host, port=t.lb_port))
            step.requeue_in(LB_READY_RECHECK_S)


def _pick_blue(step: Step, green: AppView, blue: AppView | None) -> int:
    """Drain up to one batch of BLUE: not-serving tasks first, then the oldest serving ones,
    never more than keeps the serving pool at target."""
    i = step.intent
    quota = step.policy.batch_size - len(i.batch_tasks)
    if blue is None or quota <= 0:
        return 0
    taken = set(i.draining) | set(i.killed) | set(i.standby)
    candidates = [t for t in oldest_first(blue.tasks)
                  if t.state is TaskPhase.RUNNING and t.task_id not in taken]
    serving = {t.task_id for t in step.serving(blue)}
    spare = len(step.serving(green)) + len(serving) - i.target_instances
    repooling = {t.task_id for t in blue.healthy_tasks()
                 if step.obs.lb is not None and step.obs.server(t.task_id) is None}
    picks = [t for t in candidates if t.task_id not in serving and t.task_id not in repooling]
    for t in candidates:
        if t.task_id in serving and spare > 0:
            picks.append(t)
            spare -= 1
    picks = picks[:quota]
    if picks:
        if not drain.start_drain(step, picks):
            return 0
        ids = [t.task_id for t in picks]
        step.update(batch_tasks=(*step.intent.batch_tasks, *ids))
        step.emit(E.BLUE_DRAINING, tasks=ids, draining=len(ids))
    return len(picks)


def _end_of_batch(step: Step, green: AppView, blue: AppView | None, picked: int) -> None:
    i = step.intent
    if i.draining:
        return  # the batch is still in flight; survey() said why
    target = i.target_instances
    remaining = [t for t in blue.live_tasks() if t.task_id not in (*i.killed, *i.standby)] if blue else []
    serving = len(step.serving(green))
    if not remaining and blue is not None and (
            blue.instances > len(i.standby) or [t for t in blue.live_tasks() if t.task_id not in i.standby]):
        # a kill shows in the count at once (ours) but locks BLUE until Marathon is done: a
        # delete now would be answered 409; the kill's own events wake us
        step.block(f"waiting for Marathon to finish the kills on BLUE {blue.app_id}")
        return
    if not remaining:
        if serving >= target:
            _complete(step, blue)
        elif i.green.instances < target:
            _next_batch(step, green, blue)
        else:
            step.block(f"GREEN serving {serving}/{target}")
        return
    if serving < min(i.green.instances, green_ready := len(green.healthy_tasks())):
        step.block(f"GREEN in the pool {serving}/{green_ready}")  # the LB has not caught up yet
        return
    batch_used = len(i.batch_tasks) >= step.policy.batch_size
    if not batch_used and picked == 0 and i.green.instances < target:
        _next_batch(step, green, blue)  # nothing more can leave before GREEN grows
    elif batch_used:
        _next_batch(step, green, blue)
    elif picked == 0:
        step.block(f"GREEN serving {serving}/{target}; {len(remaining)} BLUE task(s) left")


def _next_batch(step: Step, green: AppView, blue: AppView | None) -> None:
    i = step.intent
    step.update(batch=i.batch + 1, batch_tasks=())
    if i.green.instances < i.target_instances:
        step.update(green_healthy_since=None)
        step.goto(Phase.SCALING_GREEN)
    else:  # GREEN is complete: drain the next BLUE batch right away
        picked = _pick_blue(step, green, blue)
        if picked == 0 and not step.intent.draining and step.intent.phase is Phase.SHIFTING:
            step.block(f"GREEN serving {len(step.serving(green))}/{i.target_instances}; "
                       "no BLUE task can leave the pool yet")


def _complete(step: Step, blue: AppView | None) -> None:
    i, now = step.intent, step.now
    if i.blue_app is None or blue is None:
        step.finish(Phase.DONE, Outcome.COMPLETED, E.DEPLOYMENT_COMPLETED)
        return
    window = step.policy.rollback_window_s
    if window > 0 and i.window_started is None:
        step.update(window_started=now)
        step.goto(Phase.ROLLBACK_WINDOW)
        step.block(f"rollback window: BLUE {blue.app_id} kept at {standby_text(step)} for {window:g} s")
        step.requeue_at(now + timedelta(seconds=window))
        return
    delete_blue(step, blue)


def _keep_standby(step: Step, blue: AppView, done: list[TaskView]) -> list[TaskView]:
    """The last BLUE tasks to be drained (up to the window's standby count) are not killed: out of
    the normal pool and the drain watcher, they wait as the window's warm standby, put back into
    the LB as backup servers right away (drained: idle). Returns the drained tasks to kill."""
    i = step.intent
    alive = [t for t in i.standby if (x := blue.task(t)) is not None and x.alive]
    slots = step.standby_target() - len(alive)
    if slots <= 0 or not done:
        return done
    left = [t for t in blue.live_tasks() if t.task_id not in (*i.killed, *i.standby)]
    kill = max(0, len(left) - slots)  # these still go: only the last `slots` stay
    keep = done[kill:]
    if not keep:
        return done
    ids = [t.task_id for t in keep]
    backup = step.obs.lb is not None and step.obs.lb_available and step.policy.lb_backup
    for t in keep:
        if not backup:
            drain.forget(step, t.task_id)
            continue
        if t.task_id in step.obs.drains:
            step.act(UnwatchDrain(task_id=t.task_id))
        step.act(*place(step.obs.server(t.task_id), t, backup=True))  # at once: no gap before the window
    step.update(standby=(*i.standby, *ids),
                draining={k: v for k, v in i.draining.items() if k not in ids})
    step.emit(E.BLUE_DRAINED, tasks=ids, standby=len(ids))
    return done[:kill]


def standby_text(step: Step) -> str:
    """What BLUE is kept at during the window, for status/`watch`."""
    n = len(step.intent.standby)
    if n == 0:
        return "0 instances"
    tasks = "task" if n == 1 else "tasks"
    if step.obs.lb is not None and step.policy.lb_backup:
        return f"{n} warm standby {tasks} ({'a backup server' if n == 1 else 'backup servers'})"
    return f"{n} warm standby {tasks} (not in the pool: the LB driver has no backup servers)"


def delete_blue(step: Step, blue: AppView) -> None:
    """The end of a deployment: BLUE's app is deleted (then the deployment is done)."""
    i, now = step.intent, step.now
    if blue.locked:
        step.block(f"waiting for Marathon deployment {', '.join(blue.deployment_ids)} on BLUE {blue.app_id}")
        return
    asked = i.delete_requested.get(blue.app_id)
    if asked is None or now - asked >= timedelta(seconds=RETRY_S):
        step.act(DeleteApp(app_id=blue.app_id))
        step.update(delete_requested={**i.delete_requested, blue.app_id: now})
    step.block(f"waiting for Marathon to delete BLUE {blue.app_id}")
    step.requeue_in(RETRY_S)

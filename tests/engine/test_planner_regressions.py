"""Planner regressions found by the engine's scenario tests, pinned on hand-built snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reactor.core.actions import DeleteApp
from reactor.core.intent import Phase, new_intent
from reactor.core.observed import AppView, Observed, Policy, TaskPhase, TaskView
from reactor.core.planner import plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BLUE, GREEN = "/web-blue", "/web-green"


def _task(app: str, n: int, state: TaskPhase = TaskPhase.RUNNING) -> TaskView:
    return TaskView(task_id=f"{app.strip('/')}.t{n}", app_id=app, host="127.0.0.1", port=31000 + n,
                    state=state, healthy=True, started_at=T0 - timedelta(minutes=10 - n))


def test_blue_is_not_deleted_while_a_task_we_killed_still_shows_running() -> None:
    """Our kill-and-scale was accepted (the count already reads 0) but Marathon's kill deployment is
    not visible yet: deleting BLUE now is answered 409 (locked) and then waits RETRY_S. Wait for
    the kill to show instead; its status update and deployment events wake the group."""
    killed = _task(BLUE, 1)
    base = new_intent(group="web", deployment_id="d1", blue_app=BLUE, green_app=GREEN, target_instances=1,
                      now=T0, blue_instances=1, green_instances=0)
    intent = base.model_copy(update={
        "phase": Phase.SHIFTING, "promoted": True, "seq": 5, "green_observed": True,
        "green": base.green.expect(1).model_copy(update={"config_version": "c1"}),
        "blue": base.blue.expect(0).model_copy(update={"config_version": "c1"}) if base.blue else None,
        "killed": {killed.task_id: T0}, "batch_tasks": (killed.task_id,), "pooled": ("web-green.t1",)})
    observed = Observed(group="web", now=T0 + timedelta(seconds=0.05), apps=(
        AppView(app_id=BLUE, instances=0, config_version="c1", tasks=(killed,)),
        AppView(app_id=GREEN, instances=1, config_version="c1", tasks=(_task(GREEN, 1),))))
    decision = plan(observed, intent, Policy(batch_size=1))
    assert not [a for a in decision.actions if isinstance(a, DeleteApp)], decision.actions
    assert decision.requeue_after_s is not None
    # once the kill shows, BLUE goes
    gone = killed.model_copy(update={"state": TaskPhase.TERMINAL})
    later = observed.model_copy(update={"now": T0 + timedelta(seconds=0.2), "apps": (
        observed.apps[0].model_copy(update={"tasks": (gone,)}), observed.apps[1])})
    decision = plan(later, decision.intent, Policy(batch_size=1))
    assert [a for a in decision.actions if isinstance(a, DeleteApp)], decision.actions

"""Table-driven tests of single planner rules on hand-built snapshots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from reactor.core.actions import (
    ACTION_ADAPTER,
    Decision,
    KillAndScale,
    LbDrain,
    ScaleApp,
    WatchDrain,
)
from reactor.core.intent import Command, GateState, Intent, Phase, command_refusal, new_intent
from reactor.core.observed import (
    AppView,
    DrainView,
    LbServerView,
    LbState,
    Observed,
    Policy,
    TaskPhase,
    TaskView,
)
from reactor.core.planner import plan

from .sim import T0

BLUE, GREEN = "/web-blue", "/web-green"


def _task(app: str, n: int, *, healthy: bool | None = True, state: TaskPhase = TaskPhase.RUNNING) -> TaskView:
    return TaskView(task_id=f"{app.strip('/')}.t{n}", app_id=app, host="10.0.0.1", port=31000 + n,
                    state=state, healthy=healthy, started_at=T0 - timedelta(minutes=100 - n))


def _app(app: str, tasks: list[TaskView], instances: int | None = None, **kw: Any) -> AppView:
    return AppView(app_id=app, instances=len(tasks) if instances is None else instances,
                   config_version="c1", tasks=tuple(tasks), **kw)


def _obs(*apps: AppView, ready: list[str] | None = None, lb: dict[str, LbServerView] | None = None,
         drains: dict[str, DrainView] | None = None, now_s: float = 0, **kw: Any) -> Observed:
    servers = dict(lb or {})
    for task_id in ready if ready is not None else [t.task_id for a in apps for t in a.tasks]:
        servers.setdefault(task_id, LbServerView(task_id=task_id, state=LbState.READY))
    return Observed(group="web", apps=apps, lb=servers, drains=drains or {},
                    now=T0 + timedelta(seconds=now_s), **kw)


def _intent(blue: int, green: int, target: int, **over: Any) -> Intent:
    base = new_intent(group="web", deployment_id="d1", blue_app=BLUE, green_app=GREEN,
                      target_instances=target, now=T0, blue_instances=blue, green_instances=green)
    exp = base.green.expect(green).model_copy(update={"low": 0, "config_version": "c1"})
    return base.model_copy(update={"green": exp, "green_observed": True, "seq": 1, **over})


def _of(decision: Decision, kind: type) -> list[Any]:
    return [a for a in decision.actions if isinstance(a, kind)]


@pytest.mark.parametrize(("blue", "green", "target", "batch", "drained"), [
    (4, 2, 4, 3, 2),  # serving 6, target 4: only 2 may leave although the batch is 3
    (4, 4, 4, 2, 2),  # batch limits
    (2, 2, 4, 2, 0),  # target above BLUE: nothing may leave yet
    (6, 2, 2, 2, 2),  # target below BLUE
])
def test_blue_drain_never_takes_serving_below_target(blue: int, green: int, target: int, batch: int,
                                                     drained: int) -> None:
    b = [_task(BLUE, n) for n in range(blue)]
    g = [_task(GREEN, 10 + n) for n in range(green)]
    intent = _intent(blue, green, target, phase=Phase.SHIFTING, promoted=True,
                     pooled=tuple(t.task_id for t in g))
    d = plan(_obs(_app(BLUE, b), _app(GREEN, g)), intent, Policy(batch_size=batch))
    picked = [a.task_id for a in _of(d, WatchDrain)]
    assert len(picked) == drained
    assert picked == [t.task_id for t in b[:drained]]  # oldest first
    assert len(_of(d, LbDrain)) == drained


def test_blue_tasks_out_of_the_pool_are_taken_first_and_cost_no_capacity() -> None:
    b = [_task(BLUE, 0), _task(BLUE, 1), _task(BLUE, 2, healthy=False)]
    g = [_task(GREEN, 10)]
    intent = _intent(3, 1, 3, phase=Phase.SHIFTING, promoted=True, pooled=(g[0].task_id,))
    d = plan(_obs(_app(BLUE, b), _app(GREEN, g), ready=[b[0].task_id, b[1].task_id, g[0].task_id]),
             intent, Policy(batch_size=2))
    assert [a.task_id for a in _of(d, WatchDrain)] == [b[2].task_id]


@pytest.mark.parametrize(("drain", "sessions", "require_idle", "with_lb", "killed"), [
    (DrainView(task_id="x", pending=3), 0, True, True, False),
    (DrainView(task_id="x", pending=None), 0, False, True, False),
    (None, 0, False, True, False),
    (DrainView(task_id="x", pending=0, drained=True), 2, True, True, False),
    (DrainView(task_id="x", pending=0, drained=True), 2, False, True, True),
    (DrainView(task_id="x", pending=0, drained=True), 0, True, True, True),
    (DrainView(task_id="x", pending=0, drained=True), 0, True, False, True),
    (DrainView(task_id="x", gone=True), 0, True, True, True),
])
def test_kill_only_when_drained(drain: DrainView | None, sessions: int, require_idle: bool,
                                with_lb: bool, killed: bool) -> None:
    b = [_task(BLUE, 0), _task(BLUE, 1)]
    g = [_task(GREEN, 10), _task(GREEN, 11)]
    victim = b[0].task_id
    intent = _intent(2, 2, 2, phase=Phase.SHIFTING, promoted=True, batch_tasks=(victim,),
                     pooled=tuple(t.task_id for t in g), draining={victim: T0})
    drains = {victim: drain.model_copy(update={"task_id": victim})} if drain else {}
    obs = _obs(_app(BLUE, b), _app(GREEN, g), drains=drains, now_s=5,
               lb={victim: LbServerView(task_id=victim, state=LbState.DRAIN, sessions=sessions)})
    if not with_lb:
        obs = obs.model_copy(update={"lb": None})
    d = plan(obs, intent, Policy(batch_size=1, require_lb_idle=require_idle))
    assert bool(_of(d, KillAndScale)) is killed
    if not killed:
        assert d.requeue_after_s is not None and d.requeue_after_s <= 295
        assert any(victim in b for b in d.blockers)


def test_no_write_to_a_locked_app() -> None:
    g = [_task(GREEN, 10)]
    intent = _intent(2, 0, 2)
    d = plan(_obs(_app(BLUE, [_task(BLUE, 0), _task(BLUE, 1)]),
                  _app(GREEN, g, instances=0, deployment_ids=("someone",))), intent, Policy(batch_size=1))
    assert _of(d, ScaleApp) == [] and any("someone" in b for b in d.blockers)


def test_unknown_health_is_not_healthy_and_scaling_waits() -> None:
    g = [_task(GREEN, 10, healthy=None)]
    intent = _intent(2, 1, 2, phase=Phase.SCALING_GREEN)
    d = plan(_obs(_app(BLUE, [_task(BLUE, 0), _task(BLUE, 1)]), _app(GREEN, g), now_s=10),
             intent, Policy(batch_size=1, health_timeout_s=60))
    assert d.actions == () and d.blockers == ("GREEN healthy 0/1",) and d.requeue_after_s == 50


def test_health_timeout_rolls_back_at_the_deadline() -> None:
    g = [_task(GREEN, 10, healthy=False)]
    intent = _intent(2, 1, 2, phase=Phase.SCALING_GREEN)
    d = plan(_obs(_app(BLUE, [_task(BLUE, 0), _task(BLUE, 1)]), _app(GREEN, g), now_s=60),
             intent, Policy(batch_size=1, health_timeout_s=60))
    assert d.intent.phase is Phase.ROLLING_BACK
    assert "not healthy within 60s (0/1" in (d.intent.rollback_reason or "")


def test_min_healthy_s_holds_the_shift() -> None:
    g = [_task(GREEN, 10)]
    intent = _intent(2, 1, 2, phase=Phase.SCALING_GREEN, green_healthy_since=T0)
    d = plan(_obs(_app(BLUE, [_task(BLUE, 0), _task(BLUE, 1)]), _app(GREEN, g), now_s=4),
             intent, Policy(batch_size=1, min_healthy_s=10))
    assert d.intent.phase is Phase.SCALING_GREEN and d.requeue_after_s == 6


@pytest.mark.parametrize(("healthy", "rolls_back"), [(None, False), (False, True), (True, False)])
def test_green_turning_bad_after_healthy(healthy: bool | None, rolls_back: bool) -> None:
    g = [_task(GREEN, 10, healthy=healthy)]
    intent = _intent(2, 1, 2, phase=Phase.SCALING_GREEN, green_ever_healthy=(g[0].task_id,),
                     green_seen=(g[0].task_id,))
    d = plan(_obs(_app(BLUE, [_task(BLUE, 0), _task(BLUE, 1)]), _app(GREEN, g)), intent, Policy())
    assert (d.intent.phase is Phase.ROLLING_BACK) is rolls_back


def test_killed_task_still_alive_is_killed_again_only_after_the_retry_delay() -> None:
    b = [_task(BLUE, 0), _task(BLUE, 1)]
    intent = _intent(2, 2, 2, phase=Phase.SHIFTING, promoted=True, killed={b[0].task_id: T0})
    g = [_task(GREEN, 10), _task(GREEN, 11)]
    soon = plan(_obs(_app(BLUE, b), _app(GREEN, g), now_s=3), intent, Policy())
    later = plan(_obs(_app(BLUE, b), _app(GREEN, g), now_s=11), intent, Policy())
    assert _of(soon, KillAndScale) == []
    assert [a.task_ids for a in _of(later, KillAndScale)] == [(b[0].task_id,)]


@pytest.mark.parametrize(("phase", "command", "refused"), [
    (Phase.SHIFTING, Command.RESUME, "is not paused"),
    (Phase.PAUSED, Command.ABORT, "already paused"),
    (Phase.PAUSED, Command.PROMOTE, "resume it first"),  # else `promote` waits on a pause
    (Phase.AWAITING_PROMOTION, Command.PROMOTE, None),
    (Phase.ROLLING_BACK, Command.ROLLBACK, "already rolling back"),
    (Phase.DONE, Command.ROLLBACK, "already ended"),
    (Phase.SHIFTING, Command.ABORT, None),
    (Phase.PAUSED, Command.RESUME, None),
])
def test_command_refusal(phase: Phase, command: Command, refused: str | None) -> None:
    intent = _intent(2, 2, 2, phase=phase, paused_reason="x" if phase is Phase.PAUSED else None)
    answer = command_refusal(intent, command)
    assert (answer is None) if refused is None else (refused in (answer or ""))


def test_refused_command_is_reported_and_dropped() -> None:
    intent = _intent(2, 1, 2).with_command(Command.RESUME, T0)
    d = plan(_obs(_app(BLUE, [_task(BLUE, 0), _task(BLUE, 1)]), _app(GREEN, [_task(GREEN, 10)])),
             intent, Policy())
    assert d.intent.command is None and any(b.startswith("ignored `resume`") for b in d.blockers)


def test_gate_request_is_asked_once_and_again_after_the_retry() -> None:
    g = [_task(GREEN, 10)]
    apps = (_app(BLUE, [_task(BLUE, 0), _task(BLUE, 1)]), _app(GREEN, g))
    intent = _intent(2, 1, 2, phase=Phase.AWAITING_PROMOTION)
    first = plan(_obs(*apps), intent, Policy())
    assert first.intent.gate is GateState.ASKED and [a.kind for a in first.actions] == ["request_gate"]
    assert plan(_obs(*apps, now_s=5), first.intent, Policy()).actions == ()
    again = plan(_obs(*apps, now_s=61), first.intent, Policy())
    assert [a.event.id for a in again.actions] == [first.actions[0].event.id]  # type: ignore[union-attr]


def test_bad_input_is_refused_with_one_message() -> None:
    with pytest.raises(ValueError, match="different apps"):
        new_intent(group="web", deployment_id="d", blue_app=GREEN, green_app=GREEN,
                   target_instances=1, now=T0)
    with pytest.raises(ValueError, match=">= 0"):
        new_intent(group="web", deployment_id="d", green_app=GREEN, target_instances=-1, now=T0)
    with pytest.raises(ValueError, match="group 'api'"):
        plan(Observed(group="api", now=T0), _intent(1, 1, 1), Policy())


def test_finished_intent_is_left_alone() -> None:
    intent = _intent(2, 2, 2, phase=Phase.DONE)
    d = plan(_obs(), intent, Policy())
    assert d.actions == () and d.intent == intent and d.requeue_after_s is None


def test_decision_round_trips_through_json() -> None:
    b = [_task(BLUE, n) for n in range(4)]
    g = [_task(GREEN, 10 + n) for n in range(2)]
    intent = _intent(4, 2, 4, phase=Phase.SHIFTING, promoted=True)
    d = plan(_obs(_app(BLUE, b), _app(GREEN, g)), intent, Policy(batch_size=2))
    assert Decision.model_validate_json(d.model_dump_json()) == d
    assert all(ACTION_ADAPTER.validate_python(a.model_dump()) == a for a in d.actions)
    assert Intent.model_validate_json(d.intent.model_dump_json()) == d.intent

"""Pool ownership at rest (reactor.core.pool.converge), table-driven: healthy in, unknown left
alone, unhealthy drained, gone removed, never empty because of health alone."""

from __future__ import annotations

import pytest

from reactor.core.actions import LbAdd, LbDrain, LbRemove
from reactor.core.observed import LbServerView, LbState, TaskPhase
from reactor.core.pool import batches, converge

from .test_rules import GREEN, _app, _obs, _task

SERVING = frozenset({GREEN})


def _kinds(plan: object) -> list[tuple[str, str]]:
    return sorted((type(a).__name__, a.task_id) for a in plan.actions)  # type: ignore[attr-defined]


def test_healthy_tasks_missing_from_the_pool_are_added() -> None:
    tasks = [_task(GREEN, 1), _task(GREEN, 2)]
    plan = converge(_obs(_app(GREEN, tasks), ready=[]), SERVING)
    assert _kinds(plan) == [("LbAdd", tasks[0].task_id), ("LbAdd", tasks[1].task_id)]
    assert plan.fail_open == () and plan.healthy == 2


def test_a_killed_task_leaves_and_its_replacement_joins() -> None:
    old, new = _task(GREEN, 1, state=TaskPhase.TERMINAL, healthy=None), _task(GREEN, 3)
    keep = _task(GREEN, 2)
    obs = _obs(_app(GREEN, [old, keep, new], instances=2), ready=[old.task_id, keep.task_id])
    assert _kinds(converge(obs, SERVING)) == [("LbAdd", new.task_id), ("LbRemove", old.task_id)]


def test_a_server_of_no_known_task_is_removed() -> None:
    t = _task(GREEN, 1)
    obs = _obs(_app(GREEN, [t]), ready=[t.task_id, "gone.t9"])
    assert _kinds(converge(obs, SERVING)) == [("LbRemove", "gone.t9")]


@pytest.mark.parametrize(("healthy", "state", "expected"), [
    (None, TaskPhase.RUNNING, []),  # unknown (e.g. after a Marathon failover): left alone
    (False, TaskPhase.RUNNING, ["LbDrain"]),  # first failed check: out, in-flight work finishes
    (True, TaskPhase.KILLING, ["LbDrain"]),
])
def test_one_bad_task_among_healthy_ones(healthy: bool | None, state: TaskPhase, expected: list[str]) -> None:
    bad, good = _task(GREEN, 1, healthy=healthy, state=state), _task(GREEN, 2)
    plan = converge(_obs(_app(GREEN, [bad, good])), SERVING)
    assert [type(a).__name__ for a in plan.actions] == expected
    assert plan.fail_open == ()


def test_fail_open_keeps_the_last_unhealthy_servers() -> None:
    tasks = [_task(GREEN, 1, healthy=False), _task(GREEN, 2, healthy=False)]
    plan = converge(_obs(_app(GREEN, tasks)), SERVING)
    assert plan.actions == () and plan.fail_open == tuple(t.task_id for t in tasks)


def test_unknown_health_is_not_added() -> None:
    t = _task(GREEN, 1, healthy=None)
    assert converge(_obs(_app(GREEN, [t]), ready=[]), SERVING).actions == ()


def test_drained_server_of_a_healthy_task_is_made_ready_again() -> None:
    t = _task(GREEN, 1)
    obs = _obs(_app(GREEN, [t]), lb={t.task_id: LbServerView(task_id=t.task_id, state=LbState.DRAIN)})
    assert [type(a) for a in converge(obs, SERVING).actions] == [LbAdd]


def test_no_lb_no_changes() -> None:
    t = _task(GREEN, 1)
    obs = _obs(_app(GREEN, [t]), ready=[]).model_copy(update={"lb": None})
    assert converge(obs, SERVING).actions == ()


def test_batches_put_unhealthy_tasks_out_first_and_dead_servers_last() -> None:
    """A dead server's removal can wait on attached sessions or fail: it comes last, alone, and
    a backup flag flip (remove then add of one task) keeps its order."""
    plan = [LbRemove(task_id="dead"), LbAdd(task_id="new", host="h", port=1),
            LbRemove(task_id="flip"), LbAdd(task_id="flip", host="h", port=2, backup=True),
            LbDrain(task_id="sick")]
    assert batches(plan) == [(LbDrain(task_id="sick"),), (LbAdd(task_id="new", host="h", port=1),),
                             (LbRemove(task_id="flip"), LbAdd(task_id="flip", host="h", port=2, backup=True)),
                             (LbRemove(task_id="dead"),)]

"""The rollback window's warm BLUE standby against the simulator: the last drained BLUE task is
kept running as a backup server (it serves only while no GREEN server is up), the window's end
drains it before BLUE is deleted, a rollback makes it a normal server again; and the pure pool
rule that flips a server's backup flag only when it carries no session."""

from __future__ import annotations

from reactor.core.actions import Decision, DeleteApp, KillAndScale, LbAdd, LbDrain, LbRemove
from reactor.core.intent import Intent, Outcome, Phase
from reactor.core.observed import LbServerView, LbState, Observed, Policy
from reactor.core.planner import plan
from reactor.core.pool import converge

from .driver import BLUE, GREEN, Run, blue_green
from .sim import Sim
from .test_rules import _app, _obs, _task

POLICY = Policy(batch_size=2, rollback_window_s=30, rollback_window_standby=1)


def _in_window(policy: Policy = POLICY, blue: int = 4) -> tuple[Run, Sim]:
    sim, intent = blue_green(blue=blue)
    run = Run(sim, intent, policy)
    run.until(lambda r: r.intent.phase is Phase.ROLLBACK_WINDOW)
    run.until(lambda r: any(s.backup for s in (r.sim.lb or {}).values()))  # the window adds it
    return run, sim


def _standby(run: Run) -> str:
    assert len(run.intent.standby) == 1, run.intent.standby
    return run.intent.standby[0]


def test_the_last_drained_blue_task_is_kept_as_a_backup_server() -> None:
    run, sim = _in_window()
    standby = _standby(run)
    assert sim.apps[BLUE].instances == 1
    assert [t.task_id for t in sim.apps[BLUE].tasks] == [standby]
    assert sim.lb is not None and sim.lb[standby].backup and sim.lb[standby].state is LbState.READY
    assert sim.serving_of(GREEN) == 4 and sim.serving_of(BLUE) == 0  # GREEN up: no traffic to it
    killed = {t for d in run.decisions for a in d.actions if isinstance(a, KillAndScale) for t in a.task_ids}
    assert standby not in killed and len(killed) == 3
    assert "1 warm standby task (a backup server)" in " ".join(run.decisions[-1].blockers)
    assert sim.violations == []
    again = plan(sim.observe(), run.intent, POLICY)  # a restart re-plans from the stored intent
    assert not [a for a in again.actions if isinstance(a, LbAdd | LbRemove | LbDrain)]


def test_the_standby_is_flipped_to_backup_once_when_the_window_opens_in_the_same_round() -> None:
    run, _sim = _in_window(Policy(batch_size=1, rollback_window_s=30, rollback_window_standby=1))
    standby = _standby(run)
    flips = [a for d in run.decisions for a in d.actions
             if isinstance(a, LbAdd | LbRemove) and a.task_id == standby]
    assert [(type(a).__name__, getattr(a, "backup", None)) for a in flips] == [
        ("LbRemove", None), ("LbAdd", True)]


def test_the_backup_serves_when_every_green_server_is_down() -> None:
    _run, sim = _in_window()
    assert sim.lb is not None
    for t in sim.apps[GREEN].tasks:
        sim.lb[t.task_id].state = LbState.DOWN  # HAProxy's own check took GREEN out
    assert sim.serving_of(BLUE) == 1  # no gap: the standby takes the traffic at once


def test_window_end_drains_the_standby_before_blue_is_deleted() -> None:
    run, sim = _in_window()
    standby = _standby(run)
    task = sim.task(standby)
    assert task is not None
    task.pending = 5  # it served during a GREEN flap and still has work
    run.to_end()
    assert run.intent.phase is Phase.DONE and run.intent.outcome is Outcome.COMPLETED
    actions = [a for d in run.decisions for a in d.actions]
    drained = next(i for i, a in enumerate(actions) if isinstance(a, LbDrain) and a.task_id == standby)
    deleted = next(i for i, a in enumerate(actions) if isinstance(a, DeleteApp) and a.app_id == BLUE)
    assert drained < deleted
    assert BLUE not in sim.apps and sim.violations == []  # deleted with 0 pending: nothing abandoned
    assert sim.lb is not None and set(sim.lb) == {t.task_id for t in sim.apps[GREEN].tasks}
    assert not any(s.backup for s in sim.lb.values())


def test_rollback_from_the_window_promotes_the_standby() -> None:
    run, sim = _in_window()
    standby = _standby(run)
    for t in sim.apps[GREEN].tasks:
        t.healthy = False
    run.to_end()
    assert run.intent.phase is Phase.ROLLED_BACK
    assert sim.apps[BLUE].instances == 4 and sim.serving_of(BLUE) == 4
    assert sim.task(standby) is not None and sim.lb is not None and not sim.lb[standby].backup
    assert GREEN not in sim.apps and sim.violations == []


def test_standby_zero_keeps_blue_at_zero_and_no_window_keeps_none() -> None:
    for policy in (Policy(batch_size=2, rollback_window_s=30, rollback_window_standby=0),
                   Policy(batch_size=2, rollback_window_s=0, rollback_window_standby=1)):
        sim, intent = blue_green(blue=4)
        run = Run(sim, intent, policy)
        run.to_end()
        assert run.intent.outcome is Outcome.COMPLETED and run.intent.standby == ()
        assert BLUE not in sim.apps and sim.violations == []


def test_standby_is_capped_at_the_target() -> None:
    run, sim = _in_window(Policy(batch_size=1, rollback_window_s=30, rollback_window_standby=5), blue=2)
    assert len(run.intent.standby) == 2 and sim.apps[BLUE].instances == 2


def test_without_backup_servers_the_standby_runs_out_of_the_pool() -> None:
    policy = Policy(batch_size=2, rollback_window_s=30, rollback_window_standby=1, lb_backup=False)
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, policy)
    run.until(lambda r: r.intent.phase is Phase.ROLLBACK_WINDOW)
    run.step()
    standby = _standby(run)
    assert sim.task(standby) is not None and sim.lb is not None and standby not in sim.lb
    assert "not in the pool" in " ".join(run.decisions[-1].blockers)
    run.to_end()
    assert run.intent.outcome is Outcome.COMPLETED and BLUE not in sim.apps


def test_a_wrong_backup_flag_is_fixed_only_with_no_session() -> None:
    serving, standby = _task(GREEN, 1), _task(BLUE, 2)
    apps = (_app(GREEN, [serving]), _app(BLUE, [standby]))

    def obs(sessions: int, backup: bool) -> Observed:
        return _obs(*apps, ready=[], lb={serving.task_id: LbServerView(
            task_id=serving.task_id, state=LbState.READY, sessions=sessions, backup=backup)})

    busy = converge(obs(2, True), frozenset({GREEN}))
    assert busy.actions == () and busy.flag_waits == (serving.task_id,)  # it keeps serving
    idle = converge(obs(0, True), frozenset({GREEN})).actions
    assert [(type(a).__name__, getattr(a, "backup", None)) for a in idle] == [
        ("LbRemove", None), ("LbAdd", False)]
    right = converge(obs(0, False), frozenset({GREEN}), frozenset({BLUE})).actions
    assert [(type(a).__name__, a.task_id, getattr(a, "backup", None)) for a in right] == [
        ("LbAdd", standby.task_id, True)]


def test_green_failing_after_the_standby_is_kept_but_before_the_window_rolls_back() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, POLICY)
    run.until(lambda r: bool(r.intent.standby))
    assert run.intent.phase is Phase.SHIFTING
    for t in sim.apps[GREEN].tasks:
        t.healthy = False
    run.to_end()
    assert run.intent.phase is Phase.ROLLED_BACK and sim.apps[BLUE].instances == 4
    assert GREEN not in sim.apps and sim.violations == []
    _at_rest(sim, run.intent, BLUE)  # a standby still busy as a backup when the rollback ended: fixed at rest
    assert sim.serving_of(BLUE) == 4
    assert sim.lb is not None and not any(s.backup for s in sim.lb.values())


def _at_rest(sim: Sim, intent: Intent, serving: str) -> None:
    """The daemon's pool keeper between deployments: converge rounds until nothing changes."""
    for _ in range(20):
        pool = converge(sim.observe(), frozenset({serving}))
        if not pool.actions and not pool.flag_waits:
            return
        sim.apply(Decision(intent=intent, actions=pool.actions))
        sim.tick()
    raise AssertionError("the pool did not settle at rest")

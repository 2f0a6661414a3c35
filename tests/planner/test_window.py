"""The rollback window against the simulator: BLUE kept at 0 after the last shift, deleted when
the window has passed, GREEN failing inside it rolls back, scales by others do not."""

from __future__ import annotations

from reactor.core.actions import DeleteApp
from reactor.core.intent import Command, Outcome, Phase
from reactor.core.observed import Policy
from reactor.core.planner import plan

from .driver import BLUE, GREEN, Run, blue_green
from .sim import Sim

POLICY = Policy(batch_size=2, rollback_window_s=30)


def _in_window() -> tuple[Run, Sim]:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, POLICY)
    run.until(lambda r: r.intent.phase is Phase.ROLLBACK_WINDOW)
    return run, sim


def test_blue_is_kept_at_zero_then_deleted_after_the_window() -> None:
    run, sim = _in_window()
    assert sim.apps[BLUE].instances == 0 and sim.serving_of(GREEN) == 4
    assert not [a for d in run.decisions for a in d.actions if isinstance(a, DeleteApp)]
    run.to_end()
    assert run.intent.phase is Phase.DONE and run.intent.outcome is Outcome.COMPLETED
    assert BLUE not in sim.apps
    assert run.intent.finished_at is not None and run.intent.window_started is not None
    assert (run.intent.finished_at - run.intent.window_started).total_seconds() >= 30


def test_green_unhealthy_in_the_window_rolls_back_to_blue() -> None:
    run, sim = _in_window()
    victim = next(t for t in sim.apps[GREEN].tasks if t.healthy)
    victim.healthy = False
    run.to_end()
    assert run.intent.phase is Phase.ROLLED_BACK
    assert "rollback window" in (run.intent.rollback_reason or "")
    assert sim.apps[BLUE].instances == 4 and sim.serving_of(BLUE) == 4
    assert GREEN not in sim.apps and sim.violations == []


def test_operator_rollback_works_in_the_window() -> None:
    run, sim = _in_window()
    run.intent = run.intent.with_command(Command.ROLLBACK, run.sim.now)
    run.to_end()
    assert run.intent.phase is Phase.ROLLED_BACK
    assert run.intent.rollback_reason == "rollback requested by operator"
    assert sim.serving_of(BLUE) == 4


def test_unknown_health_in_the_window_is_not_a_failure() -> None:
    run, sim = _in_window()
    for t in sim.apps[GREEN].tasks:
        t.healthy = None  # e.g. a Marathon failover: no health results yet
    obs = sim.observe()
    decision = plan(obs, run.intent, POLICY)
    assert decision.intent.phase is Phase.ROLLBACK_WINDOW, decision.blockers

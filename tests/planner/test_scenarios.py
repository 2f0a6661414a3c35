"""Whole deployments against the simulator: forward, first deploy, rollbacks, drain timeouts,
foreign changes, operator commands and the promotion gate."""

from __future__ import annotations

from reactor.core.actions import DeleteApp, KillAndScale, LbDrain, ScaleApp
from reactor.core.deploy_events import GateAnswer
from reactor.core.intent import Command, Intent, Outcome, Phase
from reactor.core.observed import OnDrainTimeout, Policy
from reactor.core.planner import plan

from .driver import BLUE, GREEN, Run, blue_green, first_deploy


def _actions(run: Run, kind: type) -> list:
    return [a for d in run.decisions for a in d.actions if isinstance(a, kind)]


def test_six_instances_in_batches_of_two_complete() -> None:
    sim, intent = blue_green(blue=6)
    run = Run(sim, intent, Policy(batch_size=2)).to_end()
    assert run.intent.phase is Phase.DONE and run.intent.outcome is Outcome.COMPLETED
    assert [a.instances for a in _actions(run, ScaleApp)] == [2, 4, 6]
    assert [len(a.task_ids) for a in _actions(run, KillAndScale)] == [2, 2, 2]
    assert BLUE not in sim.apps and sim.serving_of(GREEN) == 6
    assert sim.violations == [] and sim.conflicts == 0
    assert run.names()[0] == "deployment.started" and run.names()[-1] == "deployment.completed"
    assert run.names().count("promotion.gate") == 1 and run.names().count("blue.killed") == 3
    assert len({e.id for e in run.events}) == len(run.events)


def test_blue_tasks_are_drained_oldest_first() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, Policy(batch_size=1)).to_end()
    killed = [t for a in _actions(run, KillAndScale) for t in a.task_ids]
    assert killed == sorted(killed)  # sim task ids grow with start time
    assert run.intent.phase is Phase.DONE


def test_first_deploy_scales_to_target_and_pools() -> None:
    sim, intent = first_deploy(target=3)
    run = Run(sim, intent, Policy(batch_size=1)).to_end()
    assert run.intent.phase is Phase.DONE
    assert [a.instances for a in _actions(run, ScaleApp)] == [3]
    assert "promotion.gate" not in run.names()
    assert sim.serving_of(GREEN) == 3


def test_green_never_healthy_rolls_back_with_blue_intact() -> None:
    sim, intent = blue_green(blue=4, green_health_ticks=-1)
    run = Run(sim, intent, Policy(batch_size=2, health_timeout_s=20, max_green_failures=50)).to_end()
    assert run.intent.phase is Phase.ROLLED_BACK
    assert "not healthy within 20s" in (run.intent.rollback_reason or "")
    assert _actions(run, LbDrain) == [] and _actions(run, KillAndScale) == []
    assert GREEN not in sim.apps and sim.serving_of(BLUE) == 4
    assert _actions(run, DeleteApp)[0].force  # GREEN's scale deployment hangs: force the delete
    assert run.names()[-1] == "rollback.completed" and sim.violations == []


def test_green_unhealthy_midway_rolls_back_and_restores_blue() -> None:
    sim, intent = blue_green(blue=6)
    run = Run(sim, intent, Policy(batch_size=2))
    run.until(lambda r: len(r.intent.killed) == 2)
    victim = next(t for t in sim.apps[GREEN].tasks if t.healthy)
    victim.healthy = False
    run.to_end()
    assert run.intent.phase is Phase.ROLLED_BACK
    assert "became unhealthy" in (run.intent.rollback_reason or "")
    assert sim.apps[BLUE].instances == 6 and sim.serving_of(BLUE) == 6
    assert GREEN not in sim.apps and sim.violations == []
    assert run.names().index("rollback.started") < run.names().index("rollback.completed")


def _stuck_run(policy: Policy) -> Run:
    sim, intent = blue_green(blue=2)
    run = Run(sim, intent, policy)
    run.until(lambda r: bool(r.intent.draining))
    for task_id in run.intent.draining:
        sim.task(task_id).stuck = True  # type: ignore[union-attr]
    return run.to_end()


def test_drain_timeout_pause_waits_for_an_operator() -> None:
    run = _stuck_run(Policy(batch_size=1, drain_timeout_s=5, on_drain_timeout=OnDrainTimeout.PAUSE))
    assert run.intent.phase is Phase.PAUSED and "drain timeout" in (run.intent.paused_reason or "")
    assert _actions(run, KillAndScale) == [] and run.sim.violations == []
    quiet = plan(run.sim.observe(), run.intent, run.policy)
    assert quiet.actions == () and quiet.requeue_after_s is None and quiet.blockers


def test_drain_timeout_rollback_returns_the_task_to_the_pool() -> None:
    run = _stuck_run(Policy(batch_size=1, drain_timeout_s=5, on_drain_timeout=OnDrainTimeout.ROLLBACK))
    assert run.intent.phase is Phase.ROLLED_BACK
    assert run.sim.serving_of(BLUE) == 2 and run.sim.violations == []


def test_drain_timeout_force_kills_and_counts() -> None:
    run = _stuck_run(Policy(batch_size=1, drain_timeout_s=5, on_drain_timeout=OnDrainTimeout.FORCE))
    assert run.intent.phase is Phase.DONE and run.intent.forced_kills == 1
    assert any(a.forced for a in _actions(run, KillAndScale))
    killed = [e for e in run.events if e.name.value == "blue.killed" and e.reason]
    assert killed and "forced" in (killed[0].reason or "") and run.sim.violations == []


def test_foreign_scale_pauses_instead_of_fighting() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, Policy(batch_size=2))
    run.until(lambda r: r.intent.phase is Phase.SHIFTING)
    sim.apps[GREEN].instances = 9
    run.to_end()
    assert run.intent.phase is Phase.PAUSED
    assert "scaled to 9 by someone else" in (run.intent.paused_reason or "")
    writes = sim.writes
    run.sim.tick()
    run.step()
    assert sim.writes == writes  # nothing moves while paused


def test_foreign_restart_of_blue_pauses_and_resume_accepts_it() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, Policy(batch_size=2))
    run.until(lambda r: r.intent.phase is Phase.SHIFTING)
    sim.apps[BLUE].config_version = "c2"
    run.to_end()
    assert "restarted or redeployed" in (run.intent.paused_reason or "")
    run.intent = run.intent.with_command(Command.RESUME, sim.now)
    run.to_end()
    assert run.intent.phase is Phase.DONE and sim.violations == []


def test_abort_pauses_and_resume_continues() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, Policy(batch_size=2))
    run.until(lambda r: len(r.intent.killed) == 2)
    run.intent = run.intent.with_command(Command.ABORT, sim.now)
    run.to_end()
    assert run.intent.phase is Phase.PAUSED and run.intent.paused_reason == "aborted by operator"
    writes, counts = sim.writes, (sim.apps[BLUE].instances, sim.apps[GREEN].instances)
    sim.tick(30)
    assert run.step().actions == ()
    assert (sim.writes, (sim.apps[BLUE].instances, sim.apps[GREEN].instances)) == (writes, counts)
    run.intent = run.intent.with_command(Command.RESUME, sim.now)
    run.to_end()
    assert run.intent.phase is Phase.DONE
    assert "deployment.paused" in run.names() and "deployment.resumed" in run.names()


def test_promotion_held_until_promote() -> None:
    sim, intent = blue_green(blue=2)
    run = Run(sim, intent, Policy(batch_size=1, auto_promote=False))
    run.until(lambda r: r.intent.phase is Phase.AWAITING_PROMOTION)
    for _ in range(20):
        sim.tick()
        decision = run.step()
    assert run.intent.phase is Phase.AWAITING_PROMOTION and decision.actions == ()
    assert any("bluegreen promote web" in b for b in decision.blockers)
    run.intent = run.intent.with_command(Command.PROMOTE, sim.now)
    run.to_end()
    assert run.intent.phase is Phase.DONE and "promotion.gate" not in run.names()


def test_gate_veto_rolls_back() -> None:
    sim, intent = blue_green(blue=2)
    run = Run(sim, intent, Policy(batch_size=1), gate=GateAnswer.VETO).to_end()
    assert run.intent.phase is Phase.ROLLED_BACK and "vetoed" in (run.intent.rollback_reason or "")
    assert sim.serving_of(BLUE) == 2


def test_gate_hold_waits_and_promote_overrides() -> None:
    sim, intent = blue_green(blue=2)
    run = Run(sim, intent, Policy(batch_size=1), gate=GateAnswer.HOLD)
    run.until(lambda r: r.intent.gate.value == "hold")
    sim.tick(5)
    assert run.step().actions == ()
    run.intent = run.intent.with_command(Command.PROMOTE, sim.now)
    assert run.to_end().intent.phase is Phase.DONE


def test_our_failed_deployment_rolls_back_but_a_foreign_one_does_not() -> None:
    sim, intent = blue_green(blue=2)
    run = Run(sim, intent, Policy(batch_size=1))
    run.until(lambda r: bool(r.intent.own_deployment_ids))
    sim.failed_deployments.append("someone-elses")
    sim.tick()
    run.step()
    assert run.intent.phase is not Phase.ROLLING_BACK
    sim.failed_deployments.append(run.intent.own_deployment_ids[0])
    run.to_end()
    assert run.intent.phase is Phase.ROLLED_BACK and "failed" in (run.intent.rollback_reason or "")


def test_green_failures_beyond_the_limit_roll_back() -> None:
    sim, intent = blue_green(blue=2, green_health_ticks=50)
    run = Run(sim, intent, Policy(batch_size=2, max_green_failures=1))
    run.until(lambda r: len(sim.apps[GREEN].tasks) == 2 and all(
        t.state.value == "running" for t in sim.apps[GREEN].tasks))
    for _ in range(2):
        sim.fail_task(sim.apps[GREEN].tasks[0].task_id)
        sim.tick()
        run.step()
    run.to_end()
    assert run.intent.phase is Phase.ROLLED_BACK
    assert "GREEN tasks failed" in (run.intent.rollback_reason or "")


def test_without_lb_driver_the_metric_alone_decides() -> None:
    sim, intent = blue_green(blue=4, with_lb=False)
    run = Run(sim, intent, Policy(batch_size=2)).to_end()
    assert run.intent.phase is Phase.DONE and sim.violations == []


def test_lb_unreachable_makes_no_traffic_decision() -> None:
    sim, intent = blue_green(blue=2)
    run = Run(sim, intent, Policy(batch_size=1))
    run.until(lambda r: r.intent.phase is Phase.SHIFTING)
    sim.lb_up = False
    sim.tick()
    decision = run.step()
    assert decision.actions == () and decision.requeue_after_s == 2.0
    sim.lb_up = True
    assert run.to_end().intent.phase is Phase.DONE


def test_restart_every_round_gives_the_same_deployment() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, Policy(batch_size=2))
    for _ in range(200):
        run.intent = Intent.model_validate_json(run.intent.model_dump_json())
        run.step()
        if run.intent.finished:
            break
        sim.tick()
    assert run.intent.phase is Phase.DONE and sim.violations == []


def test_replanning_the_same_snapshot_is_quiet_and_deterministic() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, Policy(batch_size=2))
    for _ in range(60):
        before, obs = run.intent, sim.observe()
        decision = run.step()
        assert plan(obs, before, run.policy) == decision  # same stored intent + snapshot = same decision
        again = plan(sim.observe(), run.intent, run.policy)
        assert [a for a in again.actions if a.kind in ("scale_app", "kill_and_scale", "delete_app")] == []
        if run.intent.finished:
            break
        sim.tick()
    assert run.intent.phase is Phase.DONE


def test_foreign_scale_down_of_green_is_seen_once_our_scale_was_visible() -> None:
    sim, intent = blue_green(blue=4)
    run = Run(sim, intent, Policy(batch_size=2))
    run.until(lambda r: r.intent.green.instances == 4 and sim.apps[GREEN].instances == 4
              and r.intent.green.low == 4)
    sim.apps[GREEN].instances = 2
    run.to_end()
    assert run.intent.phase is Phase.PAUSED and "scaled to 2" in (run.intent.paused_reason or "")

"""A Marathon deployment on an app only ever holds writes back (`AppView.locked`).

The cluster view relies on this: a deployment's start (or a plan that names more apps) marks no
group for a round, because a round could only act less for it; only apps a deployment releases
are marked. Here every round of whole deployments (forward, first deploy, rollbacks, a drain
timeout, an operator pause) is planned twice more, with a foreign deployment added on GREEN, on
BLUE and on both: the locked plan's actions are always among the unlocked plan's."""

from __future__ import annotations

from typing import Any

import pytest

from reactor.core.actions import Emit, RequestGate
from reactor.core.observed import Observed, OnDrainTimeout, Policy
from reactor.core.planner import plan

from .driver import BLUE, GREEN, Run, blue_green, first_deploy


def locked(obs: Observed, apps: set[str]) -> Observed:
    return obs.model_copy(update={"apps": tuple(
        a.model_copy(update={"deployment_ids": (*a.deployment_ids, "foreign")}) if a.app_id in apps else a
        for a in obs.apps)})


def kinds(actions: Any) -> set[str]:
    # events by name: a plan that emits fewer numbers the rest differently
    return {a.event.name.value if isinstance(a, Emit | RequestGate) else repr(a) for a in actions}


class CheckedRun(Run):
    checked: int = 0

    def step(self) -> Any:
        obs = self.sim.observe()
        free = kinds(plan(obs, self.intent, self.policy).actions)
        for apps in ({GREEN}, {BLUE}, {GREEN, BLUE}):
            held = kinds(plan(locked(obs, apps), self.intent, self.policy).actions)
            assert held <= free, (apps, held - free, self.intent.phase)
            self.checked += 1
        return super().step()


def _midway_unhealthy(run: CheckedRun) -> None:
    run.until(lambda r: len(r.intent.killed) == 2)
    next(t for t in run.sim.apps[GREEN].tasks if t.healthy).healthy = False
    run.to_end()


@pytest.mark.parametrize("scenario", ["forward", "first", "never_healthy", "midway", "drain_timeout_rollback",
                                      "drain_timeout_force", "no_lb"])
def test_a_deployment_on_an_app_never_adds_an_action(scenario: str) -> None:
    if scenario == "first":
        run = CheckedRun(*first_deploy(target=3), Policy(batch_size=1))
    elif scenario == "never_healthy":
        run = CheckedRun(*blue_green(blue=4, green_health_ticks=-1),
                         Policy(batch_size=2, health_timeout_s=20, max_green_failures=50))
    elif scenario in ("drain_timeout_rollback", "drain_timeout_force"):
        on_timeout = OnDrainTimeout.ROLLBACK if scenario.endswith("rollback") else OnDrainTimeout.FORCE
        run = CheckedRun(*blue_green(blue=2),
                         Policy(batch_size=1, drain_timeout_s=5, on_drain_timeout=on_timeout))
        run.until(lambda r: bool(r.intent.draining))
        for task_id in run.intent.draining:
            run.sim.task(task_id).stuck = True  # type: ignore[union-attr]  # never drains
    elif scenario == "no_lb":
        run = CheckedRun(*blue_green(blue=4, with_lb=False), Policy(batch_size=1))
    else:
        run = CheckedRun(*blue_green(blue=6), Policy(batch_size=2))
    if scenario == "midway":
        _midway_unhealthy(run)
    else:
        run.to_end()
    assert run.intent.finished
    assert run.checked >= 3 * 5  # five rounds or more, each planned locked three ways

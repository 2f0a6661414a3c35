"""Drives the planner against the simulator the way the engine would: plan, persist, act, tick.

Owns the loop of the scenario tests: the new intent is kept before the actions run (write-ahead),
deployment ids returned by Marathon writes are recorded into the intent, gate requests are answered
by a scripted gate, and deploy events are collected in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from reactor.core.actions import Decision, Emit, RequestGate
from reactor.core.deploy_events import DeployEvent, GateAnswer
from reactor.core.intent import Intent, Phase, new_intent
from reactor.core.observed import Policy
from reactor.core.planner import plan

from .sim import T0, Sim

BLUE = "/web-blue"
GREEN = "/web-green"


def blue_green(*, blue: int = 6, target: int | None = None, green_created: int = 0, with_lb: bool = True,
               green_health_ticks: int = 2, has_health_checks: bool = True) -> tuple[Sim, Intent]:
    sim = Sim(with_lb=with_lb)
    sim.add_app(BLUE, blue, started_at=T0 - timedelta(days=1), running=True, pooled=True)
    sim.add_app(GREEN, green_created, started_at=T0, health_ticks=green_health_ticks,
                has_health_checks=has_health_checks)
    intent = new_intent(group="web", deployment_id="d1", blue_app=BLUE, green_app=GREEN,
                        target_instances=blue if target is None else target, now=sim.now,
                        blue_instances=blue, green_instances=green_created)
    return sim, intent


def first_deploy(*, target: int = 3, with_lb: bool = True) -> tuple[Sim, Intent]:
    sim = Sim(with_lb=with_lb)
    sim.add_app(GREEN, 0, started_at=T0)
    intent = new_intent(group="web", deployment_id="d1", green_app=GREEN, target_instances=target,
                        now=sim.now)
    return sim, intent


@dataclass
class Run:
    sim: Sim
    intent: Intent
    policy: Policy
    gate: GateAnswer | None = GateAnswer.ALLOW  # None = the gate never answers
    events: list[DeployEvent] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def step(self) -> Decision:
        decision = plan(self.sim.observe(), self.intent, self.policy)
        self.intent = decision.intent  # write-ahead
        for dep in self.sim.apply(decision):
            self.intent = self.intent.with_own_deployment(dep)
        for a in decision.actions:
            if isinstance(a, Emit | RequestGate):
                self.events.append(a.event)
            if isinstance(a, RequestGate) and self.gate is not None:
                self.intent = self.intent.with_gate_answer(self.gate, "scripted gate")
        self.decisions.append(decision)
        return decision

    def until(self, done: Callable[[Run], bool], max_rounds: int = 400) -> Run:
        for _ in range(max_rounds):
            self.step()
            if done(self):
                return self
            self.sim.tick()
        raise AssertionError(f"not reached in {max_rounds} rounds: phase {self.intent.phase}, "
                             f"blockers {self.decisions[-1].blockers}")

    def to_end(self, max_rounds: int = 400) -> Run:
        return self.until(lambda r: r.intent.finished or r.intent.phase is Phase.PAUSED, max_rounds)

    def names(self) -> list[str]:
        return [e.name.value for e in self.events]

"""Hypothesis state machine: the planner re-run on arbitrary (fresh or lagging) snapshots, with lost
and duplicated executions, task failures, stuck drains, LB outages, operator commands, gate answers
and reactor restarts (intent round-tripped through JSON).

Observation lags by at most MAX_LAG_S and never goes back in time (a cache only moves forward).
Invariants (checked by the simulator on every executed decision, and at the end):
- the serving pool never drops below the floor min(target, BLUE's original count) because of a
  planner action (checked on fresh snapshots: a lagging one cannot know about a fresh failure);
- no task is killed (kill-and-scale, scale-down or app delete) while it has pending operations,
  unless it was forced after a drain timeout (recorded in the intent);
- BLUE is never deleted before GREEN serves the full target;
- every run ends DONE or ROLLED_BACK within a bound of rounds once faults stop (a PAUSED run is
  resumed by the operator), and never wanders back from a finished phase.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reactor.core.deploy_events import GateAnswer
from reactor.core.intent import Command, GateState, Intent, Phase, new_intent
from reactor.core.observed import Observed, OnDrainTimeout, Policy, TaskPhase
from reactor.core.planner import plan

from .driver import BLUE, GREEN
from .sim import T0, Sim

END_BOUND_ROUNDS = 900
MAX_LAG_S = 5.0  # a lagging observation is at most this old (the planner's RETRY_S is 10 s)
STUCK_ROUNDS = 80  # stuck work stays stuck this long at the end (drain timeouts happen)


class DeploymentMachine(RuleBasedStateMachine):
    @initialize(
        blue=st.integers(0, 5), wanted=st.integers(1, 5), batch=st.integers(1, 3), with_lb=st.booleans(),
        auto_promote=st.booleans(), on_timeout=st.sampled_from(list(OnDrainTimeout)),
        require_lb_idle=st.booleans(), green_created=st.integers(0, 2),
    )
    def setup(self, blue: int, wanted: int, batch: int, with_lb: bool, auto_promote: bool,
              on_timeout: OnDrainTimeout, require_lb_idle: bool, green_created: int) -> None:
        self.sim = Sim(with_lb=with_lb)
        self.policy = Policy(batch_size=batch, health_timeout_s=40, drain_timeout_s=15,
                             on_drain_timeout=on_timeout, auto_promote=auto_promote,
                             require_lb_idle=require_lb_idle, max_green_failures=2)
        if blue:
            self.sim.add_app(BLUE, blue, started_at=T0 - timedelta(days=1), running=True, pooled=True)
        created = min(green_created, wanted) if blue else 0
        self.sim.add_app(GREEN, created, started_at=T0)
        self.intent = new_intent(group="web", deployment_id="d1", blue_app=BLUE if blue else None,
                                 green_app=GREEN, target_instances=wanted, now=self.sim.now,
                                 blue_instances=blue, green_instances=created)
        self.snapshot: tuple[int, Observed] | None = None
        self.obs_seq = 0
        self.used_seq = 0
        self.finished_phase: Phase | None = None
        self.was_paused = False
        self.drain_timeouts = False

    # -- planning -----------------------------------------------------------------------------
    def _observe(self) -> tuple[int, Observed]:
        self.obs_seq += 1
        return self.obs_seq, self.sim.observe()

    def _plan(self, seq: int, obs: Observed, mode: str, fresh: bool) -> None:
        self.used_seq = seq
        decision = plan(obs, self.intent, self.policy)
        self.intent = decision.intent  # persisted before acting (write-ahead)
        runs = {"apply": 1, "lose": 0, "twice": 2}[mode]
        for _ in range(runs):
            for dep in self.sim.apply(decision, fresh=fresh):
                self.intent = self.intent.with_own_deployment(dep)
        if self.finished_phase is not None:
            assert self.intent.phase is self.finished_phase, "left a finished phase"
        if self.intent.finished:
            self.finished_phase = self.intent.phase
        if self.intent.phase is Phase.PAUSED:
            assert self.intent.paused_reason
            self.was_paused = True
        self.last_blockers = decision.blockers
        why = f"{self.intent.paused_reason} {self.intent.rollback_reason}"
        self.drain_timeouts = self.drain_timeouts or "drain timeout" in why or bool(self.intent.forced)

    @rule(mode=st.sampled_from(["apply", "apply", "apply", "lose", "twice"]))
    def plan_fresh(self, mode: str) -> None:
        seq, obs = self._observe()
        self._plan(seq, obs, mode, fresh=True)

    @rule()
    def take_snapshot(self) -> None:
        self.snapshot = self._observe()

    @precondition(lambda self: self.snapshot is not None and self.snapshot[0] >= self.used_seq
                  and (self.sim.now - self.snapshot[1].now).total_seconds() <= MAX_LAG_S)
    @rule(mode=st.sampled_from(["apply", "lose", "twice"]))
    def plan_lagging(self, mode: str) -> None:
        assert self.snapshot is not None
        seq, obs = self.snapshot
        self._plan(seq, obs, mode, fresh=False)

    # -- the world moves ------------------------------------------------------------------------
    @rule(n=st.integers(1, 8))
    def tick(self, n: int) -> None:
        self.sim.tick(n)

    @rule(app=st.sampled_from([BLUE, GREEN]), index=st.integers(0, 6), unhealthy=st.booleans())
    def task_fails(self, app: str, index: int, unhealthy: bool) -> None:
        found = self.sim.apps.get(app)
        tasks = [t for t in found.tasks if t.state is TaskPhase.RUNNING] if found else []
        if tasks:
            victim = tasks[index % len(tasks)]
            if unhealthy:
                victim.healthy = False
            else:
                self.sim.fail_task(victim.task_id)

    @rule(index=st.integers(0, 12))
    def work_gets_stuck(self, index: int) -> None:
        """Once out of the pool this task never reaches 0 pending operations (drain timeout)."""
        tasks = sorted((t for a in self.sim.apps.values() for t in a.tasks), key=lambda t: t.task_id)
        if tasks:
            tasks[index % len(tasks)].stuck = True

    @rule()
    def lb_outage_toggles(self) -> None:
        self.sim.lb_up = not self.sim.lb_up

    @rule(command=st.sampled_from(list(Command)))
    def operator(self, command: Command) -> None:
        self.intent = self.intent.with_command(command, self.sim.now)

    @precondition(lambda self: self.intent.gate is GateState.ASKED)
    @rule(answer=st.sampled_from([GateAnswer.ALLOW, GateAnswer.ALLOW, GateAnswer.HOLD, GateAnswer.VETO]))
    def gate_answers(self, answer: GateAnswer) -> None:
        self.intent = self.intent.with_gate_answer(answer, "hypothesis gate")

    @rule()
    def reactor_restarts(self) -> None:
        self.intent = Intent.model_validate_json(self.intent.model_dump_json())
        self.snapshot = None  # a restarted reactor starts from a fresh read

    @invariant()
    def nothing_broken(self) -> None:
        assert self.sim.violations == []

    # -- the end --------------------------------------------------------------------------------
    @rule()
    def faults_stop_and_the_run_ends(self) -> None:
        self._drive_to_end()

    def teardown(self) -> None:
        if hasattr(self, "sim"):
            self._drive_to_end()

    def _drive_to_end(self) -> None:
        if self.intent.finished:
            return  # checked when it finished; the world has moved on since
        self.sim.lb_up = True
        for n in range(END_BOUND_ROUNDS):
            if n == STUCK_ROUNDS:
                for app in self.sim.apps.values():
                    for t in app.tasks:
                        t.stuck = False  # the work in flight finishes eventually
            if self.intent.phase is Phase.PAUSED:
                self.intent = self.intent.with_command(Command.RESUME, self.sim.now)
            elif self.intent.phase is Phase.AWAITING_PROMOTION and self.intent.gate is not GateState.ASKED:
                self.intent = self.intent.with_command(Command.PROMOTE, self.sim.now)
            seq, obs = self._observe()
            self._plan(seq, obs, "apply", fresh=True)
            if self.intent.gate is GateState.ASKED:
                self.intent = self.intent.with_gate_answer(GateAnswer.ALLOW)
            assert self.sim.violations == []
            if self.intent.finished:
                break
            self.sim.tick()
        event(f"ended {self.intent.phase.value}; paused on the way: {self.was_paused}; "
              f"forced: {bool(self.intent.forced)}")
        event(f"drain timeout seen: {self.drain_timeouts}; policy {self.policy.on_drain_timeout.value}")
        assert self.intent.phase in (Phase.DONE, Phase.ROLLED_BACK), (
            f"not finished in {END_BOUND_ROUNDS} rounds: {self.intent.phase} {self.last_blockers}")
        if self.intent.phase is Phase.DONE:  # (GREEN served the target when BLUE went: checked then)
            assert BLUE not in self.sim.apps
        else:
            assert GREEN not in self.sim.apps
            assert self.sim.serving_of(BLUE) >= self.intent.blue_original_instances


DeploymentMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("PLANNER_MACHINE_EXAMPLES", "600")), stateful_step_count=50,
    derandomize=not os.environ.get("PLANNER_MACHINE_EXPLORE"),  # CI: fixed; explore: new seeds
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_deployment_machine = DeploymentMachine.TestCase

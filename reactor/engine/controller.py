"""One group's controller: lease → intent → observation → plan → write-ahead → actions → history.

Owns the per-group control loop of design.md (level-triggered, idempotent) and the group's
in-memory state (cached intent while the lease is ours, the last status); queued operator
commands and gate answers are in reactor.engine.inputs, its drain watches in
reactor.engine.group_drains. Everything it uses arrives in `Deps`; it never reaches back into the
engine. One clock reading per round. No action is sent unless its intent was saved first
(write-ahead) and the lease is certainly ours right before each write (fencing); a store error
means no action, a retry with backoff, and `/readyz` false until the store answers again.
Between deployments the same round keeps the pool equal to the serving app's healthy tasks
(reactor.engine.pool).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
import uuid
from dataclasses import dataclass
from typing import Any

import structlog

from reactor.adapters.store.errors import LeaseLost, StoreError
from reactor.adapters.store.records import RawJson
from reactor.core import actions as A
from reactor.core import labels as L
from reactor.core.adoption import start_or_continue
from reactor.core.deploy_events import DeployEvent, GateAnswer
from reactor.core.history import history_record
from reactor.core.intent import Command, GateState, Intent, Outcome
from reactor.core.observed import Policy
from reactor.core.planner import plan
from reactor.engine.deps import Deps, Reading
from reactor.engine.executor import Executor, target_for
from reactor.engine.green_definition import GreenDefinition
from reactor.engine.group_drains import GroupDrains
from reactor.engine.inputs import OperatorInputs
from reactor.engine.observe import (
    AppViews,
    build_observed,
    drain_views,
    group_apps,
    policy_for,
    port_index_for,
)
from reactor.engine.pool import PoolKeeper
from reactor.engine.status import GroupStatus
from reactor.settings import DrainSource

log = structlog.get_logger(__name__)

REPLAN_AFTER_ACTION_S = 0.05
STEPS_PER_ROUND = 3  # plans in one round while drains decided at once allow more action
FAILED_ACTION_RETRY_S = 1.0
STORE_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # backoff after store errors
#: a round that only recorded observations of GREEN saves them with the next save, or by then
OBSERVATIONS_SAVED_WITHIN_S = 1.0
LB_ACTIONS = (A.LbAdd, A.LbDrain, A.LbMaint, A.LbRemove)


@dataclass(frozen=True)
class _StepResult:
    requeue: float | None
    wrote: bool = False  # a Marathon write was sent (the reaction to the round's trigger)
    drains_decided: bool = False  # a drain it started is already decided (drained, gone)


@dataclass
class _Stored:
    intent: Intent | None
    outbox: list[dict[str, Any]]
    unsaved_since: float | None = None  # `intent` holds observations not saved since then (mono)


class GroupController:
    """The controller of one group; its `reconcile` runs on the group's single worker."""

    def __init__(self, group: str, deps: Deps, drain_group: dict[str, str]) -> None:
        self.group = group
        self.deps = deps
        self.status: GroupStatus | None = None
        self.finished = asyncio.Event()
        self._inputs = OperatorInputs()
        self.executor = Executor(deps, on_gate=functools.partial(self._inputs.ask_gate, deps))
        self.pool = PoolKeeper(group, deps)
        self._drains = GroupDrains(group, drain_group, deps.drains)
        self._cached: _Stored | None = None  # valid only while the lease is ours
        self._store_failures = 0
        self.store_problem: str | None = None  # the last round failed on the store (for /readyz)
        self.label_problem: str | None = None  # the last round met invalid BLUEGREEN_* labels
        self._definition = GreenDefinition(group, deps)  # for history: as posted, else read once
        self._views = AppViews()  # this group's app views, reused while unchanged
        self._policy: tuple[Any, Policy] | None = None  # (the GREEN App it was read from, policy)

    # ---- inputs ----------------------------------------------------------------------------------
    def queue_command(self, command: Command) -> None:
        self._inputs.command(command)

    def lease_lost(self) -> None:
        self._cached = None
        self._drains.forget()
        self._forget_status()

    def _forget_status(self) -> None:
        """Another reactor acts for the group now: this one's status of an unfinished deployment
        is stale from here on (the API answers from the stored intent instead)."""
        if self.status is not None and not self.status.intent.finished:
            self.status = None
            self.deps.metrics.clear_phase(self.group)

    # ---- the round -------------------------------------------------------------------------------
    async def reconcile(self, trigger: tuple[str, float] | None) -> float | None:
        try:
            requeue = await self._round(trigger)
        except LeaseLost as exc:
            # a save was refused: another reactor holds the group (our lease expired unseen)
            dropped = self._inputs.drop()
            self._cached = None
            self._drains.forget()
            self._forget_status()
            log.warning("lease lost: another reactor acts for the group; nothing sent",
                        holder=exc.holder, commands_dropped=dropped)
            try:
                await self.deps.backend.release(self.group)  # our record of it, never the holder's
            except StoreError as err:
                log.warning("state store failed while giving up a lost lease", error=str(err))
            return self.deps.settings.state.lease_ttl_s / 2
        except L.LabelError as exc:
            # labels anyone may set in Marathon (`deploy` validates its own): nothing is sent for
            # the group until they are fixed; the fix (an app update) raises an event
            self._cached = None
            if str(exc) != self.label_problem:
                log.warning("invalid BLUEGREEN_* labels: nothing is done for the group until they "
                            "are fixed", error=str(exc))
            self.label_problem = str(exc)
            try:  # a reactor doing nothing for the group must not keep others (a CLI) from it
                await self._release()
            except StoreError as err:
                log.warning("state store failed while giving the lease back", error=str(err))
            return None
        except StoreError as exc:
            self._cached = None  # re-read after recovery: what we saved last is the truth
            self._inputs.restore()  # an accepted command is not lost with the save
            self.deps.metrics.count_store_error("reconcile")
            delay = STORE_RETRY_S[min(self._store_failures, len(STORE_RETRY_S) - 1)]
            self._store_failures += 1
            self.store_problem = str(exc)
            log.warning("state store failed: nothing sent, retrying", error=str(exc), retry_s=delay)
            return delay
        self._store_failures = 0
        self.store_problem = None
        self.label_problem = None
        return requeue

    async def _round(self, trigger: tuple[str, float] | None) -> float | None:
        d = self.deps
        fresh = self._cached is None  # what is stored is read now, not known from our own saves
        if not d.backend.may_act(self.group):
            fresh = True
            self._cached = None
            held, raw = await d.backend.claim(self.group)  # lease and stored intent: one trip
            if not held:
                self._forget_status()
                return d.settings.state.lease_ttl_s / 2
            self._cached = self._stored(raw)
        r = d.clock.read()
        stored, replayed = await self._load()
        apps = group_apps(d.view, self.group)
        intent = start_or_continue(
            self.group, apps, stored.intent, may_start=self._may_start(),
            new_id=lambda: str(uuid.uuid4()), now=r.wall)
        if intent is not None and not intent.finished and (intent is not stored.intent or fresh):
            # a new deployment adopted from Marathon, or one recorded by another process (the
            # CLI that created GREEN, a replica that died) that this one continues from now on
            log.info("deployment taken over", green=intent.green_app, blue=intent.blue_app,
                     target=intent.target_instances,
                     recorded=intent is stored.intent)
        if intent is None or intent.finished:
            self._drains.forget()  # e.g. another reactor ended the deployment this one watched
            if self.status is not None and not self.status.intent.finished:
                if stored.intent is not None and stored.intent.finished:  # ended by another reactor
                    self.status = GroupStatus(stored.intent, (), None, r.wall.timestamp())
                    d.metrics.set_phase(self.group, stored.intent.phase.value)
                else:
                    self._forget_status()
            requeue = await self.pool.keep(apps, stored.intent, trigger, r)
            if replayed and stored.intent is not None and stored.intent.finished:
                await self._finish(stored.intent, r)  # a finish cut short (crash, store error)
            else:
                await self._release()
            return requeue
        step = await self._step(self._fold_inputs(intent, r), apps, trigger, r)
        for _ in range(STEPS_PER_ROUND - 1):
            if not step.drains_decided or self._cached is None or self._cached.intent is None:
                break
            # the drain of the tasks it picked was decided when it started (drain source `none`):
            # kill them in this round, not after a trip to the back of the work queue behind every
            # other group due now. The intent the step stored is the input; same clock reading.
            trigger = None if step.wrote else trigger
            step = await self._step(self._cached.intent, group_apps(d.view, self.group), trigger, r)
        # no event will come for such a drain: if it is still to act on, the group runs again now
        return 0.0 if step.drains_decided else step.requeue

    def _may_start(self) -> bool:
        d = self.deps
        return d.takeover or (d.only_groups is not None and self.group in d.only_groups)

    @staticmethod
    def _stored(raw: dict[str, Any] | None) -> _Stored:
        intent = Intent.model_validate(raw["intent"]) if raw else None
        return _Stored(intent, list(raw.get("outbox") or []) if raw else [])

    async def _load(self) -> tuple[_Stored, bool]:
        """The group's intent (cached, else read), and whether a stored outbox was delivered now.

        The outbox holds the events decided with the intent, until they are known delivered: after
        a crash, a failed write, or a lease that moved, they are published again (same ids), then
        the outbox is cleared in the store, so that no later load publishes them once more. For a
        finished intent `_finish` clears it, after the history record."""
        if self._cached is None:
            self._cached = self._stored(await self.deps.backend.load_intent(self.group))
        if not self._cached.outbox:
            return self._cached, False
        for event in self._cached.outbox:  # events decided before a crash or a failed write
            self.deps.publish(DeployEvent.model_validate(event))
        self._cached.outbox = []
        if (intent := self._cached.intent) is not None and not intent.finished:
            await self._save(intent, [])
        return self._cached, True

    async def _save(self, intent: Intent, outbox: list[dict[str, Any]]) -> None:
        await self.deps.backend.save_intent(  # the intent as JSON text: no dict built to be encoded
            self.group, {"intent": RawJson(intent.model_dump_json()), "outbox": outbox},
            finished=intent.finished)
        self._cached = _Stored(intent, [])
        self._inputs.saved()  # commands and gate answers folded in are stored now

    def _deferrable_since(self, new: Intent, actions: tuple[A.Action, ...], r: Reading) -> float | None:
        """A round with no action that, since the last save, only recorded observations of GREEN
        (tasks seen alive or healthy, its definition read for history) need not wait for the
        store: with 50 groups deploying, these saves were half of all saves and one of the three
        in a row between "GREEN healthy" and the kill of a BLUE task. They go with the group's
        next save, at the latest OBSERVATIONS_SAVED_WITHIN_S later; lost in a crash (or with the
        lease), they are observed again. Decisions, events and commands are never deferred.
        Since when observations are unsaved if this round may leave them so, else None (then the
        round saves)."""
        cached = self._cached
        stored = cached.intent if cached is not None else None
        if actions or cached is None or stored is None or not stored.only_observations_differ(new):
            return None
        since = r.mono if cached.unsaved_since is None else cached.unsaved_since
        return since if r.mono - since < OBSERVATIONS_SAVED_WITHIN_S else None

    def _fold_inputs(self, intent: Intent, r: Reading) -> Intent:
        return self._inputs.fold(self._definition.fold(intent), r.wall)

    async def _step(self, intent: Intent, apps: list[Any], trigger: tuple[str, float] | None,
                    r: Reading) -> _StepResult:
        green = self.deps.view.app(intent.green_app)
        target = target_for(self.deps.settings, self.group, green)
        observed, decision, actions = await self._decide(intent, apps, green, target.backend, r)
        base = intent  # the intent the actions to send were planned from
        if self._local_only(decision.intent, actions):
            # drains that are decided at once, and events: nothing outside this process changes
            # yet, so plan on (kill them) and save both plans' intent once, before anything of
            # either is sent or published; a crash before that save loses only the watch
            for a in actions:
                if isinstance(a, A.WatchDrain | A.UnwatchDrain):
                    self._drains.watching(a.task_id)
                    self.executor.run_local(target, a)
            base = decision.intent
            # the same observation but for the drains just started: no second build of it
            observed = observed.model_copy(update={"drains": drain_views(self._drains.observations())})
            decision, later = self._plan(observed, base)
            actions = (*(a for a in actions if not isinstance(a, A.WatchDrain | A.UnwatchDrain)), *later)
        new = decision.intent
        events = [a.event.model_dump(mode="json") for a in actions if isinstance(a, A.Emit | A.RequestGate)]
        if (since := self._deferrable_since(new, actions, r)) is not None:
            self._cached = _Stored(new, [], since)  # observations only: saved with the next save
            self._record_status(new, decision.blockers, observed, r)
            due = OBSERVATIONS_SAVED_WITHIN_S - (r.mono - since)
            return _StepResult(due if decision.requeue_after_s is None
                               else min(decision.requeue_after_s, due))
        if (new != intent or events or self._cached is None or self._cached.intent != intent
                or self._cached.unsaved_since is not None):
            await self._save(new, events)  # write-ahead: nothing is sent for an unsaved intent
            # the status shows what is stored before anything is sent: the API must never serve
            # a stored phase (e.g. done, once `deployment.completed` is published) with an older
            # local one (it then answered the finished intent without counts)
            self._record_status(new, decision.blockers, observed, r)
            recorded = True
        else:
            recorded = False
        for a in actions:
            if isinstance(a, A.WatchDrain):
                self._drains.watching(a.task_id)
        out = await self.executor.execute(target, actions)
        self._after_actions(actions[:out.done], base, r)
        if not new.finished:
            self._definition.read_if_missing(new)
        saved = new
        for dep in out.deployment_ids:
            new = new.with_own_deployment(dep)
        undelivered = [a.event.model_dump(mode="json") for a in actions[out.done:]
                       if isinstance(a, A.Emit | A.RequestGate)]
        unsaved_ids = False
        if undelivered:
            await self._save(new, undelivered)
            if self._cached is not None:
                self._cached.outbox = undelivered
        elif new != saved:
            # only the deployment ids our writes got back: they are matched against the
            # `deployment_failed` events this process sees, so they go with the group's next save
            # (within OBSERVATIONS_SAVED_WITHIN_S), not in a save of their own after every write
            # (a third of all saves with 50 groups deploying). Lost in a crash, a failure of that
            # deployment is judged by what it leaves (counts, health), as for any deployment.
            since = self._cached.unsaved_since if self._cached is not None else None
            self._cached = _Stored(new, [], r.mono if since is None else since)
            unsaved_ids = True
        if trigger is not None and out.first_write_at is not None:
            self.deps.on_reaction(trigger[0], max(0.0, out.first_write_at - trigger[1]))
        if recorded and self.status is not None:  # same observation: only the intent moved on
            self.status = dataclasses.replace(self.status, intent=new)
        else:
            self._record_status(new, decision.blockers, observed, r)
        wrote = out.first_write_at is not None
        if new.finished and not intent.finished:
            await self._finish(new, r)
            return _StepResult(None, wrote)
        if out.failed is not None:  # retried by the next reconcile (soon), not by a loop here
            return _StepResult(min(decision.requeue_after_s or FAILED_ACTION_RETRY_S, FAILED_ACTION_RETRY_S),
                               wrote)
        # a drain it started that the `none` source answered in `watch()` itself: no event
        # will wake the group for it
        decided = self._drains.any_decided(
            a.task_id for a in actions[:out.done] if isinstance(a, A.WatchDrain))
        requeue = decision.requeue_after_s
        if unsaved_ids:
            requeue = min(OBSERVATIONS_SAVED_WITHIN_S, requeue if requeue is not None else math.inf)
        if any(isinstance(a, LB_ACTIONS) for a in actions[:out.done]):
            # LB changes raise no event: re-plan right after them (Marathon writes raise events)
            return _StepResult(min(requeue or REPLAN_AFTER_ACTION_S, REPLAN_AFTER_ACTION_S), wrote, decided)
        return _StepResult(requeue, wrote, decided)

    def _local_only(self, new: Intent, actions: tuple[A.Action, ...]) -> bool:
        """The plan starts drains that the drain source decides at once (`none`: no read, no
        event) and otherwise only emits events (a gate request with no gate registered is one) or
        stops watches: no write-ahead of its own needed (`none` needs no port either)."""
        local = (A.WatchDrain, A.UnwatchDrain, A.Emit, *((A.RequestGate,) if self.deps.gate is None else ()))
        watches = [a for a in actions if isinstance(a, A.WatchDrain)]
        return (not new.finished and self.deps.settings.drain.source is DrainSource.NONE
                and bool(watches) and all(isinstance(a, local) for a in actions))

    async def _decide(self, intent: Intent, apps: list[Any], green: Any, backend: str,
                      r: Reading) -> tuple[Any, Any, tuple[A.Action, ...]]:
        """Observe and plan; with no gate registered, a gate request is answered ALLOW at once and
        the shift is planned in the same round (no gate round)."""
        d = self.deps
        pool, lb_ok = await self.pool.observe(backend)
        observed = build_observed(
            view=d.view, group=self.group, apps=apps,
            port_index=port_index_for(d.settings, green), pool=pool, lb_available=lb_ok,
            drains=self._drains.observations(), failed=d.failed_deployments(), now=r.wall, memo=self._views)
        if self._policy is None or self._policy[0] is not green:  # GREEN's labels are read once per
            self._policy = (green, policy_for(d.settings, green))  # version of its App (immutable)
        decision, actions = self._plan(observed, intent)
        return observed, decision, actions

    def _plan(self, observed: Any, intent: Intent) -> tuple[Any, tuple[A.Action, ...]]:
        assert self._policy is not None  # set by `_decide`, which observed first
        policy = self._policy[1]
        decision = plan(observed, intent, policy)
        actions = decision.actions
        if self.deps.gate is None and any(isinstance(a, A.RequestGate) for a in actions):
            decision = plan(observed, decision.intent.with_gate_answer(GateAnswer.ALLOW, None), policy)
            actions = (*actions, *decision.actions)
        return decision, actions

    def _after_actions(self, done: tuple[A.Action, ...], intent: Intent, r: Reading) -> None:
        for a in done:
            if isinstance(a, A.KillAndScale):
                for tid in a.task_ids:
                    if (started := intent.draining.get(tid)) is not None:
                        self.deps.metrics.observe_drain("forced" if a.forced else "drained",
                                                        (r.wall - started).total_seconds())
            elif isinstance(a, A.UnwatchDrain):
                self._drains.unwatched(a.task_id)

    # ---- gates, status, endings -----------------------------------------------------------------
    def _record_status(self, intent: Intent, blockers: tuple[str, ...], observed: Any, r: Reading) -> None:
        self.status = GroupStatus(intent, blockers, observed, r.wall.timestamp())
        self.deps.metrics.set_phase(self.group, intent.phase.value)

    async def _finish(self, intent: Intent, r: Reading) -> None:
        """History, then the stored outbox (the final events, delivered) cleared, then the lease
        given back. Cut short (crash, store error), the next load publishes the outbox again and
        comes back here; the history record is kept once."""
        record = history_record(intent, r.wall)
        if await self.deps.backend.append_history(record):
            outcome = intent.outcome or Outcome.FAILED
            self.deps.metrics.count_deployment(outcome.value, record["duration_s"])
            log.info("deployment finished", outcome=outcome.value, duration_s=round(record["duration_s"], 3))
        if self._cached is None or not self._cached.outbox:  # else undelivered: the next load sends them
            await self._save(intent, [])
        await self._release()
        self.finished.set()

    async def _release(self) -> None:
        self._cached = None
        self._definition.forget()
        if self.deps.backend.may_act(self.group):
            await self.deps.backend.release(self.group)


__all__ = ["GateState", "GroupController", "GroupStatus"]

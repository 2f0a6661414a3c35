"""The recorded intent of one blue-green deployment: what the state store keeps between plans.

Owns the Phase/Command/Gate vocabulary and the Intent model (JSON round-trippable), plus pure
helpers the engine uses to start a deployment and to record operator commands, gate answers and
our own Marathon deployment ids. Derivable-first: progress (healthy counts, pool membership,
drain state) is read from the observation each round; the intent keeps only what cannot be
observed (decisions taken, clocks started, answers received). Must not do I/O or read a clock.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from reactor.core.deploy_events import GateAnswer


class Phase(StrEnum):
    SCALING_GREEN = "scaling_green"  # scaling GREEN to the batch's count / waiting for its health
    AWAITING_PROMOTION = "awaiting_promotion"  # first shift: gate asked, held, or waiting for `promote`
    SHIFTING = "shifting"  # GREEN into the pool, BLUE batch draining, drained BLUE killed
    PAUSED = "paused"  # waiting for an operator (`resume`, `rollback`); nothing moves
    ROLLING_BACK = "rolling_back"
    ROLLBACK_WINDOW = "rollback_window"  # shifted; BLUE kept at 0 instances; GREEN failing rolls back
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


FINISHED_PHASES = frozenset({Phase.DONE, Phase.ROLLED_BACK, Phase.FAILED})
FORWARD_PHASES = frozenset({Phase.SCALING_GREEN, Phase.AWAITING_PROMOTION, Phase.SHIFTING})


class Command(StrEnum):
    PROMOTE = "promote"
    ABORT = "abort"
    ROLLBACK = "rollback"
    RESUME = "resume"


class GateState(StrEnum):
    NOT_ASKED = "not_asked"
    ASKED = "asked"
    ALLOW = "allow"
    HOLD = "hold"
    VETO = "veto"


class Outcome(StrEnum):
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    ABORTED = "aborted"


class PendingCommand(BaseModel):
    model_config = ConfigDict(frozen=True)

    command: Command
    requested_at: datetime


class AppExpectation(BaseModel):
    """What our own actions explain about an app: anything else is a foreign change.

    `instances` is the count we last asked for (or that our kills leave); [low, high] spans every
    count our actions produced, so a lagging observation inside it is not mistaken for a foreign
    scale. `config_version` is recorded at the first observation (we never change config).
    """

    model_config = ConfigDict(frozen=True)

    instances: int = Field(ge=0)
    low: int = Field(ge=0)
    high: int = Field(ge=0)
    config_version: str | None = None

    def expect(self, instances: int) -> AppExpectation:
        return self.model_copy(update={"instances": instances, "low": min(self.low, instances),
                                       "high": max(self.high, instances)})

    def explains(self, instances: int) -> bool:
        return self.low <= instances <= self.high


class Intent(BaseModel):
    model_config = ConfigDict(frozen=True)

    group: str
    deployment_id: str
    blue_app: str | None  # None on a first deploy
    green_app: str
    target_instances: int = Field(ge=0)
    blue_original_instances: int = Field(0, ge=0)
    phase: Phase = Phase.SCALING_GREEN
    phase_since: datetime
    started_at: datetime
    promoted: bool = False  # the first traffic shift passed the gate
    gate: GateState = GateState.NOT_ASKED
    gate_reason: str | None = None
    gate_asked_at: datetime | None = None
    paused_reason: str | None = None
    paused_from: Phase | None = None
    command: PendingCommand | None = None
    batch: int = 1
    batch_tasks: tuple[str, ...] = ()  # BLUE tasks picked for draining in the current batch
    green_scaled_at: datetime  # anchor of the health timeout for the current batch
    green_healthy_since: datetime | None = None
    green_seen: tuple[str, ...] = ()  # GREEN task ids ever observed alive
    green_ever_healthy: tuple[str, ...] = ()
    green_failed: tuple[str, ...] = ()  # GREEN tasks that died on their own
    pooled: tuple[str, ...] = ()  # tasks we added to the LB pool
    draining: dict[str, datetime] = Field(default_factory=dict)  # task id -> drain start
    killed: dict[str, datetime] = Field(default_factory=dict)  # BLUE task id -> when we killed it
    forced: tuple[str, ...] = ()  # tasks killed with work in flight (on_drain_timeout = force)
    blue: AppExpectation | None = None
    green: AppExpectation
    green_initial: int = Field(0, ge=0)  # GREEN's count at creation: the first batch when > 0
    green_observed: bool = False  # GREEN has been seen in Marathon at least once
    delete_requested: dict[str, datetime] = Field(default_factory=dict)  # app id -> when asked
    blue_restore_at: datetime | None = None  # when a rollback asked Marathon to scale BLUE back
    rollback_reason: str | None = None
    own_deployment_ids: tuple[str, ...] = ()  # Marathon deployment ids our writes got back
    outcome: Outcome | None = None
    finished_at: datetime | None = None
    seq: int = 0  # deploy events emitted so far (part of their deterministic ids)
    green_definition: dict[str, Any] | None = None  # GREEN's Marathon app JSON (for `undo`)
    window_started: datetime | None = None  # the last shift completed: the rollback window opened
    standby: tuple[str, ...] = ()  # drained BLUE tasks kept running (not killed) for the window

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES

    @property
    def forced_kills(self) -> int:
        return len(self.forced)

    @property
    def green_failures(self) -> int:
        return len(self.green_failed)

    def only_observations_differ(self, other: Intent) -> bool:
        """True when `other` differs from this intent only in what the planner records from
        watching GREEN (`OBSERVATION_FIELDS`: tasks seen alive, tasks seen healthy, the bounds
        and config version of GREEN's expected count, GREEN's definition read for history),
        never in a decision. Such a change may be saved later (with the next save): lost in a
        crash, it is observed (or read) again."""
        if self == other:
            return False
        mine, theirs = self.__dict__, other.__dict__  # the fields' values (dict(model) copies them)
        if any(v != theirs[k] for k, v in mine.items() if k not in OBSERVATION_FIELDS):
            return False
        return self.green.instances == other.green.instances  # the count we asked for is a decision

    def changed(self, **changes: Any) -> Intent:
        """A validated copy: unknown field names raise, and values are checked against the model
        (`model_copy(update=...)` would accept a misspelt key or a wrong type silently)."""
        unknown = set(changes) - _FIELDS
        if unknown:
            raise ValueError(f"Intent has no field(s) {sorted(unknown)}")
        for name, value in changes.items():
            _check_type(name, value)
        mine = self.__dict__
        if all(mine[name] == value for name, value in changes.items()):
            return self  # a third of a plan's updates restate what is there: no copy
        return self.model_copy(update=changes)

    def with_green_definition(self, definition: dict[str, Any]) -> Intent:
        """Record GREEN's app definition (as posted, or as read from Marathon on adoption)."""
        return self.model_copy(update={"green_definition": dict(definition)})

    def with_command(self, command: Command, now: datetime) -> Intent:
        """Record an operator command; the next plan acts on it (a newer command replaces it)."""
        return self.model_copy(update={"command": PendingCommand(command=command, requested_at=now)})

    def with_gate_answer(self, answer: GateAnswer, reason: str | None = None) -> Intent:
        """Record the promotion gate's answer (the engine ran the hooks for a RequestGate)."""
        if self.gate is not GateState.ASKED:
            return self
        return self.model_copy(update={"gate": GateState(answer.value), "gate_reason": reason})

    def with_own_deployment(self, deployment_id: str) -> Intent:
        """Record a Marathon deployment id returned by one of our writes."""
        if deployment_id in self.own_deployment_ids:
            return self
        return self.model_copy(update={"own_deployment_ids": (*self.own_deployment_ids, deployment_id)})


def command_refusal(intent: Intent, command: Command) -> str | None:
    """Why `command` cannot apply to this deployment now (one clear sentence), or None if it can."""
    if intent.finished:
        return f"deployment {intent.deployment_id} of {intent.group} already ended ({intent.phase.value})"
    if command is Command.RESUME and intent.phase is not Phase.PAUSED:
        return f"{intent.group} is not paused (phase {intent.phase.value})"
    if command is Command.PROMOTE and intent.promoted:
        return f"{intent.group} is already promoted"
    if command is Command.PROMOTE and intent.phase is Phase.PAUSED:
        return f"{intent.group} is paused ({intent.paused_reason}): resume it first"
    if command is Command.ABORT and intent.phase is Phase.PAUSED:
        return f"{intent.group} is already paused: {intent.paused_reason}"
    if command is Command.ROLLBACK and intent.phase is Phase.ROLLING_BACK:
        return f"{intent.group} is already rolling back"
    return None


def new_intent(
    *,
    group: str,
    deployment_id: str,
    green_app: str,
    target_instances: int,
    now: datetime,
    blue_app: str | None = None,
    blue_instances: int = 0,
    green_instances: int = 0,
) -> Intent:
    """The intent of a deployment that starts now.

    `blue_instances` is BLUE's configured count at start (restored on rollback);
    `green_instances` the count GREEN was created with.
    """
    if target_instances < 0 or blue_instances < 0 or green_instances < 0:
        raise ValueError("instance counts must be >= 0")
    if blue_app is not None and blue_app == green_app:
        raise ValueError(f"BLUE and GREEN must be different apps (both {green_app})")
    blue = None
    if blue_app is not None:
        blue = AppExpectation(instances=blue_instances, low=blue_instances, high=blue_instances)
    green = AppExpectation(instances=green_instances, low=green_instances, high=green_instances)
    return Intent(
        group=group, deployment_id=deployment_id, blue_app=blue_app, green_app=green_app,
        target_instances=target_instances, blue_original_instances=blue_instances if blue_app else 0,
        phase=Phase.SCALING_GREEN, phase_since=now, started_at=now, green_scaled_at=now,
        blue=blue, green=green, green_initial=green_instances, promoted=blue_app is None,
    )


_FIELDS = frozenset(Intent.model_fields)
#: what a round records from watching GREEN alone (see Intent.only_observations_differ)
OBSERVATION_FIELDS = frozenset({"green_seen", "green_ever_healthy", "green", "green_definition"})


def _runtime_types(annotation: Any) -> tuple[type, ...]:
    origin = get_origin(annotation)
    if origin is None:
        return (annotation,) if isinstance(annotation, type) else (object,)
    args = get_args(annotation)
    if origin not in (Union, UnionType):
        return (origin,) if isinstance(origin, type) else (object,)
    out: tuple[type, ...] = ()
    for arg in args:  # a union (X | None)
        out += _runtime_types(arg) if arg is not type(None) else (type(None),)
    return out


_TYPES = {name: _runtime_types(f.annotation) for name, f in Intent.model_fields.items()}


def _check_type(name: str, value: Any) -> None:
    types = _TYPES[name]
    if int in types and isinstance(value, bool) and bool not in types:
        raise TypeError(f"Intent.{name} must be an int, not a bool")
    if not isinstance(value, types):
        raise TypeError(f"Intent.{name} cannot be {type(value).__name__} ({value!r})")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0 and name in _NON_NEGATIVE:
        raise ValueError(f"Intent.{name} must be >= 0, not {value}")


_NON_NEGATIVE = frozenset({"target_instances", "blue_original_instances", "green_initial", "batch", "seq"})

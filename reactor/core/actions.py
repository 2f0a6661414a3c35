"""The planner's output: idempotent actions and the Decision that carries them.

Owns the action vocabulary (one discriminated union of frozen models) the executor turns into
Marathon writes, LB changes, drain-watcher subscriptions, deploy events and gate requests. Actions
are plain data: absolute counts and explicit task ids, so executing one twice is harmless.
Must not execute anything.

Execution contract for the engine: persist `Decision.intent` first (write-ahead), then run the
actions in order and stop at the first failure; the next plan re-derives what is still missing.
`Emit`/`RequestGate` are produced on transitions only; their ids are deterministic, so an
engine that persists undelivered ones next to the intent (an outbox) can deliver them after a
crash and receivers can de-duplicate.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from reactor.core.deploy_events import DeployEvent
from reactor.core.intent import Intent


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScaleApp(_Action):
    """PUT /v2/apps/{app_id} {"instances": n} (absolute count)."""

    kind: Literal["scale_app"] = "scale_app"
    app_id: str
    instances: int = Field(ge=0)


class KillAndScale(_Action):
    """POST /v2/tasks/delete?scale=true with these task ids (Marathon does not replace them)."""

    kind: Literal["kill_and_scale"] = "kill_and_scale"
    app_id: str
    task_ids: tuple[str, ...]
    forced: bool = False  # some task still had work in flight (on_drain_timeout = force)


class DeleteApp(_Action):
    """DELETE /v2/apps/{app_id}; `force` cancels a deployment that locks it (a hung GREEN scale)."""

    kind: Literal["delete_app"] = "delete_app"
    app_id: str
    force: bool = False


class LbAdd(_Action):
    """Put the server in the pool, READY (adds it if absent); `backup`: as a backup server (it
    serves only while no normal server is up). The flag of an existing server does not change:
    remove it first."""

    kind: Literal["lb_add"] = "lb_add"
    task_id: str
    host: str
    port: int | None
    backup: bool = False


class LbDrain(_Action):
    """No new traffic to the server; existing sessions finish."""

    kind: Literal["lb_drain"] = "lb_drain"
    task_id: str


class LbMaint(_Action):
    kind: Literal["lb_maint"] = "lb_maint"
    task_id: str


class LbRemove(_Action):
    kind: Literal["lb_remove"] = "lb_remove"
    task_id: str


class WatchDrain(_Action):
    """Start watching the task's pending-operations metric; the engine reports a DrainView."""

    kind: Literal["watch_drain"] = "watch_drain"
    task_id: str
    host: str
    port: int | None


class UnwatchDrain(_Action):
    kind: Literal["unwatch_drain"] = "unwatch_drain"
    task_id: str


class Emit(_Action):
    kind: Literal["emit"] = "emit"
    event: DeployEvent


class RequestGate(_Action):
    """Run the gate hooks for this event; record the answer with `Intent.with_gate_answer`."""

    kind: Literal["request_gate"] = "request_gate"
    event: DeployEvent


Action = Annotated[
    ScaleApp | KillAndScale | DeleteApp | LbAdd | LbDrain | LbMaint | LbRemove | WatchDrain
    | UnwatchDrain | Emit | RequestGate,
    Field(discriminator="kind"),
]
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    intent: Intent
    actions: tuple[Action, ...] = ()
    requeue_after_s: float | None = None  # look again after this long even if nothing happens
    blockers: tuple[str, ...] = ()  # why it is not moving, for `bluegreen status`

    @property
    def events(self) -> tuple[DeployEvent, ...]:
        return tuple(a.event for a in self.actions if isinstance(a, Emit | RequestGate))

"""EngineControl: what the HTTP API may ask of a running engine (status, history, commands, replica).

Owns the translation of the controllers' per-group status into the API's JSON rows, readiness
(first sync done, store answering) and the validation of operator commands (one clear reason
when a command does not apply). Commands are queued to the group's controller (never written to
the intent from here), then the group is marked. Everything it uses is handed in; it does not
import the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.factory import Backend
from reactor.core.intent import Command, Intent, command_refusal
from reactor.engine.api import CommandRejected, UnknownGroup
from reactor.engine.controllers import Controllers
from reactor.engine.deps import Mark


class EngineControl:
    def __init__(self, *, controllers: Controllers, backend: Backend, mark: Mark,
                 is_synced: Callable[[], bool], watcher_ok: Callable[[], bool],
                 auth_error: Callable[[], str | None] = lambda: None,
                 drain_observations: Callable[[], dict[str, Any]] = dict) -> None:
        self.controllers = controllers
        self.auth_error = auth_error  # a Marathon 401 the reactor cannot fix (DC/OS login)
        self.drain_observations = drain_observations
        self.backend = backend
        self.mark = mark
        self.is_synced = is_synced
        self.watcher_ok = watcher_ok

    def is_ready(self) -> bool:
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        if not self.is_synced():
            return "waiting for the first read of Marathon"
        if not self.backend.ok:
            return f"state store failing: {self.backend.problem}"
        if (problem := self.controllers.store_problem()) is not None:
            return f"state store failing: {problem}"
        if (problem := self.auth_error()) is not None:  # the cause, when the stream is down for it
            return f"Marathon refuses our credentials: {problem}"
        if not self.watcher_ok():
            return "Marathon event stream not delivering"
        return None

    def replica(self) -> dict[str, Any]:
        return {"id": self.backend.owner, "coordination": self.backend.kind,
                "acting_for": sorted(self.backend.acting_for()), "store_ok": bool(self.backend.ok)}

    async def deployments(self) -> list[dict[str, Any]]:
        rows = {g: self._row(g) for g in self.controllers.status}
        for group, stored in (await self.backend.active_intents()).items():
            if group not in rows and stored:
                rows[group] = _intent_row(Intent.model_validate(stored["intent"]), (), {})
        return [rows[g] for g in sorted(rows)]

    async def deployment(self, group: str) -> dict[str, Any] | None:
        """The group's current deployment: this reactor's own view when it drives (or drove) the
        recorded one; else the recorded intent (another replica drives it, or drove it to its end
        after this one last looked — its status here would be stale)."""
        stored = await self.backend.load_intent(group)
        recorded = Intent.model_validate(stored["intent"]) if stored else None
        local = self.controllers.status.get(group)
        if local is not None and (recorded is None or (
                local.intent.deployment_id == recorded.deployment_id
                and local.intent.finished >= recorded.finished)):
            return self._row(group)
        return _intent_row(recorded, (), {}) if recorded is not None else None

    async def history(self, group: str | None, limit: int) -> list[dict[str, Any]]:
        """Finished deployments without GREEN's definition: it holds the app's `env` (secrets),
        and the HTTP API is readable without the token on loopback. `bluegreen history` and `undo`
        read whole records from the store itself."""
        return [{**{k: v for k, v in rec.items() if k != "green_definition"},
                 "definition_kept": rec.get("green_definition") is not None}
                for rec in await self.backend.list_history(group, limit)]

    async def command(self, group: str, command: str, *, source: str) -> dict[str, Any]:
        try:
            cmd = Command(command)
        except ValueError:
            raise CommandRejected(f"unknown command {command!r}") from None
        try:
            stored = await self.backend.load_intent(group)
        except StoreError as exc:
            raise CommandRejected(f"the state store is failing ({exc}); try again") from None
        if stored is None:
            raise UnknownGroup(group)
        intent = Intent.model_validate(stored["intent"])
        if (reason := command_refusal(intent, cmd)) is not None:
            raise CommandRejected(reason)
        await self.backend.record_command(group, cmd.value, source=source)
        self.controllers.queue_command(group, cmd)
        self.mark({group}, f"command.{cmd.value}")
        return {"group": group, "command": cmd.value, "accepted": True,
                "deployment_id": intent.deployment_id, "phase": intent.phase.value}

    def _row(self, group: str) -> dict[str, Any]:
        st = self.controllers.status[group]
        row = _intent_row(st.intent, st.blockers, st.counts)
        row["pool"] = self.controllers.pool_status(group)
        drains = self.drain_observations()
        row["draining"] = [  # each draining BLUE task's pending operations (None = unknown now)
            {"task": tid, "pending": drains[tid].pending if tid in drains else None,
             "drained": drains[tid].drained if tid in drains else False}
            for tid in sorted(st.intent.draining)]
        return row


def _intent_row(intent: Intent, blockers: tuple[str, ...], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "group": intent.group, "deployment_id": intent.deployment_id, "phase": intent.phase.value,
        "blue_app": intent.blue_app, "green_app": intent.green_app,
        "target_instances": intent.target_instances, "counts": counts, "blockers": list(blockers),
        "since": intent.phase_since.isoformat(), "started_at": intent.started_at.isoformat(),
        "paused_reason": intent.paused_reason, "rollback_reason": intent.rollback_reason,
        "outcome": intent.outcome.value if intent.outcome else None,
    }

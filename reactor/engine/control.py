"""EngineControl: what the HTTP API may ask of a running engine (status, history, commands).

Owns the translation of the reconciler's per-group status into the API's JSON rows and the
validation of operator commands (one clear reason when a command does not apply). Commands are
queued to the group's worker (never written to the intent from here), then the group is marked.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from reactor.core.intent import Command, Intent, command_refusal
from reactor.engine.api import CommandRejected, UnknownGroup

if TYPE_CHECKING:
    from reactor.engine.engine import Engine


class EngineControl:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def is_ready(self) -> bool:
        # a 401 the reactor cannot fix (client.auth_error) makes it unready until it is fixed
        return self.engine.synced_once and self.engine.client.auth_error is None

    def deployments(self) -> list[dict[str, Any]]:
        rows = {g: self._row(g) for g in self.engine.reconciler.status}
        for group, stored in self.engine.store.active_intents().items():
            if group not in rows and stored:
                rows[group] = _intent_row(Intent.model_validate(stored["intent"]), (), {})
        return [rows[g] for g in sorted(rows)]

    def deployment(self, group: str) -> dict[str, Any] | None:
        if group in self.engine.reconciler.status:
            return self._row(group)
        stored = self.engine.store.load_intent(group)
        return _intent_row(Intent.model_validate(stored["intent"]), (), {}) if stored else None

    def history(self, group: str | None, limit: int) -> list[dict[str, Any]]:
        return self.engine.store.list_history(group, limit)

    async def command(self, group: str, command: str, *, source: str) -> dict[str, Any]:
        try:
            cmd = Command(command)
        except ValueError:
            raise CommandRejected(f"unknown command {command!r}") from None
        stored = self.engine.store.load_intent(group)
        if stored is None:
            raise UnknownGroup(group)
        intent = Intent.model_validate(stored["intent"])
        if (reason := command_refusal(intent, cmd)) is not None:
            raise CommandRejected(reason)
        self.engine.store.record_command(group, cmd.value, source=source, now_s=time.time())
        self.engine.reconciler.queue_command(group, cmd)
        self.engine.mark({group}, trigger=f"command.{cmd.value}")
        return {"group": group, "command": cmd.value, "accepted": True,
                "deployment_id": intent.deployment_id, "phase": intent.phase.value}

    def _row(self, group: str) -> dict[str, Any]:
        st = self.engine.reconciler.status[group]
        row = _intent_row(st.intent, st.blockers, st.counts)
        drains = self.engine.drains.observations()
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

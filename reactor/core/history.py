"""The history record of a finished deployment (what `history` and `undo` read back).

Owns the record's shape only: pure, built from the final intent and the time it is written.
Must not do I/O or read a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reactor.core.intent import Intent, Outcome


def history_record(intent: Intent, now: datetime) -> dict[str, Any]:
    """The record appended when `intent` finished; `green_definition` is GREEN's app JSON (or None)."""
    outcome = intent.outcome or Outcome.FAILED
    finished_at = intent.finished_at or now
    return {
        "group": intent.group, "deployment_id": intent.deployment_id, "outcome": outcome.value,
        "blue_app": intent.blue_app, "green_app": intent.green_app,
        "started_at": intent.started_at.isoformat(), "finished_at": finished_at.isoformat(),
        "duration_s": (finished_at - intent.started_at).total_seconds(),
        "reason": intent.rollback_reason or intent.paused_reason,
        "counts": {"target": intent.target_instances, "killed": len(intent.killed),
                   "forced": intent.forced_kills, "green_failed": intent.green_failures},
        "green_definition": intent.green_definition,
    }

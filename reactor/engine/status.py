"""A group's status as the API, `status` and the progress display show it.

Owns `GroupStatus` and the counts derived from one round's observation and intent (GREEN healthy
and asked for, BLUE live and killed, the LB pool's shares). Pure: reads only its arguments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from reactor.core.intent import Intent


@dataclass
class GroupStatus:
    """The last plan's view of a group, for `status`, the API and the progress display.

    `counts` are derived from the round's (immutable) observation when first read, not in every
    round: most rounds' statuses are replaced before anyone reads them (with 50 groups deploying
    at once, computing them was a tenth of a round's time)."""

    intent: Intent
    blockers: tuple[str, ...] = ()
    observed: Any = None  # the round's `Observed`; None: no counts (e.g. ended by another reactor)
    updated_at: float = 0.0

    @functools.cached_property
    def counts(self) -> dict[str, int]:
        return status_counts(self.intent, self.observed) if self.observed is not None else {}


def status_counts(intent: Intent, observed: Any) -> dict[str, int]:
    green, blue = observed.app(intent.green_app), observed.app(intent.blue_app)
    return {
        "target": intent.target_instances,
        "green_healthy": len(green.healthy_tasks()) if green else 0,
        "green_instances": green.instances if green else 0,
        "blue_live": len(blue.live_tasks()) if blue else 0,
        "blue_killed": len(intent.killed), "forced": intent.forced_kills,
        # live tasks READY in the LB pool (the watch view's traffic share); backups apart
        "pool_green": sum(observed.in_pool(t.task_id) and not observed.is_backup(t.task_id)
                          for t in green.live_tasks()) if green else 0,
        "pool_blue": sum(observed.in_pool(t.task_id) and not observed.is_backup(t.task_id)
                         for t in blue.live_tasks()) if blue else 0,
        "pool_backup": sum(observed.in_pool(t.task_id) and observed.is_backup(t.task_id)
                           for t in blue.live_tasks()) if blue else 0,
    }

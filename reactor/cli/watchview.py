"""The live view's model and its text: what `watch`, `status --watch` and an attached `deploy` show.

Owns folding the daemon's status rows (/v1/deployments) and deploy events (/v1/events) into
per-group state, and rendering it as a screen (terminal) or as plain change lines (pipes, logs).
Pure: no I/O, no clock (callers pass the time).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from reactor.cli import render

LAST_EVENTS = 6


@dataclass
class GroupView:
    row: dict[str, Any] = field(default_factory=dict)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_EVENTS))


def event_line(event: dict[str, Any]) -> str:
    """`12:00:01 green.scaled to 2 of 3 — reason`."""
    name = event.get("event", "?")
    at = str(event.get("timestamp", ""))[11:19]
    counts = event.get("counts") or {}
    tasks = event.get("tasks") or []
    detail = ""
    if name == "green.scaled" and "instances" in counts:
        detail = f" to {counts['instances']} of {counts.get('target', '?')}"
    elif tasks:
        detail = " " + ", ".join(render.short_task(t) for t in tasks[:4]) + (" …" if len(tasks) > 4 else "")
    reason = f" — {event['reason']}" if event.get("reason") else ""
    return f"{at} {name}{detail}{reason}"


def pool_text(counts: dict[str, Any]) -> str:
    blue, green = int(counts.get("pool_blue", 0)), int(counts.get("pool_green", 0))
    share = green / (blue + green) if blue + green else 0.0
    backup = int(counts.get("pool_backup", 0))  # the rollback window's warm BLUE standby
    standby = f" · BLUE standby {backup} (backup)" if backup else ""
    return f"BLUE {blue} · GREEN {green} · GREEN share {share:.0%}{standby}"


class WatchModel:
    """Per-group rows and recent events; `only` limits it to one group."""

    def __init__(self, only: str | None = None) -> None:
        self.only = only
        self.groups: dict[str, GroupView] = {}

    def _view(self, group: str) -> GroupView:
        return self.groups.setdefault(group, GroupView())

    def apply_rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            group = row.get("group")
            if isinstance(group, str) and (self.only is None or group == self.only):
                self._view(group).row = row

    def apply_event(self, event: dict[str, Any]) -> str | None:
        """Record the event; its line (None when it is for another group)."""
        group = event.get("group")
        if not isinstance(group, str) or (self.only is not None and group != self.only):
            return None
        line = event_line(event)
        self._view(group).events.append(line)
        return line

    def phase(self, group: str) -> str | None:
        view = self.groups.get(group)
        return view.row.get("phase") if view else None

    def group_lines(self, group: str) -> list[str]:
        row = self.groups[group].row
        if not row:
            return [f"{group}: waiting for the daemon's first status"]
        counts = row.get("counts") or {}
        out = [f"{group}  {row.get('phase')}  (since {str(row.get('since', ''))[11:19]})",
               f"  BLUE  {row.get('blue_app') or '-':<28} live {counts.get('blue_live', 0)}"
               f"  killed {counts.get('blue_killed', 0)}",
               f"  GREEN {row.get('green_app') or '-':<28} healthy {counts.get('green_healthy', 0)}"
               f"/{counts.get('target', row.get('target_instances', 0))}"
               f"  instances {counts.get('green_instances', 0)}"]
        if "pool_green" in counts:
            out.append(f"  pool  {pool_text(counts)}")
        for d in row.get("draining") or []:
            out.append(f"  draining {render.short_task(d.get('task', '?'))}: "
                       f"{render.pending_text(d.get('pending'))} pending operation(s)")
        for b in render.unique(list(row.get("blockers") or [])):
            out.append(f"  waiting: {b}")
        reason = row.get("paused_reason") or row.get("rollback_reason")
        if reason:
            out.append(f"  reason: {reason}")
        return out

    def screen(self) -> list[str]:
        """The whole view, for a terminal redraw."""
        if not self.groups:
            return ["no deployments yet (waiting for events)"]
        out: list[str] = []
        for group in sorted(self.groups):
            out.extend(self.group_lines(group))
            events = self.groups[group].events
            if events:
                out.append("  last events:")
                out.extend(f"    {e}" for e in events)
            out.append("")
        return out

    def summary_line(self, group: str) -> str:
        """One line per group for plain output: printed when it changes."""
        row = self.groups[group].row
        counts = row.get("counts") or {}
        drains = ", ".join(f"{render.short_task(d.get('task', '?'))}: {render.pending_text(d.get('pending'))}"
                           for d in row.get("draining") or [])
        blockers = "; ".join(render.unique(list(row.get("blockers") or [])))
        line = f"{group}: {row.get('phase')} · {render.counts_text(counts)}"
        line += f" · pending {drains}" if drains else ""
        return line + (f" · waiting: {blockers}" if blockers else "")

"""Retention of the SQLite state file: which history, delivery claims and commands are deleted.

Owns the deletion rules behind `StateStore.prune`, run inside the caller's transaction: history
beyond the newest `keep_per_group` of each group or finished before `before_s` goes, with the
hook delivery claims of its deployment (event ids are `<deployment>:<name>:<key>`, so one range
of the primary key); delivery claims and operator commands older than `before_s` go too. It must
never touch intents or leases, and reads no clock (`now_s` is given).
"""

from __future__ import annotations

import sqlite3

# finished_at is what the engine wrote: an ISO-8601 string, or epoch seconds
_FINISHED_S = ("CASE WHEN typeof(finished_at) IN ('integer', 'real') THEN finished_at"
               " ELSE CAST(strftime('%s', finished_at) AS REAL) END")


def prune(c: sqlite3.Connection, *, keep_per_group: int, before_s: float | None,
          now_s: float) -> dict[str, int]:
    """Delete what retention allows; returns the counts per table. `keep_per_group` 0 and
    `before_s` None mean no limit; `now_s` bounds the cutoff if the clock was set backwards."""
    doomed = _doomed_history(c, keep_per_group, before_s)
    deliveries = 0
    for row_id, deployment_id in doomed:
        c.execute("DELETE FROM history WHERE id = ?", (row_id,))
        prefix = f"{deployment_id}:"  # ids of this deployment sort in [prefix, prefix[:-1] + ";")
        deliveries += c.execute("DELETE FROM deliveries WHERE event_id >= ? AND event_id < ?",
                                (prefix, prefix[:-1] + ";")).rowcount
    commands = 0
    if before_s is not None:
        cutoff = min(before_s, now_s)
        deliveries += c.execute("DELETE FROM deliveries WHERE claimed_at < ?", (cutoff,)).rowcount
        commands = c.execute("DELETE FROM commands WHERE at < ?", (cutoff,)).rowcount
    return {"history": len(doomed), "deliveries": deliveries, "commands": commands}


def _doomed_history(c: sqlite3.Connection, keep_per_group: int,
                    before_s: float | None) -> list[tuple[int, str]]:
    doomed: dict[int, str] = {}
    if keep_per_group > 0:
        rows = c.execute(
            "SELECT id, deployment_id FROM (SELECT id, deployment_id, ROW_NUMBER() OVER"
            " (PARTITION BY group_name ORDER BY id DESC) AS rn FROM history) WHERE rn > ?",
            (keep_per_group,))
        doomed.update(rows.fetchall())
    if before_s is not None:
        rows = c.execute(f"SELECT id, deployment_id FROM history WHERE {_FINISHED_S} < ?", (before_s,))
        doomed.update(rows.fetchall())
    return sorted(doomed.items())

"""The invariants checked after every soak deployment; each violation is one line naming what was seen.

Owns: outcome (completed, or rolled back only when GREEN was really bad), the pool (HAProxy's
serving servers = the healthy running tasks of the serving app, given a few seconds to settle),
no orphan app, no lease held, history consistent (one record per deployment, naming its GREEN),
0 abandoned operations (except by tasks Marathon itself killed for failing health checks) and
0 failed requests (except those HAProxy refused while it was restarting). Must not: change the
world.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactor.cli.demo.ledger import LedgerEntry
from reactor.cli.demo.load import RequestRecord
from reactor.cli.demo.runtime import servers_state
from reactor.cli.demo.scenario import healthy_running_tasks
from tests.e2e.world import GROUP, World

POOL_SETTLE_S = 10.0
LEASE_SETTLE_S = 10.0


@dataclass
class Expected:
    green_id: str
    blue_id: str
    bad_green: bool
    instances: int
    history_len: int


@dataclass
class Verdict:
    outcome: str | None
    violations: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def check_outcome(record: dict[str, Any] | None, exp: Expected, v: Verdict) -> str:
    """The serving app id after this deployment (by its outcome)."""
    if record is None:
        v.violations.append("no history record for the deployment")
        return exp.blue_id
    v.outcome = str(record.get("outcome"))
    if record.get("green_app") != exp.green_id:
        v.violations.append(f"latest history record names GREEN {record.get('green_app')!r}, "
                            f"expected {exp.green_id!r}")
    want = "rolled_back" if exp.bad_green else "completed"
    if v.outcome != want:
        v.violations.append(f"outcome {v.outcome!r} (reason {record.get('reason')!r}), expected {want!r}")
    return exp.green_id if v.outcome == "completed" else exp.blue_id


def check_history(history: list[dict[str, Any]], exp: Expected, v: Verdict) -> None:
    if len(history) != exp.history_len:
        v.violations.append(f"history has {len(history)} records, expected {exp.history_len}")
    ids = [h.get("deployment_id") for h in history]
    if len(set(ids)) != len(ids):
        v.violations.append(f"history repeats a deployment id: {ids}")


async def check_apps(world: World, serving_id: str, exp: Expected, v: Verdict) -> dict[str, Any] | None:
    apps = await world.group_apps()
    ids = sorted(a["id"] for a in apps)
    if ids != [serving_id]:
        v.violations.append(f"group apps {ids}, expected only {serving_id} (orphan or missing app)")
    app = next((a for a in apps if a["id"] == serving_id), None)
    if app is not None and app["instances"] != exp.instances:
        v.violations.append(f"{serving_id} has {app['instances']} instances, expected {exp.instances}")
    return app


async def check_pool(world: World, serving_id: str, v: Verdict) -> None:
    """HAProxy's serving servers are exactly the healthy running tasks of the serving app. Checked
    once the deployment is over: BLUE's warm standby (a backup server during the rollback window)
    is gone with BLUE after a completed deployment; after a rollback a standby server that still
    carries sessions may keep its backup flag for a moment — it is a task of the serving app and
    counts as serving (the flag is fixed once it is idle)."""
    deadline = time.monotonic() + POOL_SETTLE_S
    while True:
        app = await world.app(serving_id)
        healthy = {("127.0.0.1", t["ports"][0]) for t in healthy_running_tasks(app or {}) if t.get("ports")}
        try:
            servers = await servers_state(world.hap.stats_socket, GROUP)
            pool = {(s.addr, s.port) for s in servers.values() if s.serving}
        except Exception as exc:  # HAProxy answering nothing is a finding, not a crash of the soak
            pool = {("error", str(exc))}  # type: ignore[arg-type]
        if pool == healthy and healthy:
            return
        if time.monotonic() > deadline:
            v.violations.append(f"pool {sorted(pool)} != healthy tasks of {serving_id} {sorted(healthy)}")
            return
        await _pause()


async def _pause() -> None:
    await asyncio.sleep(0.2)  # polling with a deadline (the caller's), not synchronisation


async def check_lease(db: Path, v: Verdict) -> None:
    """No lease on the group stays held once the deployment is over (expired or released)."""
    deadline = time.monotonic() + LEASE_SETTLE_S
    while True:
        held = _leases_held(db)
        if not held:
            return
        if time.monotonic() > deadline:
            v.violations.append(f"lease still held after the deployment: {held}")
            return
        await _pause()


def _leases_held(db: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT group_name, holder, expires_at FROM leases").fetchall()
    except sqlite3.Error:
        return []  # no table yet (or another backend): nothing held here
    now = time.time()
    return [(g, h) for g, h, exp in rows if g == GROUP and float(exp) > now]


def check_ledger(new_entries: list[LedgerEntry], health_killed: set[str], v: Verdict) -> None:
    by_reactor = [e for e in new_entries if e.task not in health_killed and e.abandoned]
    v.figures["abandoned"] = sum(e.abandoned for e in by_reactor)
    v.figures["abandoned_by_marathon_health_kills"] = sum(
        e.abandoned for e in new_entries if e.task in health_killed)
    if by_reactor:
        v.violations.append(f"abandoned operations: {[(e.task, e.abandoned) for e in by_reactor]}")


def check_requests(records: list[RequestRecord], lb_down: tuple[float, float] | None, v: Verdict) -> None:
    """`records`: this deployment's finished requests; `lb_down` in the load's own clock."""
    failed = [r for r in records if r.error is not None]
    excused = [r for r in failed if lb_down and r.start_s <= lb_down[1] + 0.5
               and (r.end_s or r.start_s) >= lb_down[0]]
    blamed = [r for r in failed if r not in excused]
    v.figures.update(requests=len(records), failed=len(blamed), failed_while_lb_down=len(excused))
    if blamed:
        reasons = sorted({str(r.error) for r in blamed})
        v.violations.append(f"{len(blamed)} failed requests: {reasons[:3]}")

"""GREEN turns unhealthy mid-way under load: the reactor rolls back by itself. No request fails,
BLUE is back at its full count and alone in the pool, GREEN is deleted; operations are abandoned
only by GREEN tasks that Marathon itself killed for failing health checks (counted, not hidden)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from reactor.cli.demo.load import LoadGenerator
from reactor.cli.demo.scenario import healthy_running_tasks
from tests.e2e.checks import CLOCK_SLACK_S, report
from tests.e2e.runs import run_ours
from tests.e2e.world import MarathonEvents, World

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
N = 4
UNHEALTHY_AFTER_S = 2.0  # each GREEN task fails its health checks 2 s after it started


async def _record_marathon_events(world: World, _load: LoadGenerator, extra: dict[str, Any]) -> None:
    async with MarathonEvents(world.lm.url) as events:
        extra["marathon_events"] = events
        await asyncio.Event().wait()  # until the deployment ends (cancelled by run_ours)


async def test_green_unhealthy_midway_rolls_back_under_load(workdir: Path) -> None:
    run = await run_ours(workdir, instances=N, batch_size=1,
                         green_env={"SAMPLE_UNHEALTHY_AFTER_S": str(UNHEALTHY_AFTER_S)},
                         during=_record_marathon_events)
    events: MarathonEvents = run.extra["marathon_events"]
    marathon_killed = {e.get("taskId") or e.get("instanceId")
                       for e in events.of_type("unhealthy_instance_kill_event")}
    by_task = run.ledger.by_task()
    abandoned_by_marathon = sum(by_task[t].abandoned for t in by_task if t in marathon_killed)
    report("rollback", run, reason=run.deploy.summary.get("reason"),
           marathon_health_kills=len(marathon_killed),
           abandoned_by_marathon_health_kills=abandoned_by_marathon)

    assert run.deploy.code == 1 and run.deploy.summary["outcome"] == "rolled_back", run.deploy.summary
    assert "unhealthy" in str(run.deploy.summary.get("reason"))
    names = run.deploy.names()
    assert names.index("traffic.shifted") < names.index("rollback.started")  # mid-way: GREEN had traffic
    assert "rollback.completed" in names
    load = run.load
    assert load["in_flight"] == 0 and load["sent"] == load["ok"] + load["failed"]
    assert run.failed == 0, f"failed requests: {load['failure_reasons']} {load['failures'][:5]}"
    # BLUE back at full count, healthy, alone; GREEN deleted
    assert len(run.apps_after) == 1, [a["id"] for a in run.apps_after]
    blue = run.apps_after[0]
    assert (blue.get("env") or {}).get("APP_VERSION") == "v1"
    assert blue["instances"] == N and len(healthy_running_tasks(blue)) == N
    # requests started after the rollback completed were answered by BLUE
    done = run.deploy.first("rollback.completed") - run.wall0
    late = [r for r in run.load_records if r.start_s > done + CLOCK_SLACK_S]
    assert late and all(r.version == "v1" for r in late)
    # nothing the reactor stopped had work in flight
    assert run.ledger.abandoned - abandoned_by_marathon == 0, run.ledger.to_dict()

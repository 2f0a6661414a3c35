"""Assertions shared by the end-to-end tests: zero downtime, nothing abandoned, a clean switch.

Owns the checks of a completed BLUE v1 → GREEN v2 run (`assert_clean_switch`) and the short
report line each test prints. Must not start anything.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.runs import OursRun

CLOCK_SLACK_S = 0.25  # engine event timestamps vs the load's clock (same host, wall vs monotonic)


def report(name: str, run: OursRun, **more: Any) -> None:
    t = run.timeline
    print(f"\nE2E {name}", json.dumps({
        **run.figures(), "timeline": {"blue_only": t.blue_only, "mixed": t.mixed, "green_only": t.green_only,
                                      "mixed_old": t.mixed_old, "mixed_new": t.mixed_new},
        "ledger_by_version": run.ledger.to_dict()["by_version"], **more}, default=str))


def assert_no_downtime(run: OursRun) -> None:
    load = run.load
    assert load["in_flight"] == 0 and load["sent"] == load["ok"] + load["failed"]
    assert run.failed == 0, f"failed requests: {load['failure_reasons']} {load['failures'][:5]}"
    assert run.ledger.abandoned == 0, f"abandoned operations: {run.ledger.to_dict()}"
    assert run.ledger.malformed_lines == 0 and run.ledger.partial_lines == 0


def assert_clean_switch(run: OursRun, instances: int) -> None:
    """Completed; 0 failed; 0 abandoned; BLUE only → mixed → GREEN only, in the deploy's order."""
    assert run.deploy.code == 0, run.deploy.summary
    assert run.deploy.summary["outcome"] == "completed"
    assert_no_downtime(run)
    by_version = run.ledger.by_version()
    assert by_version["v1"].tasks == instances  # every BLUE task was stopped and reported
    assert by_version["v2"].tasks == instances  # GREEN at full count (stopped with the world)
    t = run.timeline
    assert t.versions == ["v1", "v2"]
    assert t.blue_only > 0 and t.mixed > 0 and t.green_only > 0
    assert t.mixed_old > 0 and t.mixed_new > 0
    assert t.first_new_s is not None and t.last_old_s is not None
    # GREEN answers only once the reactor shifted traffic; BLUE's last answer precedes its last kill
    assert t.first_new_s >= run.deploy.first("traffic.shifted") - CLOCK_SLACK_S
    assert t.last_old_s <= run.deploy.last("blue.killed") + CLOCK_SLACK_S
    # every request started after completion was answered by GREEN
    done = run.deploy.first("deployment.completed") - run.wall0
    late = [r for r in run.load_records if r.start_s > done + CLOCK_SLACK_S]
    assert late and all(r.version == "v2" for r in late)
    # the group is GREEN alone at full count
    assert len(run.apps_after) == 1 and run.apps_after[0]["instances"] == instances

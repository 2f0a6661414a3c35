"""An app whose tasks have no ports (a worker reading a queue) deploys with drain source `none`.

`none` reads nothing from the task, so it needs no port; before, the drain watch of each BLUE
task failed ("no port at drain port index 0") and such a deployment could never finish. With a
source that reads the task, the deployment pauses once and says why (before: the watch failed
and was retried every second, without end and without a word in the status)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reactor.adapters.drain.models import DrainSpec
from reactor.core import labels as L
from reactor.settings import DrainSource
from tests.engine.harness import (
    BLUE_ID,
    BLUE_STARTED,
    GREEN_ID,
    GROUP,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)
from tests.engine.harness import green_def as _green_def


def portless(app_id: str, instances: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.01, "mem": 16, "instances": instances,
            "portDefinitions": [], "labels": {"LOCALMARATHON_STAGING_S": "0.05", **labels}}


async def test_a_portless_app_deploys_with_drain_source_none(tmp_path: Path) -> None:
    n = 3
    async with local_marathon() as (lm, rest):
        blue_labels = {L.GROUP: GROUP, L.STARTED_AT: L.format_timestamp(BLUE_STARTED)}
        await rest.create(portless(BLUE_ID, n, blue_labels))

        async def blue_running() -> bool:  # no health checks: a running task is a healthy one
            tasks = (await rest.apps()).get(BLUE_ID, {}).get("tasks", [])
            return sum(t.get("state") == "TASK_RUNNING" for t in tasks) == n and not await rest.deployments()
        await wait_until(blue_running, what="BLUE running")
        async with running_engine(make_settings(tmp_path, lm.url)) as run:
            await rest.create(portless(GREEN_ID, 0, _green_def(n)["labels"]))
            record = await run.wait_finished()
        apps = await rest.apps()
    assert record["outcome"] == "completed", record
    assert BLUE_ID not in apps and len(apps[GREEN_ID]["tasks"]) == n
    killed = [e for e in run.events() if e.name.value == "blue.killed"]
    assert sum(len(e.tasks) for e in killed) == n


async def test_a_portless_app_with_a_reading_drain_source_pauses_saying_why(tmp_path: Path) -> None:
    n = 2
    async with local_marathon() as (lm, rest):
        blue_labels = {L.GROUP: GROUP, L.STARTED_AT: L.format_timestamp(BLUE_STARTED)}
        await rest.create(portless(BLUE_ID, n, blue_labels))

        async def blue_running() -> bool:
            tasks = (await rest.apps()).get(BLUE_ID, {}).get("tasks", [])
            return sum(t.get("state") == "TASK_RUNNING" for t in tasks) == n and not await rest.deployments()
        await wait_until(blue_running, what="BLUE running")
        settings = make_settings(tmp_path, lm.url, drain={"source": "prometheus"})
        async with running_engine(settings) as run:
            await rest.create(portless(GREEN_ID, 0, _green_def(n)["labels"]))
            status = await run.wait_phase("paused")
            watched = set(run.engine.drains.observations())
            paused = [e for e in run.events() if e.name.value == "deployment.paused"]
        apps = await rest.apps()
    reason = status.intent.paused_reason
    assert "no port at the drain port index for drain source prometheus" in reason, reason
    assert "drain source none" in reason
    assert len(paused) == 1, " ".join(e.name.value for e in run.events())  # once, not once a round
    assert not watched  # nothing watched in vain
    assert len(apps[BLUE_ID]["tasks"]) == n  # no BLUE task was killed undrained
    assert not [e for e in run.events() if e.name.value == "blue.killed"]


def test_only_the_none_source_takes_a_task_without_a_port() -> None:
    assert DrainSpec("10.0.0.1", 0, DrainSource.NONE).port == 0
    for source in (DrainSource.PROMETHEUS, DrainSource.JSON, DrainSource.STREAM):
        with pytest.raises(ValueError, match="out of range"):
            DrainSpec("10.0.0.1", 0, source)

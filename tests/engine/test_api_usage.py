"""Marathon API use per deployment, measured by the embedded Marathon's request counters.

A deployment of N instances in batches of b costs exactly: one snapshot (GET /v2/apps +
GET /v2/deployments) per event-stream connection, the stream itself, ceil(N/b) GREEN scale-ups,
one kill-and-scale per drained BLUE batch (between ceil(N/b) and N), one DELETE of BLUE, and with
`bluegreen deploy` one list of apps and one create. Nothing is read while waiting.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reactor.cli.deploy_flow import DeployFlow
from tests.engine.harness import (
    BLUE_ID,
    Rest,
    app_def,
    blue_def,
    green_def,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)

READS = ("GET /v2/apps", "GET /v2/deployments", "GET /v2/events")


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def kill_batches(events: list[Any]) -> tuple[int, int]:
    killed = [e for e in events if e.name.value == "blue.killed"]
    return len(killed), sum(len(e.tasks) for e in killed)


async def test_deploy_costs_exactly_its_writes_and_reads_nothing_while_waiting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n, b = 4, 2
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(n))
        await rest.wait_app_healthy(BLUE_ID, n)
        before = await rest.stats()
        settings = make_settings(tmp_path, lm.url, deploy={"auto_promote": False})
        definition = app_def("/web", n, {}, health="healthy-after-1.0s")
        flow = DeployFlow(settings, definition, group="web", batch_size=b, json_output=True, tty=False)
        await flow.create_green()
        engine = flow.engine
        windows: list[tuple[dict[str, int], dict[str, int]]] = []
        events: list[Any] = []

        async def watch() -> None:
            async with engine.bus.subscribe() as sub:
                async for ev in sub:
                    events.append(ev)
                    if ev.name.value == "green.scaled" and not windows:
                        at_scale = await rest.stats()  # the PUT is done; next comes a 1 s health wait
                        st = await wait_until(lambda: _held(engine), what="held at promotion")
                        assert st
                        windows.append((at_scale, await rest.stats()))
                        await engine.control().command("web", "promote", source="test")

        watcher = asyncio.create_task(watch())
        code = await flow.drive()
        watcher.cancel()
        after = await rest.stats()
    capsys.readouterr()
    assert code == 0
    assert windows, "never saw the health wait"
    at_scale, at_hold = windows[0]
    assert at_hold == at_scale, f"requests during the health wait: {diff(at_hold, at_scale)}"
    used = diff(after, before)
    kills, killed_tasks = kill_batches(events)
    assert killed_tasks == n and math.ceil(n / b) <= kills <= n
    assert used == {
        "GET /v2/apps": 2,  # deploy's look for BLUE + the engine's snapshot
        "GET /v2/deployments": 1, "GET /v2/events": 1,
        "POST /v2/apps": 1, "PUT /v2/apps/{id}": math.ceil(n / b),
        "POST /v2/tasks/delete": kills, "DELETE /v2/apps/{id}": 1,
    }, used
    mine = Counter({f"{m} {r}": c for (m, r), c in engine.request_counts.items()})
    assert dict(mine) == {k: v for k, v in used.items() if k != "GET /v2/events"}


def _held(engine: Any) -> bool:
    st = engine.reconciler.status.get("web")
    return st is not None and st.intent.phase.value == "awaiting_promotion"


@pytest.mark.parametrize(("n", "b"), [(6, 3), (3, 1)])
async def test_daemon_deployment_requests_and_one_snapshot_per_stream_connection(
        tmp_path: Path, n: int, b: int) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(n))
        await rest.wait_app_healthy(BLUE_ID, n)
        before = await rest.stats()
        settings = make_settings(tmp_path, lm.url, deploy={"batch_size": b, "auto_promote": False})
        async with running_engine(settings) as run:
            await wait_until(lambda: run.engine.synced_once, what="first sync")
            await rest.create(green_def(n, health="healthy-after-0.3s"))
            await run.wait_phase("awaiting_promotion")
            held = await rest.stats()
            await _drop_streams(rest)
            for key in READS:
                await wait_until(_count_is(rest, key, held.get(key, 0) + 1),
                                 what=f"the engine reconnecting: {key}")
            reconnected = await rest.stats()
            await run.engine.control().command("web", "promote", source="test")
            record = await run.wait_finished()
        after = await rest.stats()
    assert record["outcome"] == "completed"
    again = diff(reconnected, held)
    assert again == {"GET /v2/events": 1, "GET /v2/apps": 1, "GET /v2/deployments": 1}, again
    used = diff(after, before)
    kills, killed_tasks = kill_batches(run.events())
    assert killed_tasks == n and math.ceil(n / b) <= kills <= n
    assert used == {
        "GET /v2/apps": 2,  # one snapshot per stream connection (2 connections)
        "GET /v2/deployments": 2, "GET /v2/events": 2,
        "POST /v2/apps": 1,  # the test creates GREEN
        # no GET of GREEN's definition: history keeps it (for undo) from the api_post_event
        "PUT /v2/apps/{id}": math.ceil(n / b), "POST /v2/tasks/delete": kills, "DELETE /v2/apps/{id}": 1,
    }, used
    kept = record["green_definition"]
    assert kept["id"] == "/web-green" and kept["instances"] >= 0 and "version" not in kept, kept


async def test_a_deployment_adopted_without_its_creation_event_reads_greens_definition_once(
        tmp_path: Path) -> None:
    """GREEN created while no reactor ran (a restart, a new replica): no api_post_event will come,
    so the adopting reactor reads the definition once, after its first write was sent."""
    n = 2
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(n))
        await rest.wait_app_healthy(BLUE_ID, n)
        await rest.create(green_def(n, health="healthy-after-0.3s"))
        before = await rest.stats()
        async with running_engine(make_settings(tmp_path, lm.url)) as run:
            record = await run.wait_finished()
        used = diff(await rest.stats(), before)
    assert record["outcome"] == "completed"
    assert used.get("GET /v2/apps/{id}") == 1, used
    assert record["green_definition"]["id"] == "/web-green" and "tasks" not in record["green_definition"]


def _count_is(rest: Rest, key: str, value: int) -> Any:
    async def check() -> bool:
        return (await rest.stats()).get(key, 0) >= value
    return check


async def _drop_streams(rest: Rest) -> None:
    async with rest.session.post(f"{rest.url}/_localmarathon/faults", json={"drop_event_streams": True}) as r:
        assert r.status == 200, await r.text()

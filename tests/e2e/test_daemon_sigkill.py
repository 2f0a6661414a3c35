"""The daemon path under load: GREEN is created with REST and the labels `bluegreen deploy` would
write (`instances: 0`); the daemon (`python -m reactor run`) takes over. It is SIGKILLed while a
BLUE task drains and started again on the same state file: the deployment completes with 0 failed
requests and 0 abandoned operations, and one history record."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from reactor.cli.demo.load import LoadGenerator
from reactor.core.labels import green_labels
from tests.e2e.checks import CLOCK_SLACK_S
from tests.e2e.daemon import ReactorDaemon
from tests.e2e.world import APP_ID, GROUP, LoadShape, World, now_utc, timeline, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
N = 4
GREEN_ID = APP_ID + "-v2"


async def _create(world: World, app_id: str, version: str, previous: str | None,
                  started_ago_s: float) -> None:
    started = now_utc() - timedelta(seconds=started_ago_s)
    labels = green_labels(group=GROUP, target_instances=N, started_at=started, previous=previous)
    body = {**world.definition(version, 0, labels=labels), "id": app_id}
    status, answer = await world.rest("POST", "/v2/apps", body)
    assert status == 201, answer


async def test_daemon_sigkilled_mid_drain_and_restarted(workdir: Path) -> None:
    shape = LoadShape()
    async with World(workdir) as world:
        daemon = ReactorDaemon(workdir, world.marathon_urls, world.hap.stats_socket)
        await daemon.start()
        try:
            await _create(world, APP_ID, "v1", None, started_ago_s=3600)  # first deploy, by the daemon
            await wait_for(lambda: _completed(daemon, 1), timeout_s=60, what="BLUE put into service")
            assert await world.serving() == N
            load: LoadGenerator = shape.generator(world.hap.url)
            wall0 = time.time()
            async with load:
                await load.wait_for(lambda s: s.ok >= shape.rate_per_s * 1.5, timeout_s=30)
                connected = asyncio.Event()
                killer = asyncio.create_task(daemon.kill_at("blue.draining", 2, connected))
                await asyncio.wait_for(connected.wait(), 10)
                await _create(world, GREEN_ID, "v2", APP_ID, started_ago_s=0)
                killed_at = await asyncio.wait_for(killer, 60)
                await daemon.wait_dead()
                await daemon.start()  # same config and state file
                history = await wait_for(lambda: _completed(daemon, 2), timeout_s=60,
                                         what="the deployment to complete after the restart")
                done_s = time.time() - wall0
                await load.wait_for(lambda _s: sum(1 for r in load.records if r.start_s > done_s
                                                   and r.end_s is not None) >= shape.rate_per_s,
                                    timeout_s=30)
                apps = await world.group_apps()
        finally:
            await daemon.stop()
    summary = load.summary().to_dict()
    ledger = world.ledger()
    t = timeline(load.records, wall0)
    print("\nE2E daemon-sigkill", {"failed": summary["failed"], "sent": summary["sent"],
                                   "abandoned": ledger.abandoned, "starts": daemon.starts,
                                   "killed_at_s": round(killed_at - wall0, 3), "history": history[0]})
    assert daemon.starts == 2
    assert [h["outcome"] for h in history] == ["completed", "completed"]  # one record per deployment
    assert history[0]["green_app"] == GREEN_ID
    assert summary["in_flight"] == 0 and summary["failed"] == 0, summary["failure_reasons"]
    assert ledger.abandoned == 0 and ledger.by_version()["v1"].tasks == N, ledger.to_dict()
    assert [a["id"] for a in apps] == [GREEN_ID] and apps[0]["instances"] == N
    assert t.versions == ["v1", "v2"] and t.blue_only > 0 and t.mixed > 0 and t.green_only > 0
    late = [r for r in load.records if r.start_s > done_s + CLOCK_SLACK_S]
    assert late and all(r.version == "v2" for r in late)


async def _completed(daemon: ReactorDaemon, n: int) -> list[dict] | None:
    history = await daemon.history()
    return history if len(history) >= n else None

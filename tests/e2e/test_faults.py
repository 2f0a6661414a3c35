"""Faults during a deployment under load, each fired at a chosen deploy event: Marathon's event
streams dropped twice, a leader change behind a standby URL, a burst of 503s. Each run must
complete with 0 failed requests, 0 abandoned operations and a clean switch, and show that the
fault really hit the reactor (streams reconnected, 503s answered to it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.checks import assert_clean_switch, report
from tests.e2e.runs import run_ours
from tests.e2e.world import At, World

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
N = 4


async def test_event_streams_dropped_twice(workdir: Path) -> None:
    def faults(world: World) -> list[At]:
        drop = {"drop_event_streams": True}
        return [At("green.scaled", 2, lambda: world.fault(drop)),
                At("blue.draining", 3, lambda: world.fault(drop))]

    run = await run_ours(workdir, instances=N, batch_size=1, at=faults)
    reconnects = run.deploy.counter("bluegreen_event_stream_reconnects_total")
    report("streams-dropped-twice", run, reconnects=reconnects,
           dropped=[t.result for t in run.deploy.triggers])
    assert all(t.result and t.result["dropped_streams"] >= 1 for t in run.deploy.triggers)
    assert reconnects >= 2
    assert_clean_switch(run, N)


async def test_leader_change_with_standby_redirect(workdir: Path) -> None:
    """The reactor is given [standby, leader]; the standby 302-redirects /v2/events to the leader
    and proxies REST. A leader change drops every stream mid-drain."""
    def faults(world: World) -> list[At]:
        return [At("blue.draining", 2, lambda: world.fault({"leader_change": True}))]

    run = await run_ours(workdir, instances=N, batch_size=1, standby=True, at=faults)
    reconnects = run.deploy.counter("bluegreen_event_stream_reconnects_total")
    report("leader-change", run, reconnects=reconnects, dropped=run.deploy.triggers[0].result)
    assert run.deploy.triggers[0].result["dropped_streams"] >= 1
    assert reconnects >= 1
    assert_clean_switch(run, N)


async def test_burst_of_503s_within_client_retries(workdir: Path) -> None:
    """Marathon answers the next 3 REST calls with 503 right when GREEN's 2nd batch is healthy:
    the client's own retries (4 attempts) absorb them; the LB step needs no Marathon call."""
    def faults(world: World) -> list[At]:
        burst = {"fail_next": {"count": 3, "status": 503, "route_prefix": "/v2/"}}
        return [At("green.healthy", 2, lambda: world.fault(burst))]

    run = await run_ours(workdir, instances=N, batch_size=1, at=faults)
    answered_503 = run.deploy.counter("bluegreen_marathon_requests_total", status="503")
    report("503-burst-3", run, answered_503=answered_503)
    assert answered_503 >= 1  # the burst reached the reactor's own calls
    assert_clean_switch(run, N)


async def test_burst_of_503s_longer_than_client_retries(workdir: Path) -> None:
    """6 x 503 from the moment GREEN's 2nd batch is healthy: the kill-and-scale fails after the
    client's 4 attempts. The deployment must still finish promptly (well under the health
    timeout) with nothing lost, and every BLUE kill must be announced."""
    def faults(world: World) -> list[At]:
        burst = {"fail_next": {"count": 6, "status": 503, "route_prefix": "/v2/"}}
        return [At("green.healthy", 2, lambda: world.fault(burst))]

    run = await run_ours(workdir, instances=N, batch_size=1, at=faults, deploy_timeout_s=45.0)
    report("503-burst-6", run,
           answered_503=run.deploy.counter("bluegreen_marathon_requests_total", status="503"))
    assert_clean_switch(run, N)
    assert run.deploy.names().count("blue.killed") == N

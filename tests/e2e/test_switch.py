"""BLUE → GREEN under load with real components: 0 failed requests, 0 abandoned operations, and
the switch timeline (BLUE only → mixed → GREEN only) in the order of the reactor's deploy events."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.checks import assert_clean_switch, report
from tests.e2e.runs import run_ours

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
N = 4


async def test_batch_1_prometheus_drain(workdir: Path) -> None:
    run = await run_ours(workdir, instances=N, batch_size=1)
    report("batch1-prometheus", run)
    assert_clean_switch(run, N)
    names = run.deploy.names()
    assert names.count("green.scaled") == N and names.count("blue.killed") == N
    # one BLUE task at a time: each kill precedes the next GREEN scale-up
    order = [n for n in names if n in ("green.scaled", "blue.killed")]
    assert order == ["green.scaled", "blue.killed"] * N


async def test_batch_2_prometheus_drain(workdir: Path) -> None:
    run = await run_ours(workdir, instances=N, batch_size=2)
    report("batch2-prometheus", run)
    assert_clean_switch(run, N)
    assert run.deploy.names().count("green.scaled") == N // 2


async def test_batch_2_stream_drain(workdir: Path) -> None:
    run = await run_ours(workdir, instances=N, batch_size=2, drain_source="stream")
    report("batch2-stream", run)
    assert_clean_switch(run, N)

"""HAProxy restarted mid-deployment under load: a fresh process has none of the runtime-added
servers. What HAProxy itself drops (connections open at the restart, requests refused while it is
down) is HAProxy's; what is ours is how fast the reactor refills the pool and that it completes
without abandoning work. The failures are counted by window, honestly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from reactor.cli.demo.load import LoadGenerator
from tests.e2e.checks import report
from tests.e2e.runs import run_ours
from tests.e2e.world import At, World

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
N = 4


async def _sample_pool(world: World, _load: LoadGenerator, extra: dict[str, Any]) -> None:
    samples: list[tuple[float, int]] = []  # (time.time(), serving servers)
    extra["pool"] = samples
    while True:
        samples.append((time.time(), await world.serving()))
        await asyncio.sleep(0.02)  # a sampling period, not synchronization


async def _restart_run(workdir: Path) -> tuple[Any, dict[str, Any]]:
    restart: dict[str, float] = {}

    def faults(world: World) -> list[At]:
        async def restart_haproxy() -> None:
            restart["begin"] = time.time()
            await world.hap.restart()
            restart["end"] = time.time()
        return [At("blue.draining", 2, restart_haproxy)]

    run = await run_ours(workdir, instances=N, batch_size=1, at=faults, during=_sample_pool)
    after = [(t, n) for t, n in run.extra["pool"] if t >= restart["end"]]
    # refilled = the pool is whole again (N, less the one task being drained). The reactor adds
    # servers one runtime-API command at a time, so a sample taken mid-refill sees 1..N-2 servers:
    # counting from the first server back (as this test once did) made the capacity check
    # below fail by chance whenever a 20 ms sample landed inside the refill.
    refilled_at = next((t for t, n in after if n >= N - 1), None)
    failures = [r for r in run.load_records if r.error is not None]
    begin_s, end_s = restart["begin"] - run.wall0, restart["end"] - run.wall0
    done_s = run.deploy.first("deployment.completed") - run.wall0 if run.deploy.code == 0 else float("inf")
    figures = {
        "restart_s": round(restart["end"] - restart["begin"], 3),
        "refill_s": None if refilled_at is None else round(refilled_at - restart["end"], 3),
        "failed_open_or_sent_while_haproxy_down": sum(
            1 for r in failures if r.start_s <= end_s and (r.end_s or 0) >= begin_s),
        "failed_after_haproxy_up": sum(1 for r in failures if r.start_s > end_s),
        "reasons_after": sorted({str(r.error) for r in failures if r.start_s > end_s}),
        "min_serving_after_refill": min(
            (n for t, n in after if refilled_at and refilled_at <= t <= run.wall0 + done_s), default=None),
    }
    report("haproxy-restart", run, **figures)
    return run, figures


async def test_haproxy_restarted_mid_deployment(workdir: Path) -> None:
    """What the product does today: it puts GREEN back within a fraction of a second (the
    requests HAProxy refuses meanwhile are counted, not asserted away) and completes with 0
    abandoned operations."""
    run, figures = await _restart_run(workdir)
    assert run.deploy.code == 0 and run.deploy.summary["outcome"] == "completed", run.deploy.summary
    assert run.ledger.abandoned == 0, run.ledger.to_dict()  # nothing the reactor killed had work
    assert figures["refill_s"] is not None, "the reactor never put servers back into the new HAProxy"
    assert figures["reasons_after"] in ([], ["status 503"])  # "no server available" until refilled
    assert len(run.apps_after) == 1 and run.apps_after[0]["instances"] == N


async def test_haproxy_restart_keeps_serving_capacity(workdir: Path) -> None:
    _run, figures = await _restart_run(workdir)
    assert figures["min_serving_after_refill"] is not None
    assert figures["min_serving_after_refill"] >= N - 1  # at most the one task being drained is out

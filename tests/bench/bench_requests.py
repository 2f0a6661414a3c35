"""Marathon requests per blue-green deployment, counted by the embedded Marathon.

    .venv/bin/python -m tests.bench.bench_requests

For N = 2, 8, 32 BLUE instances and batch sizes 1 and N/4, runs `bluegreen deploy`'s in-process
flow (DeployFlow: list apps, create GREEN, drive the Engine) against LocalMarathon (virtual tasks,
GREEN healthy 0.3 s after start, lb none, drain none) and prints reads and writes per deployment,
and the reads per minute measured while the engine waits for GREEN's health (expected: 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from reactor.cli.deploy_flow import DeployFlow
from tests.engine.harness import BLUE_ID, Rest, app_def, blue_def, local_marathon, make_settings

HEALTH_AFTER_S = 0.3


def _split(d: dict[str, int]) -> tuple[int, int, int]:
    reads = sum(v for k, v in d.items() if k.startswith("GET ") and k != "GET /v2/events")
    streams = d.get("GET /v2/events", 0)
    writes = sum(v for k, v in d.items() if not k.startswith("GET "))
    return reads, writes, streams


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


async def one(n: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with local_marathon() as (lm, rest):
            await rest.create(blue_def(n))
            await rest.wait_app_healthy(BLUE_ID, n, timeout_s=60)
            before = await rest.stats()
            settings = make_settings(Path(tmp), lm.url, deploy={"health_timeout_s": 120})
            definition = app_def("/web", n, {}, health=f"healthy-after-{HEALTH_AFTER_S}s")
            flow = DeployFlow(settings, definition, group="web", batch_size=batch, json_output=True,
                              tty=False)
            waits: list[tuple[float, int]] = []  # (seconds waited, reads during the wait)
            started = time.monotonic()
            with contextlib.redirect_stdout(io.StringIO()):
                await flow.create_green()
                watcher = asyncio.create_task(_measure_waits(flow, rest, waits))
                code = await flow.drive()
            watcher.cancel()
            elapsed = time.monotonic() - started
            used = _diff(await rest.stats(), before)
    reads, writes, streams = _split(used)
    waited = sum(w for w, _ in waits)
    return {"n": n, "batch": batch, "ok": code == 0, "reads": reads, "streams": streams, "writes": writes,
            "scale": used.get("PUT /v2/apps/{id}", 0), "kill": used.get("POST /v2/tasks/delete", 0),
            "delete": used.get("DELETE /v2/apps/{id}", 0), "create": used.get("POST /v2/apps", 0),
            "expected_scale": math.ceil(n / batch), "elapsed_s": elapsed, "waited_s": waited,
            "reads_per_min_waiting": (sum(r for _, r in waits) / waited * 60) if waited else float("nan")}


async def _measure_waits(flow: DeployFlow, rest: Rest, waits: list[tuple[float, int]]) -> None:
    """From each `green.scaled` (the PUT is done) to the next `green.healthy`: count GETs."""
    async with flow._engine.bus.subscribe() as sub:
        mark: tuple[float, dict[str, int]] | None = None
        async for ev in sub:
            if ev.name.value == "green.scaled":
                mark = (time.monotonic(), await rest.stats())
            elif ev.name.value == "green.healthy" and mark is not None:
                now, stats = time.monotonic(), await rest.stats()
                reads, _, _ = _split(_diff(stats, mark[1]))
                waits.append((now - mark[0], reads))
                mark = None


async def main() -> None:
    rows = []
    for n in (2, 8, 32):
        for batch in sorted({1, max(1, n // 4)}):
            rows.append(await one(n, batch))
    head = (f"{'N':>3} {'batch':>5} {'ok':>3} {'writes':>6} {'(create scale kill delete)':>27} {'reads':>5} "
            f"{'streams':>7} {'total':>5} {'deploy s':>8} {'waited s':>8} {'reads/min waiting':>17}")
    print(head)
    print("-" * len(head))
    for r in rows:
        detail = f"{r['create']} {r['scale']}/{r['expected_scale']} {r['kill']} {r['delete']}"
        print(f"{r['n']:>3} {r['batch']:>5} {'yes' if r['ok'] else 'NO':>3} {r['writes']:>6} {detail:>27} "
              f"{r['reads']:>5} {r['streams']:>7} {r['reads'] + r['writes'] + r['streams']:>5} "
              f"{r['elapsed_s']:>8.2f} {r['waited_s']:>8.2f} {r['reads_per_min_waiting']:>17.1f}")
    print("\nreads = GET /v2/apps (deploy's look for BLUE + one snapshot per stream connection) and "
          "GET /v2/deployments (snapshot); streams = GET /v2/events connections; "
          "scale shown as done/ceil(N/b)")


if __name__ == "__main__":
    asyncio.run(main())

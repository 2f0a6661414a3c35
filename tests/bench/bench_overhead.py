"""The reactor's own overhead: deployment wall time minus the waits the app imposes.

    .venv/bin/python -m tests.bench.bench_overhead [RUNS]

Real components under load (embedded Marathon with the process executor, HAProxy, sample-app
tasks, 40 req/s with 25 % slow /work of 300-1200 ms), BLUE v1 → GREEN v2, 4 instances, batch 1,
with the `prometheus` drain (polled every 0.1 s) and the `stream` drain (pushed). From the deploy
events of each run:

- health waits: `green.scaled` → `green.healthy` (task start + Marathon's health checks)
- drain waits: `blue.draining` → `blue.drained` (the app finishing its pending operations; for
  `prometheus` this includes up to one poll interval)
- overhead = (`deployment.started` → `deployment.completed`) minus the union of those waits: planning,
  Marathon and HAProxy calls, the store's write-ahead, reactions, Marathon finishing kills and
  deleting BLUE. Target: ≤ 5 % of the total or ≤ 100 ms per batch.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from reactor.logs import configure
from tests.e2e.machine import header
from tests.e2e.runs import run_ours

INSTANCES = 4


def intervals(events: list[tuple[str, float]], start: str, end: str) -> list[tuple[float, float]]:
    out, opened = [], None
    for name, t in events:
        if name == start and opened is None:
            opened = t
        elif name == end and opened is not None:
            out.append((opened, t))
            opened = None
    return out


def union_s(spans: list[tuple[float, float]]) -> float:
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted(spans):
        if cur_b is None or a > cur_b:
            if cur_b is not None and cur_a is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_a is not None and cur_b is not None:
        total += cur_b - cur_a
    return total


async def one(drain_source: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bgovh-") as tmp:
        run = await run_ours(Path(tmp), instances=INSTANCES, batch_size=1, drain_source=drain_source)
    ev = run.deploy.events
    total = run.deploy.first("deployment.completed") - run.deploy.first("deployment.started")
    health = intervals(ev, "green.scaled", "green.healthy")
    drain = intervals(ev, "blue.draining", "blue.drained")
    waits = union_s(health + drain)
    batches = len(health)
    return {"ok": run.deploy.code == 0 and run.failed == 0 and run.ledger.abandoned == 0, "total": total,
            "health": sum(b - a for a, b in health), "drain": sum(b - a for a, b in drain),
            "overhead": total - waits, "batches": batches, "cli_total": run.deploy.summary["duration_s"]}


async def main(runs: int) -> None:
    configure(fmt="console", level="error")
    rows = []
    for source in ("prometheus", "stream"):
        for _ in range(runs):
            rows.append((source, await one(source)))
    print(header(f"bench_overhead: {INSTANCES} → {INSTANCES} instances, batch 1, under load, {runs} runs per "
                 f"drain source"))
    head = (f"{'drain':<11} {'ok':>3} {'total s':>8} {'health s':>9} {'drain s':>8} {'overhead s':>10} "
            f"{'% of total':>10} {'ms/batch':>9} {'deploy CLI s':>12}")
    print(head)
    print("-" * len(head))
    for source, r in rows:
        print(f"{source:<11} {'yes' if r['ok'] else 'NO':>3} {r['total']:>8.2f} {r['health']:>9.2f} "
              f"{r['drain']:>8.2f} {r['overhead']:>10.3f} {r['overhead'] / r['total']:>10.1%} "
              f"{r['overhead'] / r['batches'] * 1000:>9.0f} {r['cli_total']:>12.2f}")
    for source in ("prometheus", "stream"):
        rs = [r for s, r in rows if s == source]
        per_batch = statistics.median(r["overhead"] / r["batches"] * 1000 for r in rs)
        share = statistics.median(r["overhead"] / r["total"] for r in rs)
        met = "met" if share <= 0.05 or per_batch <= 100 else "NOT met"
        print(f"median {source:<10}: overhead {share:.1%} of the deployment, {per_batch:.0f} ms per batch "
              f"(target: <= 5 % or <= 100 ms per batch: {met})")
    print("\ntotal = deployment.started → deployment.completed (engine events); deploy CLI s also counts "
          "creating GREEN and the engine's first sync")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))

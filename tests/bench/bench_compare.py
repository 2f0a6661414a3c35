"""Ours vs what users do today, under the same load, N runs each.

    .venv/bin/python -m tests.bench.bench_compare [RUNS]

Ours: BLUE v1 → GREEN v2 by the reactor (batch 1, drain on the app's pending operations,
HAProxy runtime API). Baseline: `reactor.cli.demo.baseline.run_baseline` — Marathon's rolling
restart of the same app id (default upgradeStrategy) behind a marathon-lb-style HAProxy sync.
Same load on both sides (50 req/s, 20 % slow /work of 200-800 ms, seed 7), same app definition
(the sample app's defaults), 4 instances; the baseline with HAProxy retries off and on, ours with
retries off (as in the demo) and on. Nothing is tuned on either side. Prints one row per run and
a summary (failed requests, abandoned operations, deployment seconds).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from reactor.cli.demo.baseline import run_baseline
from reactor.cli.demo.haproxy import DEFAULT_RETRY_ON
from reactor.logs import configure
from tests.e2e.machine import header
from tests.e2e.runs import run_ours
from tests.e2e.world import LoadShape

INSTANCES = 4
SHAPE = LoadShape(rate_per_s=50.0, slow_fraction=0.2, slow_ms=(200, 800), seed=7)  # run_baseline's


async def ours(retry_on: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bgcmp-") as tmp:
        run = await run_ours(Path(tmp), instances=INSTANCES, batch_size=1, shape=SHAPE, health={},
                             retry_on=retry_on, warmup_s=1.0, tail_s=1.0)
    f = run.figures()
    return {"failed": f["failed_requests"], "abandoned": f["abandoned_operations"],
            "deploy_s": f["deployment_s"], "sent": f["sent"], "ok": f["outcome"] == "completed",
            "reasons": f["failure_reasons"]}


async def baseline(retry_on: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bgcmp-") as tmp:
        r = await run_baseline(Path(tmp), instances=INSTANCES, rate_per_s=SHAPE.rate_per_s,
                               slow_fraction=SHAPE.slow_fraction, slow_ms=SHAPE.slow_ms, warmup_s=1.0,
                               tail_s=1.0, haproxy_retry_on=retry_on, seed=SHAPE.seed)
    return {"failed": r["failed_requests"], "abandoned": r["abandoned_operations"],
            "deploy_s": r["deployment_s"], "sent": r["requests"]["sent"], "ok": r["tail_versions"] == ["v2"],
            "reasons": r["requests"]["failure_reasons"]}


SIDES = [
    ("ours, retries off", lambda: ours(None)),
    ("ours, retries on", lambda: ours(DEFAULT_RETRY_ON)),
    ("baseline, retries off", lambda: baseline(None)),
    ("baseline, retries on", lambda: baseline(DEFAULT_RETRY_ON)),
]


async def main(runs: int) -> None:
    configure(fmt="console", level="error")  # the table only
    print(header(f"bench_compare: {INSTANCES} instances, {SHAPE.rate_per_s:.0f} req/s, "
                 f"{SHAPE.slow_fraction:.0%} slow {SHAPE.slow_ms[0]}-{SHAPE.slow_ms[1]} ms, "
                 f"{runs} runs each"))
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SIDES}
    for i in range(runs):
        for name, side in SIDES:  # interleaved, so drift of the machine hits every side alike
            r = await side()
            rows[name].append(r)
            print(f"  run {i + 1} {name:<22} done={'yes' if r['ok'] else 'NO'} sent={r['sent']:>4} "
                  f"failed={r['failed']:>3} abandoned={r['abandoned']:>3} deploy={r['deploy_s']:>6.2f}s "
                  f"{r['reasons'] or ''}", flush=True)
    print()
    head = (f"{'side':<22} {'runs':>4} {'failed req (sum)':>16} {'failed/run':>10} {'abandoned (sum)':>15} "
            f"{'abandoned/run':>13} {'deploy s median':>15} {'min-max':>13}")
    print(head)
    print("-" * len(head))
    for name, rs in rows.items():
        failed = [r["failed"] for r in rs]
        abandoned = [r["abandoned"] for r in rs]
        dur = [r["deploy_s"] for r in rs]
        print(f"{name:<22} {len(rs):>4} {sum(failed):>16} {statistics.mean(failed):>10.1f} "
              f"{sum(abandoned):>15} {statistics.mean(abandoned):>13.1f} {statistics.median(dur):>15.2f} "
              f"{min(dur):>6.2f}-{max(dur):<6.2f}")
    print("\nfailed = connection errors, timeouts or non-2xx seen by the client; abandoned = pending "
          "operations of a task when it got SIGTERM (the sample app's ledger); deploy s: ours from GREEN "
          "created to BLUE deleted, baseline from PUT to Marathon's deployment gone")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))

"""Benchmark of the drain watcher: drained-event latency and the cost of watching many tasks.

Run: .venv/bin/python -m tests.bench.bench_drain [--runs-slow 40] [--runs-fast 100] [--tasks 200]
      [--window-s 10]

1. Latency: a real `bluegreen sample-app` process; each run sends one /work?ms=N and measures from
   the moment its response arrives to the DRAINED event (p50/p99), for polling at 0.25 s and
   0.05 s and for the SSE stream. N is longer than the poll interval so the watcher sees the work.
2. Cost: one helper process serves the sample app on `--tasks` listening ports (one pending
   operation held, so nothing drains); this process watches all of them and reports its own
   CPU %, RSS, HTTP requests/s, asyncio tasks and threads over a window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from reactor.adapters.drain import DrainEvent, DrainEventKind, DrainSource, DrainSpec, DrainWatcher
from reactor.sampleapp import SampleSettings, build_app
from tests.sampleapp.support import running_sample_app

PATHS = {DrainSource.PROMETHEUS: ("/metrics", "pending_operations"),
         DrainSource.JSON: ("/metrics.json", "gauges.pending_operations.value"),
         DrainSource.STREAM: ("/metrics/stream", "pending_operations")}


def spec(port: int, source: DrainSource, interval_s: float) -> DrainSpec:
    path, metric = PATHS[source]
    return DrainSpec("127.0.0.1", port, source, path=path, metric=metric, interval_s=interval_s)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latency_runs(source: DrainSource, interval_s: float, runs: int) -> list[float]:
    drained: list[DrainEvent] = []
    arrived = asyncio.Event()

    def on_event(event: DrainEvent) -> None:
        if event.kind is DrainEventKind.DRAINED:
            drained.append(event)
            arrived.set()

    latencies: list[float] = []
    async with running_sample_app() as app, aiohttp.ClientSession() as s, DrainWatcher(on_event) as w:
        w.watch("bench", spec(app.port, source, interval_s))
        await asyncio.wait_for(arrived.wait(), 10)
        for _ in range(runs):
            before = len(drained)
            hold_s = (interval_s + 0.1 + random.uniform(0, interval_s)) if source is not DrainSource.STREAM \
                else random.uniform(0.02, 0.06)
            async with s.get(f"{app.url}/work?ms={int(hold_s * 1000)}") as resp:
                done_at = time.monotonic()
                assert resp.status == 200
            while len(drained) == before:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 10)
            latencies.append(drained[before].at_monotonic - done_at)
    return latencies


async def serve(n: int) -> None:
    """Helper process: one sample app on n loopback ports; prints the ports, runs until killed."""
    runner = web.AppRunner(build_app(SampleSettings(version="bench", task_id="bench")), access_log=None)
    await runner.setup()
    for _ in range(n):
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=512).start()
    print(json.dumps([a[1] for a in runner.addresses]), flush=True)
    await asyncio.Event().wait()


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def cost(ports: list[int], source: DrainSource, interval_s: float, window_s: float) -> dict[str, Any]:
    kinds: dict[DrainEventKind, int] = {}

    def on_event(event: DrainEvent) -> None:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1

    rss_before = rss_mib()
    async with DrainWatcher(on_event) as w:
        for i, port in enumerate(ports):
            w.watch(f"task-{i}", spec(port, source, interval_s))
        await asyncio.sleep(min(2.0, window_s / 4))  # warm-up: connections opened, first reads done
        cpu0, wall0, req0 = time.process_time(), time.monotonic(), w.requests_made
        await asyncio.sleep(window_s)
        cpu1, wall1, req1 = time.process_time(), time.monotonic(), w.requests_made
        progress_seen = sum(1 for o in w.observations().values() if o.pending == 1)
        row = {"mode": f"{source}" + (f" @{interval_s}s" if source is not DrainSource.STREAM else ""),
               "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
               "rss_mib": rss_mib(), "rss_delta_mib": rss_mib() - rss_before,
               "req_s": (req1 - req0) / (wall1 - wall0),
               "tasks": len(asyncio.all_tasks()), "threads": threading.active_count(),
               "seen_pending_1": progress_seen, "unknown_events": kinds.get(DrainEventKind.UNKNOWN, 0)}
    return row


def spawn_server(n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.bench.bench_drain", "--serve", str(n)],
                            stdout=subprocess.PIPE)


async def bench(args: argparse.Namespace) -> None:
    print("== drained-event latency after the last pending operation completes ==")
    print(f"{'mode':<22}{'runs':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for source, interval_s, runs in ((DrainSource.PROMETHEUS, 0.25, args.runs_slow),
                                     (DrainSource.PROMETHEUS, 0.05, args.runs_fast),
                                     (DrainSource.STREAM, 0.25, args.runs_fast)):
        lat = [x * 1000 for x in await latency_runs(source, interval_s, runs)]
        mode = "stream (SSE)" if source is DrainSource.STREAM else f"{source} @{interval_s}s"
        p50, p99 = statistics.median(lat), pct(lat, 0.99)
        print(f"{mode:<22}{len(lat):>6}{p50:>10.1f}{p99:>10.1f}{max(lat):>10.1f}")

    proc = spawn_server(args.tasks)
    try:
        assert proc.stdout is not None
        ports: list[int] = json.loads(proc.stdout.readline())
        async with aiohttp.ClientSession() as s:  # one operation held: every task has pending 1
            hold = asyncio.create_task(s.get(f"http://127.0.0.1:{ports[0]}/work?ms=3600000"))
            await asyncio.sleep(0.2)
            print(f"\n== cost of watching {len(ports)} tasks (this process only; window {args.window_s}s) ==")
            cols = ("mode", "cpu_pct", "rss_mib", "rss_delta_mib", "req_s", "tasks", "threads",
                    "seen_pending_1", "unknown_events")
            print("".join(f"{c:>16}" for c in cols))
            for source, interval_s in ((DrainSource.PROMETHEUS, 0.25), (DrainSource.JSON, 0.25),
                                       (DrainSource.PROMETHEUS, 0.05), (DrainSource.STREAM, 0.25)):
                row = await cost(ports, source, interval_s, args.window_s)
                print("".join(f"{row[c]:>16.1f}" if isinstance(row[c], float) else f"{row[c]:>16}"
                              for c in cols))
            hold.cancel()
    finally:
        proc.kill()
        proc.wait()
    print(f"\npeak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs-slow", type=int, default=40, help="runs for polling at 0.25 s")
    p.add_argument("--runs-fast", type=int, default=100, help="runs for polling at 0.05 s and stream")
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--window-s", type=float, default=10.0)
    p.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(serve(args.serve) if args.serve else bench(args))


if __name__ == "__main__":
    main()

"""Benchmark: reaction latency and the reactor's cost with many groups deploying at once.

Run: .venv/bin/python -m tests.bench.bench_engine [--groups 50] [--instances 4] [--sequential 20]

The embedded Marathon runs as a separate process (virtual executor, health checks every 0.2 s);
the reactor (one daemon Engine, lb none, drain none) runs in this process, so the CPU and RSS
printed are the reactor's own. Reaction latency = Marathon event (or drain event) received →
the first write it led to sent (Engine.reactions, the raw samples behind
bluegreen_reaction_seconds). Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from reactor import logs
from reactor.cli.demo.scenario import start_local_marathon_subprocess
from reactor.core import labels as L
from reactor.engine.engine import Engine
from reactor.settings import Settings

OLD = datetime(2026, 1, 1, tzinfo=UTC)


def app(app_id: str, instances: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.01, "mem": 16, "instances": instances,
            "portDefinitions": [{"port": 0}],
            "healthChecks": [{"protocol": "HTTP", "path": "/", "gracePeriodSeconds": 5,
                              "intervalSeconds": 0.2, "timeoutSeconds": 0.1}],
            "labels": {"LOCALMARATHON_HEALTH": "healthy", "LOCALMARATHON_STAGING_S": "0.05", **labels}}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait(cond: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def healthy_counts(http: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with http.get(f"{url}/v2/apps") as r:
        return {a["id"]: a["tasksHealthy"] for a in (await r.json())["apps"]}


async def run(groups: int, instances: int, workdir: Path) -> dict[str, Any]:
    async with start_local_marathon_subprocess(executor="virtual", workdir=workdir,
                                               extra_args=("--lenient",)) as lm, \
            aiohttp.ClientSession() as http:
        for g in range(groups):
            body = app(f"/g{g}/blue", instances, {L.GROUP: f"g{g}", L.STARTED_AT: L.format_timestamp(OLD)})
            async with http.post(f"{lm.url}/v2/apps", json=body) as r:
                assert r.status == 201, await r.text()

        async def blues_ok() -> bool:
            counts = await healthy_counts(http, lm.url)
            return sum(counts.get(f"/g{g}/blue", 0) for g in range(groups)) == groups * instances
        await wait(blues_ok, 120, "BLUE apps healthy")
        settings = Settings.model_validate({
            "marathon": {"urls": [lm.url]}, "lb": {"driver": "none"}, "drain": {"source": "none"},
            "api": {"listen": "127.0.0.1:0"}, "state": {"path": str(workdir / "bench.db")},
            "log": {"level": "warning"}})
        async with Engine(settings, serve_api=False) as engine:
            runner = asyncio.create_task(engine.run())
            await asyncio.wait_for(engine.ready.wait(), 30)
            cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            now = datetime.now(UTC)
            for g in range(groups):
                labels = L.green_labels(group=f"g{g}", target_instances=instances,
                                        started_at=now + timedelta(milliseconds=g), previous=f"/g{g}/blue")
                async with http.post(f"{lm.url}/v2/apps", json=app(f"/g{g}/green", 0, labels)) as r:
                    assert r.status == 201, await r.text()

            async def all_done() -> bool:
                return len(await engine.backend.list_history(limit=10_000)) >= groups
            await wait(all_done, 300, "all groups finished")
            wall = time.monotonic() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            outcomes: dict[str, int] = defaultdict(int)
            for rec in await engine.backend.list_history(limit=10_000):
                outcomes[rec["outcome"]] += 1
            engine.stop()
            await runner
        cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        return {"wall_s": wall, "cpu_s": cpu_s, "rss_mb": rss_mb(),
                "maxrss_mb": cpu1.ru_maxrss / 1024, "outcomes": dict(outcomes),
                "reactions": list(engine.reactions), "requests": sum(engine.request_counts.values()),
                "by_route": dict(engine.request_counts)}


def report(title: str, r: dict[str, Any]) -> None:
    by: dict[str, list[float]] = defaultdict(list)
    for trigger, s in r["reactions"]:
        by[trigger].append(s * 1000)
    every = [s * 1000 for _, s in r["reactions"]]
    print(f"\n{title}: wall {r['wall_s']:.1f} s, outcomes {r['outcomes']}, Marathon requests "
          f"{r['requests']}, reactor CPU {r['cpu_s']:.1f} s ({100 * r['cpu_s'] / r['wall_s']:.0f} % of one "
          f"core), RSS {r['rss_mb']:.0f} MB (peak {r['maxrss_mb']:.0f} MB)")
    if "by_route" in r:
        print("  Marathon requests by route:", {f"{m} {p}": n for (m, p), n in r["by_route"].items()})
    print(f"{'trigger':<32}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for trigger in sorted(by, key=lambda t: -len(by[t])):
        v = by[trigger]
        print(f"{trigger:<32}{len(v):>6}{pct(v, .5):>10.1f}{pct(v, .99):>10.1f}{max(v):>10.1f}")
    print(f"{'ALL':<32}{len(every):>6}{pct(every, .5):>10.1f}{pct(every, .99):>10.1f}"
          f"{max(every) if every else float('nan'):>10.1f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--groups", type=int, default=50)
    p.add_argument("--instances", type=int, default=4)
    p.add_argument("--sequential", type=int, default=20, help="single-group deployments, one at a time")
    args = p.parse_args()
    logs.configure("json", "error")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        seq: dict[str, Any] = {"reactions": [], "wall_s": 0.0, "cpu_s": 0.0, "outcomes": defaultdict(int),
                               "requests": 0}
        for i in range(args.sequential):
            r = asyncio.run(run(1, args.instances, Path(tmp) / f"seq{i}"))
            seq["reactions"] += r["reactions"]
            for k in ("wall_s", "cpu_s", "requests"):
                seq[k] += r[k]
            for k, v in r["outcomes"].items():
                seq["outcomes"][k] += v
            seq["rss_mb"], seq["maxrss_mb"] = r["rss_mb"], r["maxrss_mb"]
        if args.sequential:
            seq["outcomes"] = dict(seq["outcomes"])
            report(f"{args.sequential} deployments one after another ({args.instances} instances, batch 1)",
                   seq)
        r = asyncio.run(run(args.groups, args.instances, Path(tmp) / "scale"))
        report(f"{args.groups} groups deploying at once ({args.instances} instances each, batch 1)", r)


if __name__ == "__main__":
    main()

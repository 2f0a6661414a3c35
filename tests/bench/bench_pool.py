"""Benchmark: pool ownership at rest — follow latency, HAProxy restart refill, cost when idle.

Run: .venv/bin/python -m tests.bench.bench_pool [--groups 50] [--instances 4] [--kills 20]
                                                 [--restarts 10] [--idle-s 120]

The embedded Marathon runs as a separate process (virtual executor, health checks every 0.2 s);
a real HAProxy serves one dynamic backend per group; the reactor (one Engine, haproxy driver,
drain none) runs in this process, so the CPU printed is the reactor's own.
- follow: a task of group g0 killed without scale (Marathon relaunches it), `--kills` times:
  Marathon event received → first LB change sent (Engine.reactions, trigger "pool:<event>").
- restart: HAProxy restarted `--restarts` times: HAProxy answering again → g0's pool whole
  again (polled every 5 ms; includes the reactor's detection, ≤ 0.25 s by design).
- idle: every group in service and nothing happening for `--idle-s`: Marathon requests,
  reactor CPU %, HAProxy runtime-API commands per minute (the driver's own count; each is one
  unix-socket connection; HAProxy's CumConns also counts its health checks, so it is not used).
Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from reactor import logs
from reactor.cli.demo.haproxy import HaproxyProcess
from reactor.cli.demo.runtime import servers_state
from reactor.cli.demo.scenario import start_local_marathon_subprocess
from reactor.core import labels as L
from reactor.engine.engine import Engine
from reactor.settings import Settings
from tests.bench.bench_engine import app, pct, wait

OLD = datetime(2026, 1, 1, tzinfo=UTC)


async def pool_size(hap: HaproxyProcess, backend: str) -> int:
    try:
        return len(await servers_state(hap.stats_socket, backend))
    except Exception:
        return -1


async def task_ids(http: aiohttp.ClientSession, url: str, app_id: str) -> list[str]:
    async with http.get(f"{url}/v2/apps{app_id}/tasks") as r:
        return [t["id"] for t in (await r.json())["tasks"] if t.get("state") == "TASK_RUNNING"]


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def follow(engine: Engine, http: aiohttp.ClientSession, url: str, hap: HaproxyProcess,
                 instances: int, kills: int) -> dict[str, list[float]]:
    engine.reactions.clear()
    rng = random.Random(7)
    for _ in range(kills):
        victim = rng.choice(await task_ids(http, url, "/g0/app"))
        async with http.post(f"{url}/v2/tasks/delete", json={"ids": [victim]}) as r:
            assert r.status == 200, await r.text()

        async def replaced(victim: str = victim) -> bool:
            ids = await task_ids(http, url, "/g0/app")
            return victim not in ids and len(ids) == instances and await pool_size(hap, "g0") == instances
        await wait(replaced, 60, "task replaced in the pool")
    out: dict[str, list[float]] = {}
    for trigger, seconds in engine.reactions:
        if trigger.startswith("pool:"):
            out.setdefault(trigger.removeprefix("pool:"), []).append(seconds)
    return out


async def restarts(hap: HaproxyProcess, instances: int, n: int) -> list[float]:
    out = []
    for _ in range(n):
        await hap.restart()
        up = time.monotonic()
        for _ in range(12_000):  # sampled every 5 ms, for at most a minute
            if await pool_size(hap, "g0") == instances:
                break
            await asyncio.sleep(0.005)
        out.append(time.monotonic() - up)
    return out


async def idle(engine: Engine, hap: HaproxyProcess, seconds: float) -> dict[str, float]:
    sent = engine.lb.commands_sent  # type: ignore[attr-defined]  # the haproxy driver's counter
    requests0, cpu0, cmds0, t0 = sum(engine.request_counts.values()), cpu_s(), sent, time.monotonic()
    await asyncio.sleep(seconds)  # the measured idle period itself, not a synchronisation
    wall = time.monotonic() - t0
    conns = engine.lb.commands_sent - cmds0  # type: ignore[attr-defined]
    return {"idle_s": round(wall, 1), "marathon_requests": sum(engine.request_counts.values()) - requests0,
            "reactor_cpu_pct": round(100 * (cpu_s() - cpu0) / wall, 2),
            "haproxy_cli_per_min": round(conns * 60 / wall, 1)}


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    groups, instances = args.groups, args.instances
    backends = [f"g{g}" for g in range(groups)]
    async with start_local_marathon_subprocess(executor="virtual", workdir=workdir,
                                               extra_args=("--lenient",)) as lm, \
            HaproxyProcess(workdir, backends=backends) as hap, aiohttp.ClientSession() as http:
        for g in range(groups):
            body = app(f"/g{g}/app", instances, {L.GROUP: f"g{g}", L.STARTED_AT: L.format_timestamp(OLD)})
            async with http.post(f"{lm.url}/v2/apps", json=body) as r:
                assert r.status == 201, await r.text()
        settings = Settings.model_validate({
            "marathon": {"urls": [lm.url]}, "drain": {"source": "none"},
            "lb": {"driver": "haproxy", "haproxy": {"socket": str(hap.stats_socket), "backend": "{group}"}},
            "api": {"listen": "127.0.0.1:0"}, "state": {"path": str(workdir / "bench.db")},
            "log": {"level": "warning"}})
        async with Engine(settings, serve_api=False) as engine:
            runner = asyncio.create_task(engine.run())

            async def all_in_service() -> bool:  # one backend at a time: HAProxy's CLI maxconn is 10
                return all([await pool_size(hap, b) == instances for b in backends])
            started = time.monotonic()
            await wait(all_in_service, 180, "every group in service")
            in_service_s = time.monotonic() - started
            cost = await idle(engine, hap, args.idle_s)
            follows = await follow(engine, http, lm.url, hap, instances, args.kills)
            refills = await restarts(hap, instances, args.restarts)
            engine.stop()
            await runner
    return {"in_service_s": in_service_s, "idle": cost, "follow": follows, "refill": refills}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--idle-s", type=float, default=120.0)
    args = parser.parse_args()
    logs.configure(level="warning", fmt="console")
    with tempfile.TemporaryDirectory(prefix="bgbench-") as tmp:
        out = asyncio.run(run(args, Path(tmp)))
    print(f"# machine: {platform.platform()} · {os.cpu_count()} cpus · python {platform.python_version()}"
          f" · {datetime.now(UTC):%Y-%m-%d %H:%M}Z")
    print(f"# {args.groups} groups x {args.instances} tasks at rest (virtual executor); daemon start → "
          f"every pool filled: {out['in_service_s']:.2f} s")
    print("\n| measure | n | p50 ms | p99 ms |\n|---|---|---|---|")
    for trigger, values in sorted(out["follow"].items()):
        print(f"| event → LB change ({trigger}) | {len(values)} | {pct(values, 0.5) * 1000:.1f} | "
              f"{pct(values, 0.99) * 1000:.1f} |")
    r = out["refill"]
    print(f"| HAProxy restart → pool whole again | {len(r)} | {pct(r, 0.5) * 1000:.0f} | "
          f"{pct(r, 0.99) * 1000:.0f} |")
    i = out["idle"]
    print(f"\n| idle {i['idle_s']:.0f} s | Marathon requests | reactor CPU % | HAProxy commands/min |"
          f"\n|---|---|---|---|\n| {args.groups} groups x {args.instances} | {i['marathon_requests']} | "
          f"{i['reactor_cpu_pct']} | {i['haproxy_cli_per_min']} |")


if __name__ == "__main__":
    main()

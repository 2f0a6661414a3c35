"""Benchmark of the embedded Marathon: event-stream throughput and the cost of 10,000 virtual tasks.

Run: .venv/bin/python -m tests.bench.bench_localmarathon [--events 200000] [--tasks 10000] [--apps 10]

1. Stream: one raw-socket consumer of /v2/events; this process publishes `--events` synthetic
   status_update_events on the bus as fast as the loop lets the stream drain them. Reports
   events/s and MB/s delivered (server and consumer share one core: a conservative figure).
2. Scale: `--apps` apps sharing `--tasks` virtual instances (with a TCP health check every 5 s),
   created at once; reports time to all-healthy, RSS before/after, CPU seconds for the deploy,
   CPU % while idle with every checker running, and latency/size of GET /v2/apps?embed=apps.tasks
   and GET /v2/tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import time
from typing import Any

import aiohttp
import structlog

from reactor.localmarathon.server import LocalMarathon


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def bench_stream(n_events: int) -> dict[str, Any]:
    async with LocalMarathon(port=0, executor="virtual", slow_consumer_limit=10**9) as lm:
        assert lm.state is not None
        bus = lm.state.bus
        reader, writer = await asyncio.open_connection(lm.host, lm.port)
        writer.write(b"GET /v2/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        received = 0
        nbytes = 0
        done = asyncio.Event()

        async def consume() -> None:
            nonlocal received, nbytes
            buf = b""
            while received < n_events + 1:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    break
                nbytes += len(chunk)
                buf += chunk
                frames = buf.split(b"\r\n\r\n")
                buf = frames.pop()
                received += sum(1 for f in frames if f.startswith(b"event: "))
            done.set()

        task = asyncio.create_task(consume())
        event = {
            "slaveId": "agent-S0",
            "taskId": "bench.instance-00000000-0000-1000-8000-000000000000._app.1",
            "taskStatus": "TASK_RUNNING",
            "message": "",
            "appId": "/bench",
            "host": "127.0.0.1",
            "ipAddresses": [{"ipAddress": "127.0.0.1", "protocol": "IPv4"}],
            "ports": [31000],
            "version": "2021-08-30T10:00:00.000Z",
            "eventType": "status_update_event",
            "timestamp": "",
        }
        cpu0, t0 = cpu_s(), time.perf_counter()
        for i in range(n_events):
            bus.publish({**event, "timestamp": bus.now()})
            if i % 500 == 499:
                await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - t0
        cpu = cpu_s() - cpu0
        task.cancel()
        writer.close()
        return {
            "events": received - 1,
            "seconds": elapsed,
            "events_per_s": (received - 1) / elapsed,
            "mb_per_s": nbytes / elapsed / 1e6,
            "cpu_s": cpu,
        }


async def bench_scale(n_tasks: int, n_apps: int) -> dict[str, Any]:
    rss0 = rss_mb()
    async with (
        LocalMarathon(port=0, executor="virtual", port_range=(20000, 29999)) as lm,
        aiohttp.ClientSession() as http,
    ):
        assert lm.state is not None
        per_app = n_tasks // n_apps
        finished = asyncio.Event()
        successes = 0

        def on_event(event: dict[str, Any]) -> None:
            nonlocal successes
            if event["eventType"] == "deployment_success":
                successes += 1
                if successes == n_apps:
                    finished.set()

        lm.state.bus.listeners.append(on_event)
        cpu0, t0 = cpu_s(), time.perf_counter()
        for i in range(n_apps):
            app = {
                "id": f"/bench/app-{i}",
                "cmd": "x",
                "instances": per_app,
                "labels": {"LOCALMARATHON_STAGING_S": "0.05"},
                "healthChecks": [{"protocol": "TCP", "intervalSeconds": 5, "gracePeriodSeconds": 30}],
            }
            async with http.post(lm.url + "/v2/apps", json=app) as r:
                assert r.status == 201, await r.text()
        await asyncio.wait_for(finished.wait(), 600)
        deploy_s = time.perf_counter() - t0
        deploy_cpu = cpu_s() - cpu0
        rss_deployed = rss_mb()
        cpu1, t1 = cpu_s(), time.perf_counter()
        await asyncio.sleep(10)
        idle_cpu_pct = 100 * (cpu_s() - cpu1) / (time.perf_counter() - t1)
        t2 = time.perf_counter()
        async with http.get(lm.url + "/v2/apps?embed=apps.tasks") as r:
            apps_body = await r.read()
        apps_s = time.perf_counter() - t2
        t3 = time.perf_counter()
        async with http.get(lm.url + "/v2/tasks") as r:
            tasks_body = await r.read()
        tasks_s = time.perf_counter() - t3
        healthy = sum(lm.state.cluster.counts(a)["tasksHealthy"] for a in lm.state.cluster.apps)
        return {
            "tasks": len(lm.state.cluster.instances),
            "healthy": healthy,
            "deploy_s": deploy_s,
            "deploy_cpu_s": deploy_cpu,
            "rss_before_mb": rss0,
            "rss_after_mb": rss_deployed,
            "idle_cpu_pct": idle_cpu_pct,
            "events": lm.state.bus.events_emitted,
            "apps_embed_s": apps_s,
            "apps_embed_mb": len(apps_body) / 1e6,
            "tasks_s": tasks_s,
            "tasks_mb": len(tasks_body) / 1e6,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=10)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    stream = asyncio.run(bench_stream(args.events))
    scale = asyncio.run(bench_scale(args.tasks, args.apps))
    rows = [
        ("stream: events delivered", f"{stream['events']:,}"),
        ("stream: events/s to one consumer", f"{stream['events_per_s']:,.0f}"),
        ("stream: MB/s", f"{stream['mb_per_s']:.1f}"),
        ("stream: CPU s (server+consumer)", f"{stream['cpu_s']:.2f}"),
        ("scale: virtual tasks running", f"{scale['tasks']:,} ({scale['healthy']:,} healthy)"),
        ("scale: time to all healthy", f"{scale['deploy_s']:.2f} s"),
        ("scale: CPU for the deploy", f"{scale['deploy_cpu_s']:.2f} s"),
        ("scale: events emitted", f"{scale['events']:,}"),
        ("scale: RSS before / with tasks", f"{scale['rss_before_mb']:.0f} / {scale['rss_after_mb']:.0f} MB"),
        ("scale: idle CPU (checks every 5 s)", f"{scale['idle_cpu_pct']:.1f} %"),
        (
            "scale: GET /v2/apps?embed=apps.tasks",
            f"{scale['apps_embed_s'] * 1000:.0f} ms, {scale['apps_embed_mb']:.1f} MB",
        ),
        ("scale: GET /v2/tasks", f"{scale['tasks_s'] * 1000:.0f} ms, {scale['tasks_mb']:.1f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 24}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()

"""Benchmark of the load balancer drivers: latency of each operation against a real haproxy.

Run: .venv/bin/python -m tests.bench.bench_lb [--servers 200] [--command-runs 30]

1. HAProxy driver (one short-lived Runtime API connection per command): add / drain / maint /
   remove of `--servers` servers one by one, and observe of the whole backend at several pool sizes.
2. Command driver: one run of a small Python program (tests/lb/fake_lb.py) per operation.
Prints p50 / p99 / max in milliseconds. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from reactor.adapters.lb import CommandLoadBalancer, HaproxyLoadBalancer
from tests.lb.support import Haproxy

FAKE = str(Path(__file__).parents[1] / "lb" / "fake_lb.py")


def row(label: str, samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{label:<34}{len(ordered):>6}{statistics.median(ordered):>10.2f}{p99:>10.2f}{ordered[-1]:>10.2f}"


async def timed(op: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await op()
    return (time.perf_counter() - started) * 1000


async def bench_haproxy(workdir: Path, servers: int) -> list[str]:
    proc = Haproxy(workdir)
    await proc.start()
    lines = []
    try:
        async with HaproxyLoadBalancer(str(proc.sock), health_check=None) as lb:
            tasks = [f"prod_web.instance-{i:08d}-0b1c-11ec-9a03-0242ac130003._app.1" for i in range(servers)]
            samples: dict[str, list[float]] = {"add": [], "drain": [], "maint": [], "remove": []}
            observe: dict[int, list[float]] = {}
            for i, task in enumerate(tasks, 1):
                add = lambda t=task, p=10000 + i: lb.add("web", t, "127.0.0.1", p)  # noqa: E731
                samples["add"].append(await timed(add))
                if i in (1, 10, 50, servers):
                    observe[i] = [await timed(lambda: lb.observe("web")) for _ in range(20)]
            for name in ("drain", "maint", "remove"):
                op = getattr(lb, name)
                for task in tasks:
                    samples[name].append(await timed(lambda t=task, o=op: o("web", t)))
            lines += [row(f"haproxy {name}", s) for name, s in samples.items()]
            lines += [row(f"haproxy observe ({n} servers)", s) for n, s in sorted(observe.items())]
    finally:
        proc.stop()
    return lines


async def bench_command(workdir: Path, runs: int) -> list[str]:
    lb = CommandLoadBalancer([sys.executable, FAKE, str(workdir / "pool.json")], timeout_s=10)
    add = [await timed(lambda i=i: lb.add("web", f"t{i}", "127.0.0.1", 10000 + i)) for i in range(runs)]
    observe = [await timed(lambda: lb.observe("web")) for _ in range(runs)]
    return [row("command add (python program)", add), row("command observe (python program)", observe)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--command-runs", type=int, default=30)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'operation':<34}{'runs':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for line in await bench_haproxy(Path(tmp), args.servers):
            print(line)
        for line in await bench_command(Path(tmp), args.command_runs):
            print(line)


if __name__ == "__main__":
    asyncio.run(main())

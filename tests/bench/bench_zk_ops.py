"""ZooKeeper operations per deployment: one reactor daemon with `[coordination] backend =
"zookeeper"` runs D deployments (N → N instances, batch 1, lb none, drain none, virtual tasks).

    .venv/bin/python -m tests.bench.bench_zk_ops [DEPLOYMENTS] [INSTANCES] [SESSION_TIMEOUT_S]

Counted at the server: `mntr` zk_packets_received (every client request, pings and heartbeats
included) over the deployments, minus what the idle daemon sends over the same time (measured
before, with no deployment running), divided by D.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from reactor.cli.demo.scenario import start_local_marathon_subprocess
from reactor.logs import configure
from tests.bench.bench_reaction import definition
from tests.e2e.daemon import ReactorDaemon
from tests.e2e.machine import header
from tests.e2e.world import wait_for
from tests.zookeeper import ZooKeeperServer


def mntr(zk: ZooKeeperServer) -> dict[str, str]:
    with socket.create_connection(("127.0.0.1", zk.port), timeout=2) as s:
        s.sendall(b"mntr")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return dict(line.split("\t", 1) for line in data.decode().splitlines() if "\t" in line)


def packets(zk: ZooKeeperServer) -> int:
    return int(mntr(zk)["zk_packets_received"])


async def main(deployments: int, n: int, session_s: float) -> None:
    configure(fmt="console", level="error")
    with tempfile.TemporaryDirectory(prefix="bgzk-") as tmp:
        work = Path(tmp)
        zk = ZooKeeperServer(work / "zk")
        zk.start()
        try:
            async with start_local_marathon_subprocess(executor="virtual", workdir=work,
                                                       extra_args=("--lenient",)) as lm, \
                    aiohttp.ClientSession() as http:
                daemon = ReactorDaemon(work, [lm.url], "/nonexistent", drain_source="none", lb_driver="none",
                                       log_level="warning")
                with daemon.config.open("a") as fh:
                    fh.write(f'\n[coordination]\nbackend = "zookeeper"\nhosts = "{zk.hosts}"\n'
                             f'session_timeout_s = {session_s}\n')
                async with daemon:
                    result = await run(http, lm.url, daemon, zk, deployments, n)
        finally:
            zk.stop()
    print(header(f"bench_zk_ops: {deployments} deployments of {n} -> {n} instances, batch 1, lb none, "
                 f"drain none, virtual tasks; ZooKeeper 3.8 standalone, session_timeout_s {session_s}"))
    for key, value in result.items():
        print(f"{key:<48} {value}")


async def run(http: aiohttp.ClientSession, url: str, daemon: ReactorDaemon, zk: ZooKeeperServer,
              deployments: int, n: int) -> dict[str, Any]:
    """Completion is read from the daemon's /v1/events stream (polling /v1/history would itself
    read ZooKeeper and be counted)."""
    async def create(body: dict[str, Any]) -> None:
        async with http.post(f"{url}/v2/apps", json=body) as r:
            assert r.status == 201, await r.text()

    completed = Completions(daemon)
    async with completed:
        blue = "/rx/web-0"
        await create(definition(blue, n, None, 3600))
        await wait_for(lambda: completed.count >= 1, timeout_s=60, what="first deploy")
        p0, t0 = packets(zk), time.monotonic()
        for k in range(1, deployments + 1):
            green = f"/rx/web-{k}"
            await create(definition(green, n, blue, 0))
            await wait_for(partial(completed.reached, k + 1), timeout_s=60, what=f"deployment {k}")
            blue = green
        busy_s, busy = time.monotonic() - t0, packets(zk) - p0
    p1, t1 = packets(zk), time.monotonic()
    await asyncio.sleep(busy_s)  # the idle baseline is measured over the same length of time
    idle = (packets(zk) - p1) * busy_s / (time.monotonic() - t1)
    return {"deployments": deployments, "wall time (s)": round(busy_s, 2),
            "requests received by ZooKeeper": busy, "of which idle upkeep (same duration)": round(idle),
            "ZooKeeper requests per deployment": round((busy - idle) / deployments, 1),
            "all requests per deployment (upkeep included)": round(busy / deployments, 1)}


class Completions:
    """Counts `deployment.completed` on the daemon's deploy-event stream."""

    def __init__(self, daemon: ReactorDaemon) -> None:
        self.daemon, self.count = daemon, 0
        self._task: asyncio.Task[None] | None = None

    def reached(self, k: int) -> bool:
        return self.count >= k

    async def __aenter__(self) -> Completions:
        connected = asyncio.Event()
        self._task = asyncio.create_task(self._read(connected))
        await asyncio.wait_for(connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self, connected: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(timeout=timeout) as s, s.get(f"{self.daemon.api}/v1/events") as r:
            connected.set()
            async for raw in r.content:
                if raw.decode().strip() == "event: deployment.completed":
                    self.count += 1


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]) if args else 10, int(args[1]) if len(args) > 1 else 4,
                     float(args[2]) if len(args) > 2 else 10.0))

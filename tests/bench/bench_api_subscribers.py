"""/readyz latency of a real daemon with and without 300 idle /v1/events subscribers.

    .venv/bin/python -m tests.bench.bench_api_subscribers [SAMPLES]

The daemon (`python -m reactor run`, embedded Marathon in this process) serves its API; this
process opens 300 subscribers at once (32 served and left idle, 268 refused with 503, as
`[api] max_event_subscribers = 32`), then times SAMPLES sequential `GET /readyz`. Target of
issue 13: < 100 ms while the subscribers are connected.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.cli.support import TOKEN, Daemon, cluster, write_config
from tests.e2e.machine import header


async def _latencies(http: aiohttp.ClientSession, url: str, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        began = time.perf_counter()
        async with http.get(url) as resp:
            assert resp.status == 200, resp.status
            await resp.read()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _row(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"| {name} | {statistics.median(ms):.2f} | {p99:.2f} | {ms[-1]:.2f} |"


async def main(samples: int) -> None:
    print(header("bench_api_subscribers: /readyz latency (ms) of a daemon under idle subscribers"))
    with tempfile.TemporaryDirectory() as tmp:
        async with cluster(blue_instances=1) as c:
            async with Daemon(write_config(Path(tmp), c.url)) as daemon, aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0),
                    headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                quiet = await _latencies(http, daemon.api + "/readyz", samples)
                began = time.perf_counter()
                streams = await asyncio.gather(*(http.get(daemon.api + "/v1/events") for _ in range(300)))
                connect_ms = (time.perf_counter() - began) * 1000
                statuses = [s.status for s in streams]
                loaded = await _latencies(http, daemon.api + "/readyz", samples)
                for s in streams:
                    s.close()
                await daemon.stop()
    print(f"300 subscribers: {statuses.count(200)} served, {statuses.count(503)} refused (503), "
          f"all answered in {connect_ms:.0f} ms; {samples} samples each")
    print("| /readyz | p50 | p99 | max |\n|---|---|---|---|")
    print(_row("no subscribers", quiet))
    print(_row("300 subscribers connected", loaded))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))

"""The issue's attack on a real daemon (`bluegreen run` subprocess, embedded Marathon): 300 idle
/v1/events subscribers. The first 32 are served, the rest get 503; /readyz keeps answering; a
deployment started meanwhile completes. (Latency: tests/bench/bench_api_subscribers.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.cli.support import GROUP, TOKEN, Daemon, cli, cluster, wait_until, write_config, write_green


async def test_300_idle_subscribers_do_not_stop_the_daemon(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url)
        async with Daemon(cfg) as daemon, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            streams = await asyncio.gather(*(http.get(daemon.api + "/v1/events") for _ in range(300)))
            try:
                statuses = [s.status for s in streams]
                assert (statuses.count(200), statuses.count(503)) == (32, 268), statuses
                for s in streams:
                    if s.status == 503:
                        s.close()  # a refused client goes away; the 32 served ones stay idle
                assert (await daemon.get("/readyz"))[0] == 200
                r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg),
                              "--detach")
                assert r.rc == 0, r

                async def completed() -> bool:
                    status, body = await daemon.get(f"/v1/history?group={GROUP}")
                    return status == 200 and [h["outcome"] for h in body["history"]] == ["completed"]
                await wait_until(completed, timeout_s=40, what="the deployment to complete", interval_s=0.2)
                assert (await daemon.get("/readyz"))[0] == 200
            finally:
                for s in streams:
                    s.close()
            assert await daemon.stop() == 0, daemon.log()

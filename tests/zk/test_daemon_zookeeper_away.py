"""The daemon with `[coordination] backend = "zookeeper"` when ZooKeeper is away: it starts and
stays up, `/readyz` is 503 naming the store problem and `/v1/replica` says store_ok false; when
ZooKeeper comes (back) it becomes ready, deploys, and survives ZooKeeper going away again."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.cli.support import REPO, TOKEN, Daemon, cli, cli_env, cluster, write_config, write_green
from tests.waiting import free_port, wait_until
from tests.zookeeper import ZooKeeperServer


def zk_config(tmp_path: Path, marathon_url: str, port: int) -> Path:
    config = write_config(tmp_path, marathon_url)
    with config.open("a") as fh:
        fh.write(f'\n[coordination]\nbackend = "zookeeper"\nhosts = "127.0.0.1:{port}"\n'
                 'session_timeout_s = 2\n')
    return config


async def probe(daemon: Daemon, path: str) -> tuple[int, Any] | None:
    daemon.check_alive()
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s, \
                s.get(daemon.api + path) as r:
            return r.status, await r.json(content_type=None)
    except aiohttp.ClientError:
        return None


async def not_ready_for_the_store(daemon: Daemon) -> dict[str, Any] | None:
    got = await probe(daemon, "/readyz")
    return got[1] if got and got[0] == 503 and "state store" in got[1].get("reason", "") else None


async def test_daemon_waits_for_zookeeper_and_survives_it_going_away(tmp_path: Path) -> None:
    port = free_port()
    zk = ZooKeeperServer(tmp_path / "zk", port=port)
    async with cluster(blue_instances=2) as c:
        daemon = Daemon(zk_config(tmp_path, c.url, port))
        try:
            await start_unready(daemon)
            away = await wait_until(lambda: not_ready_for_the_store(daemon), timeout_s=30,
                                    what="/readyz 503 naming the state store")
            replica = await probe(daemon, "/v1/replica")
            assert replica is not None and replica[1]["store_ok"] is False, replica
            assert replica[1]["coordination"] == "zookeeper"
            await asyncio.to_thread(zk.start)
            await wait_until(lambda: ready(daemon), timeout_s=30, what="ready once ZooKeeper is up")
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(daemon.config),
                          timeout_s=60)
            assert r.rc == 0 and r.out.splitlines()[-1].startswith("completed"), r
            await asyncio.to_thread(zk.kill)
            await wait_until(lambda: not_ready_for_the_store(daemon), timeout_s=30,
                             what="/readyz 503 once ZooKeeper is gone")
            await asyncio.to_thread(zk.start)
            await wait_until(lambda: ready(daemon), timeout_s=30, what="ready again")
            daemon.check_alive()
        finally:
            if daemon.proc is not None:
                assert await daemon.stop() == 0, daemon.log()
            zk.stop()
    assert "Traceback" not in daemon.log()
    print("\nreason while ZooKeeper was away:", away)


async def ready(daemon: Daemon) -> bool:
    got = await probe(daemon, "/readyz")
    return bool(got and got[0] == 200)


async def start_unready(daemon: Daemon) -> None:
    """Start the daemon without waiting for /readyz 200 (it must answer, not be ready)."""
    with daemon.log_path.open("ab") as log:
        daemon.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reactor", "run", "--config", str(daemon.config),
            stdout=log, stderr=log, env=cli_env(), cwd=str(REPO))
    await wait_until(lambda: probe(daemon, "/readyz"), timeout_s=30, what="the daemon's API")

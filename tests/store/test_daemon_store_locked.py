"""The daemon when another process holds its SQLite file locked longer than the busy timeout:
no exit and no traceback; `/readyz` 503 naming the store while it is locked; the deployment that
arrived meanwhile completes once the lock is released."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from reactor.core.labels import green_labels
from tests.cli.support import BLUE_ID, GROUP, Daemon, app_def, cluster, write_config
from tests.store.test_backend_failures import hold_lock
from tests.waiting import wait_until
from tests.zk.test_daemon_zookeeper_away import not_ready_for_the_store, probe


async def test_daemon_survives_a_locked_store_and_completes_after(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        config = write_config(tmp_path, c.url)
        daemon = Daemon(config)
        await daemon.start()
        holder = hold_lock(tmp_path / "bg.db")
        try:
            assert holder.stdout is not None and holder.stdin is not None
            assert (await asyncio.to_thread(holder.stdout.readline)).strip() == "locked"
            labels = green_labels(group=GROUP, target_instances=2, started_at=datetime.now(UTC),
                                  previous=BLUE_ID)
            await c.create(app_def("/web-green", 0, labels))
            reason = await wait_until(lambda: not_ready_for_the_store(daemon), timeout_s=60,
                                      what="/readyz 503 naming the locked store")
            daemon.check_alive()
            errors = await wait_until(lambda: store_errors(daemon), timeout_s=30,
                                      what="bluegreen_store_errors_total counted")
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert (await asyncio.to_thread(holder.stdout.readline)).strip() == "released"
            done = await wait_until(lambda: history(daemon), timeout_s=60, what="the deployment completes")
        finally:
            holder.kill()
            holder.wait()
            rc = await daemon.stop()
        apps = await c.group_apps()
    assert rc == 0 and "Traceback" not in daemon.log(), daemon.log()[-3000:]
    assert "locked" in reason["reason"], reason
    assert errors >= 1
    assert done[0]["outcome"] == "completed" and list(apps) == ["/web-green"], (done, apps)


async def history(daemon: Daemon) -> list[dict[str, object]] | None:
    got = await probe(daemon, "/v1/history")
    return got[1]["history"] if got and got[0] == 200 and got[1]["history"] else None


async def store_errors(daemon: Daemon) -> float:
    status, text = await daemon.text("/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if status == 200 and line.startswith("bluegreen_store_errors_total"))

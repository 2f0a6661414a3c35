"""`bluegreen deploy` driving a whole deployment in-process: on a terminal (live progress and a
summary), with `--json` (exactly one JSON object), and rolled back by `bluegreen rollback` from
another process mid-way (exit 1, BLUE restored, GREEN deleted)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import sys
from pathlib import Path

import aiohttp

from tests.cli.support import (
    BLUE_ID,
    GROUP,
    Daemon,
    cli,
    cli_env,
    cluster,
    finish,
    start_cli,
    wait_until,
    write_config,
    write_green,
)


async def run_on_terminal(*args: str, timeout_s: float = 30.0) -> tuple[int, str]:
    """Run `bluegreen ARGS` with stdout and stderr on a pseudo-terminal; (exit code, what it showed)."""
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reactor", *args, stdin=slave, stdout=slave, stderr=slave,
        env=cli_env({"TERM": "xterm"}))
    os.close(slave)
    chunks: list[bytes] = []
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if data:
            chunks.append(data)
        else:
            loop.remove_reader(master)
            done.set()

    loop.add_reader(master, readable)
    try:
        rc = await asyncio.wait_for(proc.wait(), timeout_s)
        await asyncio.wait_for(done.wait(), 5)
    finally:
        loop.remove_reader(master)
        os.close(master)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return rc, b"".join(chunks).decode(errors="replace")


async def test_deploy_on_a_terminal_shows_live_progress_and_a_summary(tmp_path: Path) -> None:
    async with cluster(blue_instances=3) as c:
        cfg = write_config(tmp_path, c.url)
        rc, shown = await run_on_terminal("deploy", str(write_green(tmp_path)), "--config", str(cfg),
                                          "--group", GROUP)
        apps = await c.group_apps()
    assert rc == 0, shown
    lines = [ln.split("\r")[-1].replace("\x1b[K", "").strip() for ln in shown.splitlines()]
    lines = [ln for ln in lines if ln]
    assert lines[0].startswith("created GREEN /web "), shown
    progress = [ln for ln in lines if ln.startswith("[") and "s] " in ln]
    names = [ln.split("] ", 1)[1].split()[0] for ln in progress]
    for name in ("deployment.started", "green.scaled", "green.healthy", "traffic.shifted",
                 "blue.killed", "deployment.completed"):
        assert name in names, f"no progress line for {name}:\n{shown}"
    assert names.index("deployment.started") < names.index("deployment.completed")
    assert lines[-1].startswith("completed in "), shown
    assert "Marathon requests" in lines[-1]
    assert not any('"level"' in ln or "[info" in ln for ln in lines), f"log lines bury the progress:\n{shown}"
    assert set(apps) == {"/web"} and apps["/web"]["instances"] == 3


async def test_deploy_json_prints_exactly_one_object(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url)
        result = await cli("deploy", str(write_green(tmp_path)), "--config", str(cfg), "--json")
        apps = await c.group_apps()
    assert result.rc == 0, result
    summary = json.loads(result.out)  # the whole of stdout is one JSON document
    assert isinstance(summary, dict)
    assert summary["outcome"] == "completed"
    assert summary["group"] == GROUP
    assert summary["blue_app"] == BLUE_ID and summary["green_app"] == "/web"
    assert summary["target_instances"] == 2
    assert summary["counts"]["blue_killed"] == 2
    assert summary["marathon_requests_total"] == sum(summary["marathon_requests"].values()) > 0
    assert list(apps) == ["/web"]


async def test_second_deploy_does_not_reuse_the_id_of_the_last_deployment(tmp_path: Path) -> None:
    """v1 /web replaced BLUE; v2 gets a suffixed id and replaces /web; v3 asks for /web again (free
    by then): it must still be deployed, not taken for the BLUE of the finished v2 deployment."""
    async with cluster(blue_instances=1) as c:
        cfg = write_config(tmp_path, c.url)
        green = write_green(tmp_path, instances=1)
        outcomes = []
        for _ in range(3):
            result = await cli("deploy", str(green), "--config", str(cfg), "--json", timeout_s=40)
            assert result.rc == 0, result
            outcomes.append(result.json())
        apps = await c.group_apps()
    assert [o["outcome"] for o in outcomes] == ["completed"] * 3
    ids = [o["green_app"] for o in outcomes]
    assert len(set(ids)) == 3, ids
    assert list(apps) == [ids[-1]]


async def test_rollback_command_mid_way_restores_blue_and_deploy_exits_1(tmp_path: Path) -> None:
    async with cluster(blue_instances=3) as c:
        cfg = write_config(tmp_path, c.url, deploy="auto_promote = false")
        green = write_green(tmp_path, health="healthy-after-3s")
        deploy = await start_cli("deploy", str(green), "--config", str(cfg), "--json")

        # the deploy process serves the API (no daemon holds the port). It holds before the first
        # shift (auto_promote = false), so the rollback lands mid-way on any machine: spawning CLIs
        # in a loop raced the deployment's end on a loaded one. (Restoring killed BLUE capacity
        # is covered under load by tests/e2e/test_rollback.py.)
        api = Daemon(cfg)
        api.open_session()
        try:
            async def holding() -> bool:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    row = await api.deployment()
                    return row is not None and row["phase"] == "awaiting_promotion"
                return False
            await wait_until(holding, timeout_s=60, what="the deployment holding for promotion",
                             interval_s=0.05)
        finally:
            await api.close_session()
        accepted = await cli("rollback", GROUP, "--config", str(cfg), "--json")
        assert accepted.rc == 0, accepted
        assert json.loads(accepted.out)["accepted"] is True
        result = await finish(deploy, timeout_s=30)
        blue = await c.wait_app_healthy(BLUE_ID, 3)
        apps = await c.group_apps()
    assert result.rc == 1, result
    summary = json.loads(result.out)
    assert summary["outcome"] == "rolled_back", summary
    assert set(apps) == {BLUE_ID}, apps  # GREEN deleted
    assert blue["instances"] == 3

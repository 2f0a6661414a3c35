"""Scenario helpers: child processes are started, awaited on their listening line, and leave
nothing behind; the sample app's Marathon definition."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from reactor.cli.demo.errors import ComponentFailed
from reactor.cli.demo.scenario import ChildProcess, healthy_running_tasks, sample_app_definition


async def test_descendants_that_outlive_the_child_are_killed(workdir: Path) -> None:
    pid_file = workdir / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pid_file}; echo 'x listening on http://127.0.0.1:1'; wait"
    child = ChildProcess("sh", ["/bin/sh", "-c", script], workdir / "sh.log")
    async with child:
        assert child.port == 1
        grandchild = int(pid_file.read_text())
        os.kill(grandchild, 0)  # alive
    assert child.leftover_pids == [grandchild], f"grandchild {grandchild}: {_state(grandchild)}"
    deadline = time.monotonic() + 5
    while not _dead(grandchild):  # SIGKILL is asynchronous: wait for the kernel to finish it
        assert time.monotonic() < deadline, f"{grandchild} still alive"
        await asyncio.sleep(0.01)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError as exc:
        return f"gone ({exc})"


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for its reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


async def test_child_that_exits_early_is_a_clear_error(workdir: Path) -> None:
    child = ChildProcess("boom", ["/bin/sh", "-c", "echo no such thing >&2; exit 3"], workdir / "b.log")
    with pytest.raises(ComponentFailed, match="boom: exited with 3: no such thing"):
        await child.start()


def test_sample_app_definition_is_a_restartable_marathon_app(tmp_path: Path) -> None:
    d = sample_app_definition("/g/web", version="v7", instances=3, ledger_dir=tmp_path, group="g",
                              extra_env={"X": "1"})
    assert d["env"] == {"APP_VERSION": "v7", "X": "1", "SAMPLE_LEDGER_DIR": str(tmp_path)}
    assert d["labels"] == {"BLUEGREEN_GROUP": "g"} and d["instances"] == 3
    assert "-m reactor sample-app" in d["cmd"]
    assert d["healthChecks"][0]["path"] == "/health" and d["healthChecks"][0]["intervalSeconds"] == 1
    assert d["upgradeStrategy"] == {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}


def test_healthy_running_tasks_needs_running_and_all_alive() -> None:
    app = {"healthChecks": [{}], "tasks": [
        {"id": "a", "state": "TASK_RUNNING", "healthCheckResults": [{"alive": True}]},
        {"id": "b", "state": "TASK_RUNNING", "healthCheckResults": []},
        {"id": "c", "state": "TASK_KILLING", "healthCheckResults": [{"alive": True}]},
        {"id": "d", "state": "TASK_RUNNING", "healthCheckResults": [{"alive": False}]},
    ]}
    assert [t["id"] for t in healthy_running_tasks(app)] == ["a"]
    assert [t["id"] for t in healthy_running_tasks({"tasks": app["tasks"]})] == ["a", "b", "d"]

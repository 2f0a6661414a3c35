"""The process executor: real local processes, real health checks, clean kills, no orphans."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from reactor.localmarathon.server import LocalMarathon
from tests.e2e.world import PortBlock
from tests.localmarathon.conftest import Recorder, wait_for


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: the process was reaped between open and read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def read_pids(path: Path) -> list[int]:
    def read() -> str:
        return path.read_text() if path.exists() else ""

    async def ready() -> list[int] | None:
        text = read()
        return [int(x) for x in text.split()] if len(text.split()) >= 2 else None

    pids: list[int] = await wait_for(ready, what=f"pids in {path}")
    return pids


@pytest.fixture
async def plm() -> AsyncIterator[LocalMarathon]:
    # An exclusive block of host ports: ports are handed out in order from the range's start, so two
    # pytest-xdist workers sharing one fixed range both gave their first task port 31000 (checked
    # free by each, bound later by one): the other task failed to bind while the health checks of
    # both Marathons reached the one server that did — the kill-relaunch test then waited for a
    # TASK_KILLED of a task that had already failed.
    with PortBlock() as ports:
        async with LocalMarathon(port=0, executor="process", port_range=(ports.first, ports.last),
                                 lenient=True) as server:
            yield server


@pytest.fixture
def prec(plm: LocalMarathon) -> Recorder:
    return Recorder(plm)


async def create(lm: LocalMarathon, http: aiohttp.ClientSession, app: dict[str, Any]) -> None:
    async with http.post(lm.url + "/v2/apps", json=app) as r:
        assert r.status == 201, await r.text()


async def tasks_of(lm: LocalMarathon, http: aiohttp.ClientSession, app_id: str) -> list[dict[str, Any]]:
    async with http.get(lm.url + f"/v2/apps{app_id}/tasks") as r:
        tasks: list[dict[str, Any]] = (await r.json())["tasks"]
        return tasks


async def test_task_environment(plm: LocalMarathon, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    out = tmp_path / "env"
    await create(
        plm,
        http,
        {
            "id": "/envy",
            "cmd": f"env > {out}.tmp && mv {out}.tmp {out} && exec sleep 1000",
            "instances": 1,
            "env": {"GREETING": "hello"},
            "labels": {"team-name": "blue"},
            "portDefinitions": [{"port": 0}, {"port": 0}],
        },
    )

    async def written() -> bool:
        return out.exists()

    await wait_for(written)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    [task] = await tasks_of(plm, http, "/envy")
    assert env["PORT0"] == str(task["ports"][0]) and env["PORT1"] == str(task["ports"][1])
    assert env["PORT"] == env["PORT0"] and env["PORTS"] == ",".join(map(str, task["ports"]))
    assert env["HOST"] == "127.0.0.1" and env["MARATHON_APP_ID"] == "/envy"
    assert env["MESOS_TASK_ID"] == task["id"] and env["MARATHON_APP_VERSION"] == task["version"]
    assert env["MARATHON_APP_LABEL_TEAM_NAME"] == "blue" and env["GREETING"] == "hello"
    assert all(plm.port_range[0] <= p <= plm.port_range[1] for p in task["ports"])


async def test_http_server_becomes_healthy_then_kill_relaunches(
    plm: LocalMarathon, http: aiohttp.ClientSession, prec: Recorder
) -> None:
    await create(
        plm,
        http,
        {
            "id": "/web",
            "cmd": f"exec {sys.executable} -m http.server $PORT0 --bind 127.0.0.1",
            "instances": 1,
            "healthChecks": [
                {"protocol": "HTTP", "path": "/", "intervalSeconds": 0.1, "gracePeriodSeconds": 10},
                {"protocol": "TCP", "intervalSeconds": 0.1, "gracePeriodSeconds": 10},
                {
                    "protocol": "COMMAND",
                    "command": {"value": 'test -n "$PORT0"'},
                    "intervalSeconds": 0.1,
                    "gracePeriodSeconds": 10,
                },
            ],
        },
    )

    async def healthy() -> bool:
        async with http.get(plm.url + "/v2/apps/web") as r:
            return (await r.json())["app"]["tasksHealthy"] == 1

    await wait_for(healthy, what="the http.server task healthy")
    [task] = await tasks_of(plm, http, "/web")
    assert [r["alive"] for r in task["healthCheckResults"]] == [True, True, True]
    async with http.get(f"http://127.0.0.1:{task['ports'][0]}/") as r:
        assert r.status == 200
    async with http.delete(plm.url + f"/v2/apps/web/tasks/{task['id']}") as r:
        assert r.status == 200
    await prec.wait(lambda e: e.get("taskId") == task["id"] and e.get("taskStatus") == "TASK_KILLED")
    successor = task["id"][:-1] + "2"
    await prec.wait(lambda e: e.get("taskId") == successor and e.get("taskStatus") == "TASK_RUNNING")


async def test_exit_codes_map_to_mesos_states(
    plm: LocalMarathon, http: aiohttp.ClientSession, prec: Recorder
) -> None:
    await create(plm, http, {"id": "/ok", "cmd": "exit 0", "instances": 1, "backoffSeconds": 30})
    await create(plm, http, {"id": "/bad", "cmd": "exit 3", "instances": 1, "backoffSeconds": 30})
    await prec.wait(lambda e: e.get("appId") == "/ok" and e.get("taskStatus") == "TASK_FINISHED")
    failed = await prec.wait(lambda e: e.get("appId") == "/bad" and e.get("taskStatus") == "TASK_FAILED")
    assert failed["message"] == "Command exited with status 3"
    async with http.get(plm.url + "/v2/apps/bad") as r:
        app = (await r.json())["app"]
    assert app["lastTaskFailure"]["message"] == "Command exited with status 3"
    # §4.2: a terminal task awaiting relaunch is listed, without stagedAt/startedAt/version and with no ports.
    [task] = app["tasks"]
    assert task["state"] == "TASK_FAILED" and task["ports"] == []
    assert not {"stagedAt", "startedAt", "version"} & set(task)


async def test_sigterm_then_sigkill_after_grace(
    plm: LocalMarathon, http: aiohttp.ClientSession, prec: Recorder, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    cmd = f"trap '' TERM; sleep 1000 & echo $$ $! > {pids}; while true; do sleep 0.05; done"
    await create(
        plm, http, {"id": "/stubborn", "cmd": cmd, "instances": 1, "taskKillGracePeriodSeconds": 0.5}
    )
    leader, child = await read_pids(pids)
    [task] = await tasks_of(plm, http, "/stubborn")
    started = time.monotonic()
    async with http.delete(plm.url + "/v2/apps/stubborn") as r:
        assert r.status == 200
    await prec.wait(lambda e: e.get("taskId") == task["id"] and e.get("taskStatus") == "TASK_KILLED")
    assert time.monotonic() - started >= 0.45  # SIGTERM was ignored: SIGKILL came after the grace period
    await wait_for(_dead(leader, child), what="the whole process group gone")


def task_processes(app_id: str) -> list[int]:
    """Live processes whose environment says they belong to `app_id` (a task or its children)."""
    found = []
    marker = f"MARATHON_APP_ID={app_id}\0".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _dead(*pids: int) -> Any:
    async def check() -> bool:
        return not any(alive(p) for p in pids)

    return check


async def test_no_orphans_on_scale_down_and_on_server_stop(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    async with (
        LocalMarathon(port=0, executor="process", port_range=(32000, 32999), lenient=True) as lm,
        aiohttp.ClientSession() as http,
    ):
        await create(
            lm, http, {"id": "/a", "cmd": f"sleep 1000 & echo $$ $! > {first}; wait", "instances": 1}
        )
        await create(
            lm, http, {"id": "/b", "cmd": f"sleep 1000 & echo $$ $! > {second}; wait", "instances": 1}
        )
        a_pids = await read_pids(first)
        b_pids = await read_pids(second)
        assert all(alive(p) for p in a_pids + b_pids)
        async with http.put(lm.url + "/v2/apps/a", json={"instances": 0}) as r:
            assert r.status == 200
        await wait_for(_dead(*a_pids), what="/a's processes gone")
        assert all(alive(p) for p in b_pids)
    await wait_for(_dead(*b_pids), timeout_s=5, what="/b's processes gone after stop")
    assert task_processes("/orphan-check-b") == []  # nor any relaunched incarnation

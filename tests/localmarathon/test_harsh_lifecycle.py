"""Marathon 1.11's task lifecycle and event order on a default (non-lenient) server (issue 12, §1-2).

Kills show a goal change then TASK_KILLED (no TASK_KILLING / Killing unless the `task_killing`
feature is on, reference §5.4); TASK_STARTING and conditions Scheduled/Provisioned appear, with
`slaveId`/`message` "" at Provisioned; `api_post_event` follows the plan's first `deployment_info`;
each status update precedes its instance change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import Recorder, wait_for


@pytest.fixture
async def strict() -> AsyncIterator[LocalMarathon]:
    async with LocalMarathon(port=0, executor="virtual") as server:
        yield server


async def deploy(
    lm: LocalMarathon,
    http: aiohttp.ClientSession,
    rec: Recorder,
    method: str,
    path: str,
    body: dict[str, Any],
) -> str:
    async with http.request(method, lm.url + path, json=body) as r:
        assert r.status in (200, 201), await r.text()
        plan_id = r.headers["Marathon-Deployment-Id"]
    await rec.wait(
        lambda e: e["eventType"] == "deployment_success" and e["id"] == plan_id, what="deployment_success"
    )
    return plan_id


def for_task(rec: Recorder, task_id: str) -> list[tuple[str, str]]:
    """(eventType, status or condition) of one task's status updates and instance changes, in order."""
    iid = task_id.rsplit("._app", 1)[0]
    out = []
    for e in rec.events:
        if e["eventType"] == "status_update_event" and e["taskId"] == task_id:
            out.append(("status", e["taskStatus"]))
        elif e["eventType"] == "instance_changed_event" and e["instanceId"] == iid:
            out.append(("instance", e["condition"]))
    return out


async def one_task(lm: LocalMarathon, http: aiohttp.ClientSession, app_id: str) -> str:
    async with http.get(f"{lm.url}/v2/apps{app_id}") as r:
        tasks = (await r.json())["app"]["tasks"]
    assert len(tasks) == 1
    return str(tasks[0]["id"])


async def test_launch_shows_scheduled_provisioned_staging_starting_running(
    strict: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    rec = Recorder(strict)
    await deploy(strict, http, rec, "POST", "/v2/apps", {"id": "/l", "cmd": "x", "instances": 1})
    task_id = await one_task(strict, http, "/l")
    assert for_task(rec, task_id) == [
        ("instance", "Scheduled"),
        ("status", "TASK_STAGING"),
        ("instance", "Provisioned"),
        ("status", "TASK_STAGING"),
        ("instance", "Staging"),
        ("status", "TASK_STARTING"),
        ("instance", "Starting"),
        ("status", "TASK_RUNNING"),
        ("instance", "Running"),
    ]
    statuses = [e for e in rec.of("status_update_event") if e["taskId"] == task_id]
    assert statuses[0]["slaveId"] == "" and statuses[0]["message"] == ""  # Provisioned: no Mesos status yet
    assert statuses[1]["slaveId"] != ""
    scheduled = rec.of("instance_changed_event")[0]
    assert (
        scheduled["condition"] == "Scheduled" and scheduled["agentId"] is None and scheduled["host"] is None
    )


async def test_default_scale_down_kill_is_a_goal_change_then_killed(
    strict: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    rec = Recorder(strict)
    await deploy(strict, http, rec, "POST", "/v2/apps", {"id": "/k", "cmd": "x", "instances": 1})
    task_id = await one_task(strict, http, "/k")
    start = len(rec.events)
    async with http.post(strict.url + "/v2/tasks/delete?scale=true", json={"ids": [task_id]}) as r:
        assert r.status == 200
        plan_id = (await r.json())["deploymentId"]
    await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == plan_id)
    rec.events[:] = rec.events[start:]
    # the goal change repeats the current condition; no TASK_KILLING / Killing without the feature
    assert for_task(rec, task_id) == [
        ("instance", "Running"),
        ("status", "TASK_KILLED"),
        ("instance", "Killed"),
    ]


async def test_kill_while_running_stays_running_in_rest_until_killed(http: aiohttp.ClientSession) -> None:
    labels = {"LOCALMARATHON_KILL_S": "30"}  # the task takes its time to die
    async with LocalMarathon(port=0, executor="virtual") as lm:
        rec = Recorder(lm)
        await deploy(
            lm, http, rec, "POST", "/v2/apps", {"id": "/s", "cmd": "x", "instances": 1, "labels": labels}
        )
        task_id = await one_task(lm, http, "/s")
        async with http.delete(f"{lm.url}/v2/apps/s/tasks/{task_id}") as r:
            assert r.status == 200
        async with http.get(lm.url + "/v2/apps/s") as r:
            task = (await r.json())["app"]["tasks"][0]
        assert task["id"] == task_id and task["state"] == "TASK_RUNNING"


async def test_task_killing_feature_restores_killing(http: aiohttp.ClientSession) -> None:
    async with LocalMarathon(port=0, executor="virtual", features=("task_killing",)) as lm:
        rec = Recorder(lm)
        await deploy(lm, http, rec, "POST", "/v2/apps", {"id": "/f", "cmd": "x", "instances": 1})
        task_id = await one_task(lm, http, "/f")
        start = len(rec.events)
        async with http.post(lm.url + "/v2/tasks/delete?scale=true", json={"ids": [task_id]}) as r:
            plan_id = (await r.json())["deploymentId"]
        await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == plan_id)
        rec.events[:] = rec.events[start:]
        assert for_task(rec, task_id) == [
            ("instance", "Running"),
            ("status", "TASK_KILLING"),
            ("instance", "Killing"),
            ("status", "TASK_KILLED"),
            ("instance", "Killed"),
        ]
        async with http.get(lm.url + "/v2/info") as r:
            assert (await r.json())["marathon_config"]["features"] == ["task_killing"]


def test_unknown_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown feature 'nope'"):
        LocalMarathon(features=("nope",))


async def test_api_post_event_after_the_plans_first_step(
    strict: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    rec = Recorder(strict)
    plan_id = await deploy(strict, http, rec, "POST", "/v2/apps", {"id": "/o", "cmd": "x", "instances": 1})
    types = [e["eventType"] for e in rec.events]
    first_info = types.index("deployment_info")
    assert types.index("api_post_event") > first_info
    assert rec.of("deployment_info")[0]["plan"]["id"] == plan_id
    start = len(rec.events)
    await deploy(strict, http, rec, "PUT", "/v2/apps/o", {"instances": 2})
    later = [e["eventType"] for e in rec.events[start:]]
    assert later.index("api_post_event") > later.index("deployment_info")


async def test_post_of_an_existing_app_publishes_group_change_failed(
    strict: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    rec = Recorder(strict)
    await deploy(strict, http, rec, "POST", "/v2/apps", {"id": "/g/x", "cmd": "x", "instances": 0})
    async with http.post(strict.url + "/v2/apps", json={"id": "/g/x", "cmd": "x"}) as r:
        assert r.status == 409
        assert (await r.json()) == {"message": "An app with id [/g/x] already exists."}
    failed = await rec.wait(lambda e: e["eventType"] == "group_change_failed", what="group_change_failed")
    assert list(failed) == ["groupId", "version", "reason", "eventType", "timestamp"]
    assert failed["groupId"] == "/g" and failed["reason"] == "An app with id [/g/x] already exists."


async def test_status_update_precedes_its_instance_change(
    strict: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    rec = Recorder(strict)
    await deploy(strict, http, rec, "POST", "/v2/apps", {"id": "/p", "cmd": "x", "instances": 2})

    async def all_running() -> bool:
        return len([e for e in rec.of("instance_changed_event") if e["condition"] == "Running"]) == 2

    await wait_for(all_running, what="two running instances")
    for i, e in enumerate(rec.events):
        if e["eventType"] == "instance_changed_event" and e["condition"] in (
            "Staging",
            "Starting",
            "Running",
        ):
            before = [
                x
                for x in rec.events[:i]
                if x["eventType"] == "status_update_event"
                and x["taskId"].startswith(e["instanceId"] + "._app")
            ]
            assert before and before[-1]["taskStatus"] == "TASK_" + e["condition"].upper()

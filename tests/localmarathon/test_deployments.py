"""Deployment semantics (reference §3, §4.3, §4.4) and task kills (§4.1, §10) on the virtual executor."""

from __future__ import annotations

from typing import Any

import aiohttp

from reactor.localmarathon.model import TaskState
from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import Recorder, example, wait_for

HC = [{"protocol": "HTTP", "intervalSeconds": 0.03, "gracePeriodSeconds": 5}]


async def get_app(lm: LocalMarathon, http: aiohttp.ClientSession, app_id: str) -> dict[str, Any]:
    async with http.get(lm.url + "/v2/apps" + app_id) as r:
        assert r.status == 200
        app: dict[str, Any] = (await r.json())["app"]
        return app


async def settled(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    async def empty() -> bool:
        async with http.get(lm.url + "/v2/deployments") as r:
            return await r.json() == []

    await wait_for(empty, what="no running deployment")


async def create(lm: LocalMarathon, http: aiohttp.ClientSession, app: dict[str, Any]) -> str:
    async with http.post(lm.url + "/v2/apps", json=app) as r:
        assert r.status == 201, await r.text()
        return r.headers["Marathon-Deployment-Id"]


async def test_deployments_listing_shape(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    plan_id = await create(
        lm,
        http,
        {
            "id": "/tools/oauth-server",
            "cmd": "x",
            "instances": 1,
            "labels": {"LOCALMARATHON_STAGING_S": "30"},
        },
    )
    async with http.get(lm.url + "/v2/deployments") as r:
        [dep] = await r.json()
    expected = example("raml-deployments.json")[0]
    assert list(dep) == list(expected)
    assert dep["id"] == plan_id and dep["affectedApps"] == ["/tools/oauth-server"] and dep["totalSteps"] == 2
    assert dep["steps"] == example("raml-deployment_steps.json")["steps"]  # Start → Scale for a new app
    assert dep["currentStep"] == 2
    assert list(dep["currentActions"][0]) == ["action", "app", "readinessCheckResults"]


async def test_empty_plan_succeeds_at_once_and_ignores_locks(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    app = {
        "id": "/same",
        "cmd": "x",
        "instances": 1,
        "labels": {"LOCALMARATHON_HEALTH": "unhealthy"},
        "healthChecks": [
            {"protocol": "TCP", "intervalSeconds": 0.05, "gracePeriodSeconds": 0, "maxConsecutiveFailures": 0}
        ],
    }
    running = await create(lm, http, app)  # never healthy: this plan hangs and locks the app
    async with http.put(lm.url + "/v2/apps/same", json=app) as r:
        assert r.status == 200
        body = await r.json()
    assert list(body) == list(example("raml-deployments_result.json"))
    assert r.headers["Marathon-Deployment-Id"] == body["deploymentId"]
    await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == body["deploymentId"])
    async with http.get(lm.url + "/v2/deployments") as r:
        assert [d["id"] for d in await r.json()] == [running]


async def test_unhealthy_new_version_hangs_without_deployment_failed(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    app = {
        "id": "/sick",
        "cmd": "x",
        "instances": 1,
        "labels": {"LOCALMARATHON_HEALTH": "unhealthy"},
        "healthChecks": [
            {
                "protocol": "HTTP",
                "intervalSeconds": 0.02,
                "gracePeriodSeconds": 0,
                "maxConsecutiveFailures": 1,
            }
        ],
    }
    plan_id = await create(lm, http, app)
    for _ in range(2):  # killed and relaunched at least twice, the deployment still runs
        n = len(rec.of("unhealthy_instance_kill_event"))
        await rec.wait(lambda e, n=n: len(rec.of("unhealthy_instance_kill_event")) > n, what="another kill")
    async with http.get(lm.url + "/v2/deployments") as r:
        assert [d["id"] for d in await r.json()] == [plan_id]
    assert not [e for e in rec.events if e.get("id") == plan_id]  # no deployment_success/failed
    app_json = await get_app(lm, http, "/sick")
    assert app_json["tasks"][0]["id"].endswith(("._app.2", "._app.3", "._app.4", "._app.5"))
    # one kill per task (Marathon's killingInFlight), though checks go on failing while the kill
    # takes its time (LOCALMARATHON_KILL_S, 0.05 s by default)
    killed = [e["taskId"] for e in rec.of("unhealthy_instance_kill_event")]
    assert len(killed) == len(set(killed)), killed


async def test_force_and_delete_deployment_cancel(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    plan_id = await create(
        lm, http, {"id": "/c", "cmd": "x", "instances": 1, "labels": {"LOCALMARATHON_STAGING_S": "30"}}
    )
    async with http.delete(lm.url + f"/v2/deployments/{plan_id}?force=true") as r:
        assert r.status == 202
    failed = await rec.wait(lambda e: e["eventType"] == "deployment_failed" and e["id"] == plan_id)
    assert failed["reason"] == "The upgrade has been cancelled"
    async with http.put(lm.url + "/v2/apps/c", json={"instances": 2}) as r:
        second = (await r.json())["deploymentId"]
    async with http.delete(lm.url + f"/v2/deployments/{second}") as r:  # not forced: a revert plan
        assert r.status == 200
        revert = await r.json()
    assert revert["deploymentId"] != second
    await rec.wait(lambda e: e["eventType"] == "deployment_failed" and e["id"] == second)
    assert (await get_app(lm, http, "/c"))["instances"] == 1


async def test_rolling_restart_respects_upgrade_strategy(
    lm: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    assert lm.state is not None
    cluster = lm.state.cluster
    app = {
        "id": "/roll",
        "cmd": "x",
        "instances": 3,
        "healthChecks": HC,
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0},
    }
    await create(lm, http, app)
    await settled(lm, http)
    samples: list[tuple[int, int]] = []

    def sample(_event: dict[str, Any]) -> None:
        insts = cluster.app_instances("/roll")
        alive = sum(1 for i in insts if not i.state.terminal)
        healthy = sum(1 for i in insts if i.state is TaskState.RUNNING and i.healthy(1) is True)
        samples.append((alive, healthy))

    lm.state.bus.listeners.append(sample)
    async with http.put(lm.url + "/v2/apps/roll", json={"cmd": "y"}) as r:
        version = (await r.json())["version"]
    await settled(lm, http)
    # minHealthy = ceil(3*1) = 3 = maxCapacity = floor(3*(1+0)) → one new task before an old one dies.
    assert max(a for a, _ in samples) == 4
    assert (
        min(h for _, h in samples) >= 3 - 1
    )  # the one being replaced may be killing while its successor is up
    assert {t["version"] for t in (await get_app(lm, http, "/roll"))["tasks"]} == {version}


async def test_restart_with_half_capacity_kills_immediately(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    app = {
        "id": "/half",
        "cmd": "x",
        "instances": 4,
        "healthChecks": HC,
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
    }
    await create(lm, http, app)
    await settled(lm, http)
    start = len(rec.events)
    async with http.post(lm.url + "/v2/apps/half/restart") as r:
        assert r.status == 200
    await settled(lm, http)
    later = rec.events[start:]
    kills_before_first_start = []
    for e in later:
        if e["eventType"] == "instance_changed_event" and e["condition"] == "Provisioned":
            break
        # default kill lifecycle: the goal change repeats the condition (Running), no Killing
        if e["eventType"] == "instance_changed_event" and e["condition"] == "Running":
            kills_before_first_start.append(e)
    assert len(kills_before_first_start) == 2  # 4 running - ceil(4*0.5) healthy kept
    app_json = await get_app(lm, http, "/half")
    assert app_json["versionInfo"]["lastConfigChangeAt"] == app_json["version"]


async def test_scale_down_kills_youngest_first(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    await create(lm, http, {"id": "/s", "cmd": "x", "instances": 1})
    await settled(lm, http)
    oldest = (await get_app(lm, http, "/s"))["tasks"][0]["id"]
    async with http.put(lm.url + "/v2/apps/s", json={"instances": 3}):
        pass
    await settled(lm, http)
    async with http.put(lm.url + "/v2/apps/s", json={"instances": 1}):
        pass
    await settled(lm, http)
    assert [t["id"] for t in (await get_app(lm, http, "/s"))["tasks"]] == [oldest]


async def test_kill_without_scale_relaunches_same_instance(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(lm, http, {"id": "/k", "cmd": "x", "instances": 1})
    await settled(lm, http)
    task_id = (await get_app(lm, http, "/k"))["tasks"][0]["id"]
    async with http.delete(lm.url + f"/v2/apps/k/tasks/{task_id}") as r:
        assert r.status == 200
        assert (await r.json())["task"]["id"] == task_id
    assert task_id.endswith("._app.1")
    successor = task_id[: -len("1")] + "2"
    await rec.wait(
        lambda e: (
            e["eventType"] == "status_update_event"
            and e["taskId"] == successor
            and e["taskStatus"] == "TASK_RUNNING"
        ),
        what="the relaunched incarnation",
    )
    killed = [e for e in rec.of("status_update_event") if e["taskId"] == task_id]
    statuses = [e["taskStatus"] for e in killed]
    assert statuses[-2:] == ["TASK_RUNNING", "TASK_KILLED"] and "TASK_KILLING" not in statuses
    assert (await get_app(lm, http, "/k"))["instances"] == 1
    # as Marathon maps every task id to its instance: the OLD incarnation's id now kills (and
    # here scales away) the instance's current task, it is not "no such task"
    async with http.post(lm.url + "/v2/tasks/delete?scale=true", json={"ids": [task_id]}) as r:
        assert r.status == 200, await r.text()
    await rec.wait(lambda e: (e["eventType"] == "status_update_event" and e["taskId"] == successor
                              and e["taskStatus"] == "TASK_KILLED"), what="the current incarnation killed")
    await settled(lm, http)
    app = await get_app(lm, http, "/k")
    assert (app["instances"], app["tasks"]) == (0, [])


async def test_wipe_schedules_a_new_instance(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    await create(lm, http, {"id": "/w", "cmd": "x", "instances": 1})
    await settled(lm, http)
    task_id = (await get_app(lm, http, "/w"))["tasks"][0]["id"]
    async with http.delete(lm.url + f"/v2/apps/w/tasks/{task_id}?wipe=true") as r:
        assert r.status == 200

    async def replaced() -> bool:
        tasks = (await get_app(lm, http, "/w"))["tasks"]
        return len(tasks) == 1 and tasks[0]["state"] == "TASK_RUNNING" and tasks[0]["id"] != task_id

    await wait_for(replaced, what="a new instance")
    new_id = (await get_app(lm, http, "/w"))["tasks"][0]["id"]
    assert new_id.split("._app")[0] != task_id.split("._app")[0] and new_id.endswith("._app.1")


async def test_kill_and_scale_is_a_scale_deployment(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(lm, http, {"id": "/blue", "cmd": "x", "instances": 3})
    await settled(lm, http)
    tasks = (await get_app(lm, http, "/blue"))["tasks"]
    victim = tasks[0]["id"]
    async with http.post(lm.url + "/v2/tasks/delete?scale=true", json={"ids": [victim]}) as r:
        assert r.status == 200
        body = await r.json()
    assert (
        list(body) == ["deploymentId", "version"]
        and r.headers["Marathon-Deployment-Id"] == body["deploymentId"]
    )
    await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == body["deploymentId"])
    change = [e for e in rec.of("group_change_success") if e["version"] == body["version"]]
    assert change and change[0]["groupId"] == "/"
    info = [e for e in rec.of("deployment_info") if e["plan"]["id"] == body["deploymentId"]]
    assert info[0]["currentStep"]["actions"] == [{"action": "ScaleApplication", "app": "/blue"}]
    app = await get_app(lm, http, "/blue")
    assert app["instances"] == 2 and victim not in {t["id"] for t in app["tasks"]}
    assert app["version"] == app["versionInfo"]["lastScalingAt"] == body["version"]
    assert not any(e.get("uri") for e in rec.events[-20:] if e["eventType"] == "api_post_event")


async def test_kill_and_scale_conflicts_while_locked_unless_forced(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(lm, http, {"id": "/l", "cmd": "x", "instances": 2})
    await settled(lm, http)
    task_id = (await get_app(lm, http, "/l"))["tasks"][0]["id"]
    async with http.put(lm.url + "/v2/apps/l", json={"labels": {"LOCALMARATHON_STAGING_S": "30"}}) as r:
        blocking = (await r.json())["deploymentId"]
    async with http.post(lm.url + "/v2/tasks/delete?scale=true", json={"ids": [task_id]}) as r:
        assert r.status == 409
        assert (await r.json())["deployments"] == [{"id": blocking}]
    async with http.post(lm.url + "/v2/tasks/delete?scale=true&force=true", json={"ids": [task_id]}) as r:
        assert r.status == 200
    await rec.wait(lambda e: e["eventType"] == "deployment_failed" and e["id"] == blocking)


async def test_versions_and_rollback(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    await create(lm, http, {"id": "/v", "cmd": "one", "instances": 1})
    first = (await get_app(lm, http, "/v"))["version"]
    await settled(lm, http)
    async with http.put(lm.url + "/v2/apps/v", json={"cmd": "two"}):
        pass
    await settled(lm, http)
    async with http.get(lm.url + "/v2/apps/v/versions") as r:
        versions = (await r.json())["versions"]
    assert versions[-1] == first and len(versions) == 2 and versions == sorted(versions, reverse=True)
    async with http.get(lm.url + f"/v2/apps/v/versions/{first}") as r:
        old = await r.json()
    assert old["cmd"] == "one" and old["version"] == first and "tasks" not in old
    async with http.put(lm.url + "/v2/apps/v", json={"version": first, "cmd": "three"}) as r:
        assert r.status == 422
    async with http.put(lm.url + "/v2/apps/v", json={"version": first}) as r:
        assert r.status == 200
    await settled(lm, http)
    assert (await get_app(lm, http, "/v"))["cmd"] == "one"


async def test_put_partial_update_patch_and_create(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    async with http.put(lm.url + "/v2/apps/p", json={"cmd": "x", "instances": 1, "labels": {"a": "1"}}) as r:
        assert r.status == 201
    await settled(lm, http)
    async with http.patch(lm.url + "/v2/apps/p", json={"instances": 2}) as r:
        assert r.status == 200
    await settled(lm, http)
    app = await get_app(lm, http, "/p")
    assert app["labels"] == {"a": "1"} and app["instances"] == 2
    async with http.put(lm.url + "/v2/apps/p?partialUpdate=false", json={"cmd": "x"}) as r:
        assert r.status == 200
    await settled(lm, http)
    app = await get_app(lm, http, "/p")
    assert app["labels"] == {} and app["instances"] == 1


async def test_delete_app_stops_everything(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(lm, http, {"id": "/d", "cmd": "x", "instances": 2, "healthChecks": HC})
    await settled(lm, http)
    async with http.delete(lm.url + "/v2/apps/d") as r:
        plan = (await r.json())["deploymentId"]
    async with http.get(lm.url + "/v2/apps/d") as r:
        assert r.status == 404
    await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == plan)
    types = [e["eventType"] for e in rec.events]
    assert "remove_health_check_event" in types
    assert types.index("app_terminated_event") < len(types) - 1
    async with http.get(lm.url + "/v2/tasks") as r:
        assert (await r.json())["tasks"] == []


async def test_list_filters_and_prefixes(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    await create(
        lm, http, {"id": "/shop/web-blue", "cmd": "x", "instances": 0, "labels": {"G": "shop", "C": "b"}}
    )
    await create(lm, http, {"id": "/shop/web-green", "cmd": "x", "instances": 0, "labels": {"G": "shop"}})
    await create(lm, http, {"id": "/other", "cmd": "x", "instances": 0})
    for prefix in ("", "/marathon", "/service/marathon"):
        async with http.get(lm.url + prefix + "/v2/apps?label=G==shop") as r:
            assert [a["id"] for a in (await r.json())["apps"]] == ["/shop/web-blue", "/shop/web-green"]
    async with http.get(lm.url + "/v2/apps?id=GREEN") as r:
        assert [a["id"] for a in (await r.json())["apps"]] == ["/shop/web-green"]
    async with http.get(lm.url + "/v2/apps?label=C") as r:
        assert [a["id"] for a in (await r.json())["apps"]] == ["/shop/web-blue"]
    async with http.get(lm.url + "/v2/apps?label=G!=shop") as r:
        assert [a["id"] for a in (await r.json())["apps"]] == ["/other"]


async def test_put_back_a_read_definition_is_a_no_op(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(lm, http, {"id": "/rt", "cmd": "x", "instances": 2})
    await settled(lm, http)
    app = await get_app(lm, http, "/rt")
    for key in ("version", "versionInfo"):  # the guide's advice: strip these before PUTting back
        app.pop(key)
    async with http.put(lm.url + "/v2/apps/rt", json=app) as r:
        plan = (await r.json())["deploymentId"]
    await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == plan)
    assert not [e for e in rec.of("deployment_info") if e["plan"]["id"] == plan]  # 0 steps


async def test_kill_all_app_tasks_with_and_without_scale(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(lm, http, {"id": "/all", "cmd": "x", "instances": 2})
    await settled(lm, http)
    before = {t["id"] for t in (await get_app(lm, http, "/all"))["tasks"]}
    async with http.delete(lm.url + "/v2/apps/all/tasks") as r:
        assert {t["id"] for t in (await r.json())["tasks"]} == before

    async def relaunched() -> bool:
        tasks = (await get_app(lm, http, "/all"))["tasks"]
        return len(tasks) == 2 and all(
            t["id"].endswith("._app.2") and t["state"] == "TASK_RUNNING" for t in tasks
        )

    await wait_for(relaunched, what="both tasks relaunched as incarnation 2")
    async with http.delete(lm.url + "/v2/apps/all/tasks?scale=true") as r:
        plan = (await r.json())["deploymentId"]
    await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == plan)
    app = await get_app(lm, http, "/all")
    assert app["instances"] == 0 and app["tasks"] == []

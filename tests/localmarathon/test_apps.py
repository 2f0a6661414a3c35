"""Apps CRUD, deployments and their events on the virtual executor."""

from __future__ import annotations

import aiohttp

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import Recorder, wait_for

APP = {
    "id": "/prod/web",
    "cmd": "sleep 1000",
    "instances": 2,
    "healthChecks": [{"protocol": "HTTP", "intervalSeconds": 0.05, "gracePeriodSeconds": 5}],
}


async def deployment_done(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    async def empty() -> bool:
        async with http.get(lm.url + "/v2/deployments") as r:
            return await r.json() == []

    await wait_for(empty, what="no running deployment")


async def test_create_returns_app_info_and_deploys(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    async with http.post(lm.url + "/v2/apps", json=APP) as r:
        assert r.status == 201
        body = await r.json()
        plan_id = r.headers["Marathon-Deployment-Id"]
        assert r.headers["Location"].endswith("/v2/apps/prod/web")
    assert body["deployments"] == [{"id": plan_id}]
    assert (body["tasksStaged"], body["tasksRunning"], body["tasksHealthy"], body["tasksUnhealthy"]) == (
        0,
        0,
        0,
        0,
    )
    assert "tasks" not in body
    await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == plan_id)
    async with http.get(lm.url + "/v2/apps/prod/web") as r:
        app = (await r.json())["app"]
    assert app["tasksRunning"] == 2 and app["tasksHealthy"] == 2 and app["deployments"] == []
    assert len(app["tasks"]) == 2
    types = [e["eventType"] for e in rec.events]
    # api_post_event is published after the plan is stored and started (Marathon 1.11)
    assert types[:3] == ["group_change_success", "deployment_info", "api_post_event"]
    infos = [e["currentStep"]["actions"][0]["action"] for e in rec.of("deployment_info")]
    assert infos == ["StartApplication", "ScaleApplication"]
    assert rec.of("group_change_success")[0]["groupId"] == "/prod"
    assert "versionInfo" not in rec.of("api_post_event")[0]["appDefinition"]


async def test_scale_then_config_change_restarts_with_new_version(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    async with http.post(lm.url + "/v2/apps", json=APP) as r:
        created = await r.json()
    await deployment_done(lm, http)
    async with http.put(lm.url + "/v2/apps/prod/web", json={"instances": 3}) as r:
        assert r.status == 200
        scale_plan = await r.json()
    await deployment_done(lm, http)
    async with http.get(lm.url + "/v2/apps/prod/web") as r:
        app = (await r.json())["app"]
    assert app["versionInfo"]["lastConfigChangeAt"] == created["version"]
    assert app["versionInfo"]["lastScalingAt"] == scale_plan["version"] == app["version"]
    versions_at_scheduling = sorted(t["version"] for t in app["tasks"])
    assert versions_at_scheduling == sorted([created["version"]] * 2 + [scale_plan["version"]])
    actions = [e["currentStep"]["actions"][0]["action"] for e in rec.of("deployment_info")]
    assert actions[-1] == "ScaleApplication"
    old_ids = {t["id"] for t in app["tasks"]}
    async with http.put(lm.url + "/v2/apps/prod/web", json={"env": {"COLOUR": "green"}}) as r:
        restart = await r.json()
    await deployment_done(lm, http)
    async with http.get(lm.url + "/v2/apps/prod/web") as r:
        app = (await r.json())["app"]
    assert rec.of("deployment_info")[-1]["currentStep"]["actions"][0]["action"] == "RestartApplication"
    assert {t["version"] for t in app["tasks"]} == {restart["version"]}
    assert not old_ids & {t["id"] for t in app["tasks"]}
    assert app["versionInfo"]["lastConfigChangeAt"] == restart["version"]
    assert len(app["tasks"]) == 3

"""Health semantics (reference §5.1, §5.3, §4.2 counts) and the REST JSON shapes vs the examples."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import Recorder, example, wait_for


async def create(lm: LocalMarathon, http: aiohttp.ClientSession, app: dict[str, Any]) -> None:
    async with http.post(lm.url + "/v2/apps", json=app) as r:
        assert r.status == 201, await r.text()


async def app_of(lm: LocalMarathon, http: aiohttp.ClientSession, app_id: str) -> dict[str, Any]:
    async with http.get(lm.url + "/v2/apps" + app_id) as r:
        body: dict[str, Any] = (await r.json())["app"]
        return body


def check(**kw: Any) -> list[dict[str, Any]]:
    return [{"protocol": "HTTP", "intervalSeconds": 0.03, **kw}]


async def test_failures_in_grace_record_alive_false_without_counting(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(
        lm,
        http,
        {
            "id": "/g",
            "cmd": "x",
            "instances": 1,
            "labels": {"LOCALMARATHON_HEALTH": "unhealthy"},
            "healthChecks": check(gracePeriodSeconds=60),
        },
    )

    async def unhealthy_counted() -> dict[str, Any] | None:
        app = await app_of(lm, http, "/g")
        return app if app["tasksUnhealthy"] == 1 else None

    app = await wait_for(unhealthy_counted, what="tasksUnhealthy == 1")
    [result] = app["tasks"][0]["healthCheckResults"]
    # §0.9(a): entry alive:false, consecutiveFailures:0; absent fields omitted, not null (§9).
    assert result == {"alive": False, "consecutiveFailures": 0, "instanceId": result["instanceId"]}
    assert app["tasksHealthy"] == 0 and app["tasksRunning"] == 1
    assert rec.of("instance_health_changed_event")[0]["healthy"] is False
    assert rec.of("failed_health_check_event") == [] and rec.of("health_status_changed_event") == []


async def test_kill_on_failure_max_plus_one(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(
        lm,
        http,
        {
            "id": "/m",
            "cmd": "x",
            "instances": 1,
            "labels": {"LOCALMARATHON_HEALTH": "unhealthy"},
            "healthChecks": check(gracePeriodSeconds=0, maxConsecutiveFailures=2),
        },
    )
    kill = await rec.wait(lambda e: e["eventType"] == "unhealthy_instance_kill_event", what="kill")
    failures_before = [
        e for e in rec.events[: rec.events.index(kill)] if e["eventType"] == "failed_health_check_event"
    ]
    assert len(failures_before) == 3  # "fails more than" maxConsecutiveFailures
    assert all(e["taskId"] == kill["instanceId"] for e in failures_before)


async def test_zero_max_failures_never_kills(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(
        lm,
        http,
        {
            "id": "/z",
            "cmd": "x",
            "instances": 1,
            "labels": {"LOCALMARATHON_HEALTH": "unhealthy"},
            "healthChecks": check(gracePeriodSeconds=0, maxConsecutiveFailures=0),
        },
    )

    async def many_failures() -> bool:
        return len(rec.of("failed_health_check_event")) >= 8

    await wait_for(many_failures)
    assert rec.of("unhealthy_instance_kill_event") == []
    [task] = (await app_of(lm, http, "/z"))["tasks"]
    result = task["healthCheckResults"][0]
    assert result["alive"] is False and result["consecutiveFailures"] >= 8
    assert result["lastFailureCause"] == "503 Service Unavailable" and "lastFailure" in result
    assert "firstSuccess" not in result and "lastSuccess" not in result


async def test_health_transitions_emit_flips(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(
        lm,
        http,
        {
            "id": "/h",
            "cmd": "x",
            "instances": 1,
            "labels": {"LOCALMARATHON_HEALTH": "healthy-after-0.2s"},
            "healthChecks": check(gracePeriodSeconds=0, maxConsecutiveFailures=0),
        },
    )
    await rec.wait(lambda e: e["eventType"] == "deployment_success", what="deployment_success")
    assert [e["alive"] for e in rec.of("health_status_changed_event")] == [True]
    assert [e["healthy"] for e in rec.of("instance_health_changed_event")] == [False, True]
    types = [e["eventType"] for e in rec.events]
    assert types.index("deployment_success") > types.index("instance_health_changed_event")
    [task] = (await app_of(lm, http, "/h"))["tasks"]
    result = task["healthCheckResults"][0]
    assert list(result) == [
        "alive",
        "consecutiveFailures",
        "firstSuccess",
        "lastFailure",
        "lastSuccess",
        "lastFailureCause",
        "instanceId",
    ]


async def test_readiness_gates_the_deployment(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    app = example("systemtest-app-readiness-and-health.json")
    app["readinessChecks"][0]["intervalSeconds"] = 0.05
    app["healthChecks"][0].update(intervalSeconds=0.05)
    app["labels"] = {"LOCALMARATHON_READY": "ready-after-0.3s"}
    await create(lm, http, app)
    healthy = await rec.wait(lambda e: e["eventType"] == "instance_health_changed_event" and e["healthy"])
    async with http.get(lm.url + "/v2/deployments") as r:
        [dep] = await r.json()
    [result] = dep["currentActions"][0]["readinessCheckResults"]
    assert result["name"] == "readiness" and result["ready"] is False and "._app.1" in result["taskId"]
    done = await rec.wait(lambda e: e["eventType"] == "deployment_success")
    assert rec.events.index(done) > rec.events.index(healthy)


async def test_app_and_task_json_follow_the_1_5_fixture(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    fixture = example("mlb-fixture-v2-apps-embed-tasks-marathon-1.5.json")["apps"][0]
    app = {
        k: fixture[k]
        for k in ("id", "cpus", "mem", "disk", "instances", "labels", "healthChecks", "upgradeStrategy")
    }
    app.update(cmd="nginx", instances=1)
    app["healthChecks"] = [{**app["healthChecks"][0], "intervalSeconds": 0.03, "gracePeriodSeconds": 1}]
    await create(lm, http, app)
    await rec.wait(lambda e: e["eventType"] == "deployment_success")
    async with http.get(lm.url + "/v2/apps?embed=apps.tasks") as r:
        [ours] = (await r.json())["apps"]
    common = [k for k in fixture if k in ours]
    assert [k for k in ours if k in fixture] == common  # same relative key order
    missing = set(fixture) - set(ours)
    assert missing <= {"acceptedResourceRoles", "container"}, missing  # fields this app simply lacks
    assert ours["killSelection"] == "YOUNGEST_FIRST" and ours["deployments"] == []
    [task] = ours["tasks"]
    template = [
        "appId",
        "healthCheckResults",
        "id",
        "ipAddresses",
        "host",
        "state",
        "ports",
        "servicePorts",
        "stagedAt",
        "version",
        "slaveId",
        "localVolumes",
        "role",
    ]  # test-task-without-ip.json.tmpl
    assert set(task) == set(template) | {"startedAt"}
    [result] = task["healthCheckResults"]
    # §9: 1.11 omits absent fields where the 1.5 fixture wrote nulls.
    assert set(result) == {
        k for k, v in fixture["tasks"][0]["healthCheckResults"][0].items() if v is not None
    }


async def test_last_task_failure_and_tasks_listing(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await create(
        lm,
        http,
        {
            "id": "/crash",
            "cmd": "x",
            "instances": 1,
            "backoffSeconds": 0,
            "labels": {"LOCALMARATHON_EXIT": "fail-after-0.05s"},
        },
    )
    await rec.wait(lambda e: e.get("taskStatus") == "TASK_FAILED")
    app = await app_of(lm, http, "/crash")
    failure = app["lastTaskFailure"]
    assert set(failure) == set(example("test-app-lastTaskFailure.json")["lastTaskFailure"])
    assert failure["state"] == "TASK_FAILED" and failure["message"] == "Command exited with status 1"
    async with http.get(lm.url + "/v2/tasks") as r:
        tasks = (await r.json())["tasks"]
    not_yet = set() if tasks[0]["state"] == "TASK_RUNNING" else {"startedAt"}
    assert (
        tasks and set(example("raml-tasks.json")["tasks"][0]) - set(tasks[0]) <= {"region", "zone"} | not_yet
    )
    async with http.get(lm.url + "/v2/tasks?status=running") as r:
        assert all(t["state"] == "TASK_RUNNING" for t in (await r.json())["tasks"])


async def test_info_leader_ping_and_stats(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    async with http.get(lm.url + "/v2/info") as r:
        info = await r.json()
    assert set(example("raml-info.json")) == set(info)
    assert info["leader"] == f"127.0.0.1:{lm.port}" and info["elected"] is True
    async with http.get(lm.url + "/v2/leader") as r:
        assert set(await r.json()) == set(example("raml-leader.json"))
    async with http.get(lm.url + "/ping") as r:
        assert (r.status, await r.text(), r.content_type) == (200, "pong", "text/plain")
    async with http.get(lm.url + "/v2/apps/x") as r:
        assert r.headers["X-Marathon-Leader"] == lm.url
    async with http.post(
        lm.url + "/_localmarathon/faults",
        json={"fail_next": {"count": 2, "status": 503, "route_prefix": "/v2/apps"}},
    ) as r:
        assert r.status == 200
    for expected in (503, 503, 200):
        async with http.get(lm.url + "/v2/apps") as r:
            assert r.status == expected
            assert ("message" in await r.json()) == (expected == 503)
    async with http.post(lm.url + "/_localmarathon/faults", json={"bogus": 1}) as r:
        assert r.status == 422
    async with http.get(lm.url + "/_localmarathon/stats") as r:
        stats = await r.json()
    assert stats["requests"]["GET /v2/apps"] == 3 and stats["requests"]["GET /v2/apps/{id}"] == 1
    assert not any(k.split(" ")[1].startswith("/_localmarathon") for k in stats["requests"])
    assert stats["events_emitted"] == 0 and stats["open_streams"] == 0  # only reads: no event


async def test_event_delay_holds_events(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    assert lm.state is not None
    async with http.post(lm.url + "/_localmarathon/faults", json={"event_delay_ms": 300}):
        pass
    async with http.get(lm.url + "/v2/events", headers={"Accept": "text/event-stream"}) as stream:
        got_early = await _first_line_within(stream, 0.1)
        assert got_early is None
        assert (await _first_line_within(stream, 2.0)) == b"event: event_stream_attached\r\n"


async def _first_line_within(stream: aiohttp.ClientResponse, timeout_s: float) -> bytes | None:
    try:
        return await asyncio.wait_for(stream.content.readline(), timeout_s)
    except TimeoutError:
        return None

"""Validation and REST shapes as strict as Marathon 1.11 (issue 12, §4-5), on a default server.

Fractional check seconds → 422 "Invalid JSON" `error.expected.int` (accepted only with `lenient`);
deprecated `ports`/`uris`/`ipAddress` normalized; BRIDGE `portMappings.servicePort` honoured; a PUT
that creates sends `Location`; `/v2/info` readable by marathon-python's `get_info()`;
`embed=app.taskStats`; `/v2/groups`, `/v2/queue`, `/v2/pods` with Marathon's shapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from marathon import MarathonClient

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import wait_for


@pytest.fixture
async def strict() -> AsyncIterator[LocalMarathon]:
    async with LocalMarathon(port=0, executor="virtual") as server:
        yield server


async def post(lm: LocalMarathon, http: aiohttp.ClientSession, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(lm.url + "/v2/apps", json=body) as r:
        return r.status, await r.json()


async def get(lm: LocalMarathon, http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
    async with http.get(lm.url + path) as r:
        return r.status, await r.json()


async def test_fractional_check_seconds_are_422(strict: LocalMarathon, http: aiohttp.ClientSession) -> None:
    body = {
        "id": "/f",
        "cmd": "x",
        "healthChecks": [{"protocol": "HTTP", "intervalSeconds": 0.5, "timeoutSeconds": 2.0}],
        "readinessChecks": [{"intervalSeconds": 1.5}],
        "portDefinitions": [{"port": 0, "name": "http-api"}],
    }
    status, answer = await post(strict, http, body)
    assert status == 422
    assert answer == {
        "message": "Invalid JSON",
        "details": [
            {"path": "/healthChecks(0)/intervalSeconds", "errors": ["error.expected.int"]},
            {"path": "/readinessChecks(0)/intervalSeconds", "errors": ["error.expected.int"]},
        ],
    }
    assert (await get(strict, http, "/v2/apps/f"))[0] == 404  # nothing stored
    async with http.put(strict.url + "/v2/apps/f", json=body) as r:
        assert r.status == 422


async def test_lenient_accepts_fractional_seconds(http: aiohttp.ClientSession) -> None:
    async with LocalMarathon(port=0, executor="virtual", lenient=True) as lm:
        status, answer = await post(
            lm, http, {"id": "/f", "cmd": "x", "healthChecks": [{"protocol": "HTTP", "intervalSeconds": 0.5}]}
        )
        assert status == 201 and answer["healthChecks"][0]["intervalSeconds"] == 0.5


async def test_deprecated_fields_are_normalized(strict: LocalMarathon, http: aiohttp.ClientSession) -> None:
    status, answer = await post(
        strict,
        http,
        {
            "id": "/d",
            "cmd": "x",
            "instances": 0,
            "ports": [0, 0],
            "uris": ["http://h/a.tgz", "http://h/run.sh"],
        },
    )
    assert status == 201, answer
    assert [p["protocol"] for p in answer["portDefinitions"]] == ["tcp", "tcp"]
    assert all(p["port"] >= 10000 for p in answer["portDefinitions"])  # service ports assigned
    assert answer["fetch"] == [
        {"uri": "http://h/a.tgz", "extract": True, "executable": False, "cache": False},
        {"uri": "http://h/run.sh", "extract": False, "executable": False, "cache": False},
    ]
    assert "ports" not in answer and "uris" not in answer
    status, answer = await post(
        strict,
        http,
        {
            "id": "/ip",
            "cmd": "x",
            "instances": 0,
            "ipAddress": {
                "networkName": "dcos",
                "discovery": {"ports": [{"number": 8080, "name": "http", "protocol": "tcp"}]},
            },
        },
    )
    assert status == 201, answer
    assert answer["networks"] == [{"mode": "container", "name": "dcos"}]
    assert answer["container"]["portMappings"][0]["containerPort"] == 8080
    assert "ipAddress" not in answer and answer["portDefinitions"] == []


async def test_bridge_service_port_is_honoured(strict: LocalMarathon, http: aiohttp.ClientSession) -> None:
    body = {
        "id": "/b",
        "cmd": "x",
        "instances": 1,
        "networks": [{"mode": "container/bridge"}],
        "container": {
            "type": "DOCKER",
            "docker": {"image": "nginx"},
            "portMappings": [{"containerPort": 80, "hostPort": 0, "servicePort": 10555}],
        },
    }
    status, answer = await post(strict, http, body)
    assert status == 201, answer
    assert answer["container"]["portMappings"][0]["servicePort"] == 10555

    async def task() -> dict[str, Any] | None:
        tasks = (await get(strict, http, "/v2/apps/b"))[1]["app"]["tasks"]
        return tasks[0] if tasks else None

    t = await wait_for(task, what="the bridge task")
    assert t["servicePorts"] == [10555] and len(t["ports"]) == 1


async def test_put_that_creates_sends_location(strict: LocalMarathon, http: aiohttp.ClientSession) -> None:
    async with http.put(strict.url + "/v2/apps/new/one", json={"cmd": "x", "instances": 0}) as r:
        assert r.status == 201
        assert r.headers["Location"] == strict.url + "/v2/apps/new/one"
        assert set(await r.json()) == {"deploymentId", "version"}
    async with http.put(strict.url + "/v2/apps/new/one", json={"instances": 0, "cmd": "y"}) as r:
        assert r.status == 200 and "Location" not in r.headers


async def test_marathon_python_get_info(strict: LocalMarathon) -> None:
    info = await asyncio.to_thread(MarathonClient([strict.url]).get_info)
    assert info.name == "marathon" and info.version.startswith("1.11")
    assert info.http_config.http_port == int(strict.url.rsplit(":", 1)[1])


async def test_embed_task_stats(strict: LocalMarathon, http: aiohttp.ClientSession) -> None:
    await post(strict, http, {"id": "/t", "cmd": "x", "instances": 2})

    async def running() -> bool:
        return (await get(strict, http, "/v2/apps/t"))[1]["app"]["tasksRunning"] == 2

    await wait_for(running, what="two running tasks")
    app = (await get(strict, http, "/v2/apps/t?embed=app.taskStats"))[1]["app"]
    total = app["taskStats"]["totalSummary"]["stats"]
    assert total["counts"] == {"staged": 0, "running": 2, "healthy": 0, "unhealthy": 0}
    assert set(total["lifeTime"]) == {"averageSeconds", "medianSeconds"}
    assert set(app["taskStats"]) == {"startedAfterLastScaling", "withLatestConfig", "totalSummary"}
    assert "taskStats" not in (await get(strict, http, "/v2/apps/t"))[1]["app"]


async def test_groups_queue_pods(strict: LocalMarathon, http: aiohttp.ClientSession) -> None:
    for app_id in ("/top", "/prod/web", "/prod/api/v1"):
        await post(strict, http, {"id": app_id, "cmd": "x", "instances": 0})
    status, root = await get(strict, http, "/v2/groups")
    assert status == 200
    assert list(root) == ["id", "apps", "groups", "pods", "dependencies", "version", "enforceRole"]
    assert root["id"] == "/" and [a["id"] for a in root["apps"]] == ["/top"]
    prod = root["groups"][0]
    assert prod["id"] == "/prod" and [a["id"] for a in prod["apps"]] == ["/prod/web"]
    assert [g["id"] for g in prod["groups"]] == ["/prod/api"]
    status, api = await get(strict, http, "/v2/groups/prod/api")
    assert status == 200 and [a["id"] for a in api["apps"]] == ["/prod/api/v1"]
    assert await get(strict, http, "/v2/groups/nope") == (404, {"message": "Group '/nope' does not exist"})
    assert await get(strict, http, "/v2/queue") == (200, {"queue": []})
    assert await get(strict, http, "/v2/pods") == (200, [])
    assert await get(strict, http, "/v2/pods/::status") == (200, [])
    assert await get(strict, http, "/v2/pods/x") == (404, {"message": "Pod '/x' does not exist"})


async def test_queue_lists_instances_waiting_for_relaunch(
    strict: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    await post(
        strict,
        http,
        {
            "id": "/q",
            "cmd": "x",
            "instances": 1,
            "backoffSeconds": 600,
            "labels": {"LOCALMARATHON_EXIT": "fail-after-0s"},
        },
    )

    async def queued() -> list[Any]:
        return list((await get(strict, http, "/v2/queue"))[1]["queue"])

    entry = (await wait_for(queued, what="a queued relaunch"))[0]
    assert entry["app"]["id"] == "/q" and entry["count"] == 1
    assert set(entry) == {"app", "count", "delay", "since", "role", "processedOffersSummary"}
    assert set(entry["delay"]) == {"timeLeftSeconds", "overdue"}

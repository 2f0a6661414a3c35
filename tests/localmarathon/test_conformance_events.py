"""Emitted events vs the verbatim payloads in marathon-examples/, key for key (reference §2, §9).

Where §9 records that 1.11's code differs from the docs, the code wins and the test says so.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import Recorder, example, wait_for

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
INSTANCE_ID = re.compile(
    r"^prod_api\.instance-[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
TASK_ID = re.compile(INSTANCE_ID.pattern[:-1] + r"\._app\.(\d+)$")


def keys(name: str) -> list[str]:
    return list(example(name))


async def run_lifecycle(lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder) -> None:
    """Create (health checked, failing after a while) → kill for unhealthiness → delete."""
    app = {
        "id": "/prod/api",
        "cmd": "serve",
        "instances": 1,
        "labels": {"LOCALMARATHON_HEALTH": "unhealthy-after-0.3s"},
        "healthChecks": [
            {
                "protocol": "HTTP",
                "path": "/health",
                "intervalSeconds": 0.05,
                "gracePeriodSeconds": 0,
                "maxConsecutiveFailures": 1,
            }
        ],
    }
    async with http.post(lm.url + "/v2/apps", json=app) as r:
        assert r.status == 201
    await rec.wait(lambda e: e["eventType"] == "unhealthy_instance_kill_event", what="unhealthy kill")
    async with http.delete(lm.url + "/v2/apps/prod/api") as r:
        assert r.status == 200
    await rec.wait(lambda e: e["eventType"] == "app_terminated_event", what="app_terminated_event")


def first(rec: Recorder, event_type: str) -> dict[str, Any]:
    found = rec.of(event_type)
    assert found, f"no {event_type} emitted"
    return found[0]


async def test_lifecycle_events_match_the_examples(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await run_lifecycle(lm, http, rec)
    for e in rec.events:
        assert TS.match(e["timestamp"]), e

    # instance_changed_event: exactly the documented keys, in the documented order.
    assert list(first(rec, "instance_changed_event")) == keys("doc-event-instance_changed_event.json")
    # instance_health_changed_event: the 1.4 changelog's order (the doc example lists the same keys shuffled).
    ihc = first(rec, "instance_health_changed_event")
    assert list(ihc) == keys("changelog-1.4-event-instance_health_changed_event.json")
    assert set(ihc) == set(keys("doc-event-instance_health_changed_event.json"))
    # unhealthy_instance_kill_event: exactly the documented keys and order.
    kill = first(rec, "unhealthy_instance_kill_event")
    assert list(kill) == keys("doc-event-unhealthy_instance_kill_event.json")
    assert kill["reason"] == "503 Service Unavailable" and TASK_ID.match(kill["taskId"])
    # app_terminated_event: the documented keys (order per §2: appId, eventType, timestamp).
    assert list(first(rec, "app_terminated_event")) == ["appId", "eventType", "timestamp"]
    assert set(first(rec, "app_terminated_event")) == set(keys("doc-event-app_terminated_event.json"))
    # group_change_success: the documented keys, §2's order.
    assert list(first(rec, "group_change_success")) == ["groupId", "version", "eventType", "timestamp"]
    assert set(first(rec, "group_change_success")) == set(keys("doc-event-group_change_success.json"))


async def test_events_where_code_differs_from_docs(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await run_lifecycle(lm, http, rec)
    # status_update_event: §9 — 1.11 always adds `message` and `ipAddresses` to the documented keys.
    su = first(rec, "status_update_event")
    assert list(su) == [
        "slaveId",
        "taskId",
        "taskStatus",
        "message",
        "appId",
        "host",
        "ipAddresses",
        "ports",
        "version",
        "eventType",
        "timestamp",
    ]
    assert set(su) - set(keys("doc-event-status_update_event.json")) == {"message", "ipAddresses"}
    assert TASK_ID.match(su["taskId"]) and su["ipAddresses"] == [
        {"ipAddress": "127.0.0.1", "protocol": "IPv4"}
    ]
    # failed_health_check_event: §9 — `taskId` holds the instance id; §2 key order.
    fhc = first(rec, "failed_health_check_event")
    assert list(fhc) == ["appId", "eventType", "healthCheck", "taskId", "timestamp"]
    assert set(fhc) == set(keys("doc-event-failed_health_check_event.json"))
    assert INSTANCE_ID.match(fhc["taskId"])
    # health_status_changed_event: documented keys, §2 order.
    hsc = first(rec, "health_status_changed_event")
    assert list(hsc) == ["appId", "instanceId", "version", "alive", "eventType", "timestamp"]
    assert set(hsc) == set(keys("doc-event-health_status_changed_event.json"))
    # add_health_check_event: §9 — has `version` in addition to the documented keys.
    add = first(rec, "add_health_check_event")
    assert list(add) == ["appId", "eventType", "healthCheck", "timestamp", "version"]
    assert set(add) - set(keys("doc-event-add_health_check_event.json")) == {"version"}
    # remove_health_check_event: §9 — no `healthCheck`, unlike the docs.
    rm = first(rec, "remove_health_check_event")
    assert list(rm) == ["appId", "eventType", "timestamp"]
    assert set(keys("doc-event-remove_health_check_event.json")) - set(rm) == {"healthCheck"}
    # deployment_info / step_success: §9 — currentStep.actions[] carry `action`, not the docs' `type`.
    for kind in ("deployment_info", "deployment_step_success"):
        ev = first(rec, kind)
        assert list(ev) == ["plan", "currentStep", "eventType", "timestamp"]
        assert set(ev) == set(keys(f"doc-event-{kind}.json"))
        assert list(ev["plan"]) == ["id", "steps", "version"]
        assert list(ev["currentStep"]["actions"][0]) == ["action", "app"]
    # deployment_success: §9 — `id` plus `plan`.
    ds = first(rec, "deployment_success")
    assert list(ds) == ["id", "plan", "eventType", "timestamp"]
    assert set(ds) - set(keys("doc-event-deployment_success.json")) == {"plan"}
    # api_post_event: documented keys, §2 order.
    # §9: appDefinition is the RAML app (portDefinitions, no `ports`).
    api = first(rec, "api_post_event")
    assert list(api) == ["clientIp", "uri", "appDefinition", "eventType", "timestamp"]
    assert set(api) == set(keys("doc-event-api_post_event.json"))
    assert "portDefinitions" in api["appDefinition"] and "ports" not in api["appDefinition"]
    assert api["uri"] == "/v2/apps" and api["clientIp"] == "127.0.0.1"


async def test_instance_health_null_when_unknown(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    await run_lifecycle(lm, http, rec)
    values = [e["healthy"] for e in rec.of("instance_health_changed_event")]
    assert True in values and False in values
    assert None in values  # results purged when the task died: aggregate unknown → `healthy: null`


async def test_deployment_failed_and_group_change_failed_on_conflict(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    app = {"id": "/slow", "cmd": "x", "instances": 1, "labels": {"LOCALMARATHON_STAGING_S": "30"}}
    async with http.post(lm.url + "/v2/apps", json=app) as r:
        first_plan = r.headers["Marathon-Deployment-Id"]
    async with http.put(lm.url + "/v2/apps/slow", json={"instances": 2}) as r:
        assert r.status == 409
    gcf = first(rec, "group_change_failed")
    assert list(gcf) == ["groupId", "version", "reason", "eventType", "timestamp"]
    assert set(gcf) == set(keys("doc-event-group_change_failed.json"))
    df = first(rec, "deployment_failed")
    assert list(df) == ["id", "plan", "eventType", "timestamp", "reason"]
    assert df["id"] != first_plan and df["reason"].startswith("App is locked by one or more deployments.")
    # §9: `id` + `plan` (+ `reason`) where the docs show `id` only.
    assert set(df) - set(keys("doc-event-deployment_failed.json")) == {"plan", "reason"}

    async def cancelled() -> bool:
        return any(e.get("id") == first_plan for e in rec.of("deployment_failed"))

    async with http.put(lm.url + "/v2/apps/slow?force=true", json={"instances": 2}) as r:
        assert r.status == 200
    await wait_for(cancelled, what="the overridden plan's deployment_failed")
    cancel = next(e for e in rec.of("deployment_failed") if e["id"] == first_plan)
    assert cancel["reason"] == "The upgrade has been cancelled"

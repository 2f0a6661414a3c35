"""The harsh faults: leader failover with an election window, duplicated and reordered events.

Failover (reference §1.5): streams cut; REST answers 502 "Could not determine the current leader"
(Jetty page); `/v2/events` 502 while no leader is known, then an empty 200 stream while the new
leader is not ready; afterwards Marathon-level (HTTP/TCP) results are gone (`healthCheckResults: []`,
`tasksHealthy: 0`) until the new leader's first check, MESOS_* results survive, and a deployment
that was running continues. Duplicated and reordered events reach every stream.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import SSE, Recorder, wait_for


async def fault(lm: LocalMarathon, http: aiohttp.ClientSession, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(lm.url + "/_localmarathon/faults", json=body) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def app(lm: LocalMarathon, http: aiohttp.ClientSession, app_id: str) -> dict[str, Any]:
    async with http.get(f"{lm.url}/v2/apps{app_id}") as r:
        assert r.status == 200, await r.text()
        return dict((await r.json())["app"])


def checked(app_id: str, protocol: str, instances: int = 1) -> dict[str, Any]:
    return {
        "id": app_id,
        "cmd": "x",
        "instances": instances,
        "healthChecks": [{"protocol": protocol, "path": "/", "intervalSeconds": 2, "gracePeriodSeconds": 30}],
    }


async def healthy(lm: LocalMarathon, http: aiohttp.ClientSession, app_id: str, n: int) -> None:
    async def ok() -> bool:
        return (await app(lm, http, app_id))["tasksHealthy"] == n

    await wait_for(ok, timeout_s=20, what=f"{app_id} healthy x{n}")


async def test_failover_window_then_empty_marathon_health(http: aiohttp.ClientSession) -> None:
    async with LocalMarathon(port=0, executor="virtual") as lm:
        for body in (checked("/h", "HTTP"), checked("/m", "MESOS_HTTP")):
            async with http.post(lm.url + "/v2/apps", json=body) as r:
                assert r.status == 201, await r.text()
        await healthy(lm, http, "/h", 1)
        await healthy(lm, http, "/m", 1)
        async with http.get(lm.url + "/v2/events", headers=SSE) as stream:
            async with http.put(lm.url + "/v2/apps/h", json={"instances": 2}) as r:
                plan_id = (await r.json())["deploymentId"]
            answer = await fault(lm, http, {"failover": {"election_s": 4, "leader_unknown_s": 4}})
            assert answer["dropped_streams"] >= 1
            await asyncio.wait_for(stream.content.read(), 10)  # the stream was cut (EOF)
        for path in ("/v2/apps", "/v2/info", "/v2/deployments"):
            async with http.get(lm.url + path) as r:
                assert r.status == 502 and "Could not determine the current leader" in await r.text()
        async with http.get(lm.url + "/v2/events", headers=SSE) as r:
            assert r.status == 502
        async with http.get(lm.url + "/_localmarathon/stats") as r:
            assert r.status == 200  # the fault endpoint itself stays reachable

        async def leader_back() -> dict[str, Any] | None:
            async with http.get(lm.url + "/v2/apps/h") as r:
                return (await r.json())["app"] if r.status == 200 else None

        h = await wait_for(leader_back, timeout_s=20, what="a new leader")
        # Marathon-level results lived in the old leader's memory
        assert h["tasksHealthy"] == 0 and all(t["healthCheckResults"] == [] for t in h["tasks"])
        m = await app(lm, http, "/m")  # MESOS_HTTP results come from task statuses and survive
        assert m["tasksHealthy"] == 1 and m["tasks"][0]["healthCheckResults"][0]["alive"] is True
        async with http.get(lm.url + "/v2/deployments") as r:
            assert plan_id in [d["id"] for d in await r.json()]  # the running deployment continues
        await healthy(lm, http, "/h", 2)

        async def finished() -> bool:
            async with http.get(lm.url + "/v2/deployments") as r:
                return plan_id not in [d["id"] for d in await r.json()]

        await wait_for(finished, timeout_s=20, what="the deployment started before the failover")


async def test_elected_but_not_ready_streams_are_empty_200(http: aiohttp.ClientSession) -> None:
    async with LocalMarathon(port=0, executor="virtual") as lm:
        await fault(lm, http, {"failover": {"election_s": 30, "leader_unknown_s": 0}})
        async with http.get(lm.url + "/v2/events", headers=SSE) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream;charset=utf-8"
            assert await asyncio.wait_for(r.content.read(), 10) == b""
        async with http.get(lm.url + "/v2/apps") as r:
            assert r.status == 502


async def test_failover_fault_is_validated(http: aiohttp.ClientSession) -> None:
    async with LocalMarathon(port=0, executor="virtual") as lm:
        for body in (
            {"failover": {"election_s": -1}},
            {"failover": 3},
            {"duplicate_events": "yes"},
            {"reorder_events": {"window_ms": "x"}},
        ):
            async with http.post(lm.url + "/_localmarathon/faults", json=body) as r:
                assert r.status == 422, body


async def read_frames(resp: aiohttp.ClientResponse, until: str) -> list[dict[str, Any]]:
    """Events of one stream until an event of type `until` with `id` "stop" has been read."""
    out: list[dict[str, Any]] = []
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 10)).decode().rstrip("\r\n")
        if line.startswith("data: "):
            event = json.loads(line[6:])
            out.append(event)
            if event["eventType"] == until and event.get("appId") == "/stop":
                return out


async def test_duplicate_events_reach_streams_twice(http: aiohttp.ClientSession) -> None:
    async with LocalMarathon(port=0, executor="virtual") as lm:
        async with http.get(lm.url + "/v2/events?event_type=app_terminated_event", headers=SSE) as stream:
            await wait_for(lambda: _open_streams(lm, 1), what="stream")
            await fault(lm, http, {"duplicate_events": True})
            assert lm.state is not None
            lm.state.bus.publish({"appId": "/a", "eventType": "app_terminated_event", "timestamp": "t"})
            await fault(lm, http, {"duplicate_events": False})
            lm.state.bus.publish({"appId": "/stop", "eventType": "app_terminated_event", "timestamp": "t"})
            got = [e["appId"] for e in await read_frames(stream, "app_terminated_event")]
        assert got == ["/a", "/a", "/stop"]


async def test_reorder_events_swaps_within_the_window_and_zero_clears(http: aiohttp.ClientSession) -> None:
    async with LocalMarathon(port=0, executor="virtual") as lm:
        async with http.get(lm.url + "/v2/events?event_type=app_terminated_event", headers=SSE) as stream:
            await wait_for(lambda: _open_streams(lm, 1), what="stream")
            await fault(lm, http, {"reorder_events": {"window_ms": 300, "seed": 1}})
            assert lm.state is not None
            sent = [f"/a{i}" for i in range(40)]  # 40 apps: 40 independent sources
            for app_id in sent:
                lm.state.bus.publish({"appId": app_id, "eventType": "app_terminated_event", "timestamp": "t"})
            await fault(lm, http, {"reorder_events": {"window_ms": 0}})
            lm.state.bus.publish({"appId": "/stop", "eventType": "app_terminated_event", "timestamp": "t"})
            got = [e["appId"] for e in await read_frames(stream, "app_terminated_event")]
        assert sorted(got[:-1]) == sorted(sent) and got[-1] == "/stop"  # none lost, none duplicated
        assert got[:-1] != sent  # 40 events of 40 apps with random holds of 0-300 ms: some swapped


async def test_reordering_keeps_one_sources_order(http: aiohttp.ClientSession) -> None:
    """One actor's events (one instance's status updates) stay in order; sources interleave."""
    async with LocalMarathon(port=0, executor="virtual") as lm:
        async with http.get(lm.url + "/v2/events?event_type=status_update_event", headers=SSE) as stream:
            await wait_for(lambda: _open_streams(lm, 1), what="stream")
            await fault(lm, http, {"reorder_events": {"window_ms": 300, "seed": 2}})
            assert lm.state is not None
            for n in range(20):
                for inst in ("a", "b"):
                    lm.state.bus.publish(
                        {"taskId": f"x.instance-{inst}._app.{n}", "eventType": "status_update_event"}
                    )
            await fault(lm, http, {"reorder_events": {"window_ms": 0}})
            lm.state.bus.publish({"taskId": "stop.instance-s._app.1", "eventType": "status_update_event"})
            got: list[str] = []
            while not got or got[-1] != "stop.instance-s._app.1":
                line = (await asyncio.wait_for(stream.content.readline(), 10)).decode()
                if line.startswith("data: "):
                    got.append(json.loads(line[6:])["taskId"])
        for inst in ("a", "b"):
            mine = [t for t in got if f".instance-{inst}." in t]
            assert mine == [f"x.instance-{inst}._app.{n}" for n in range(20)]
        assert got[:-1] != [f"x.instance-{i}._app.{n}" for n in range(20) for i in ("a", "b")]


async def _open_streams(lm: LocalMarathon, n: int) -> bool:
    assert lm.state is not None
    return sum(1 for s in lm.state.bus.subscribers if not s.closed) == n


async def test_recorder_sees_kill_events_during_reordering(http: aiohttp.ClientSession) -> None:
    """Reordering holds frames for streams only; state and REST stay exact."""
    async with LocalMarathon(port=0, executor="virtual") as lm:
        rec = Recorder(lm)
        await fault(lm, http, {"reorder_events": {"window_ms": 200}})
        async with http.post(lm.url + "/v2/apps", json={"id": "/r", "cmd": "x", "instances": 2}) as r:
            plan_id = r.headers["Marathon-Deployment-Id"]
        await rec.wait(lambda e: e["eventType"] == "deployment_success" and e["id"] == plan_id)
        assert (await app(lm, http, "/r"))["tasksRunning"] == 2

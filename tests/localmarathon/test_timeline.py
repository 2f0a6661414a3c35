"""`/_localmarathon/timeline`: when each event was published and each write arrived, by the
server's own wall clock; off (and empty) until asked, cleared by each start, bad bodies a 422."""

from __future__ import annotations

import time

import aiohttp

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import Recorder


async def timeline(lm: LocalMarathon, http: aiohttp.ClientSession) -> dict:
    async with http.get(lm.url + "/_localmarathon/timeline") as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def record(lm: LocalMarathon, http: aiohttp.ClientSession, body: object) -> aiohttp.ClientResponse:
    async with http.post(lm.url + "/_localmarathon/timeline", json=body) as r:
        await r.read()
        return r


async def test_records_writes_and_events_only_while_on(lm: LocalMarathon, http: aiohttp.ClientSession,
                                                       rec: Recorder) -> None:
    async with http.post(lm.url + "/v2/apps", json={"id": "/before", "cmd": "x", "instances": 0}) as r:
        assert r.status == 201
    assert await timeline(lm, http) == {"recording": False, "events": [], "writes": []}

    t0 = time.time()
    assert (await record(lm, http, {"record": True})).status == 200
    async with http.post(lm.url + "/v2/apps", json={"id": "/a", "cmd": "x", "instances": 0}) as r:
        assert r.status == 201
    async with http.put(lm.url + "/v2/apps/a", json={"instances": 0}) as r:
        assert r.status == 200
    async with http.delete(lm.url + "/v2/apps/nope") as r:
        assert r.status == 404  # refused writes arrived all the same
    async with http.get(lm.url + "/v2/apps") as r:
        assert r.status == 200  # reads are not writes
    got = await timeline(lm, http)
    t1 = time.time()

    writes = [(w["method"], w["path"], w["body"]) for w in got["writes"]]
    assert writes == [("POST", "/v2/apps", {"id": "/a", "cmd": "x", "instances": 0}),
                      ("PUT", "/v2/apps/a", {"instances": 0}), ("DELETE", "/v2/apps/nope", None)]
    ats = [w["at"] for w in got["writes"]]
    assert t0 <= ats[0] <= ats[1] <= ats[2] <= t1
    # the events since the start, as published (the bus' own listener sees the same ones)
    since = rec.events[len(rec.events) - len(got["events"]):]
    assert [e["event"] for e in got["events"]] == since
    assert {"api_post_event"} <= {e["event"]["eventType"] for e in got["events"]}
    assert all(e["event"].get("appId") != "/before" for e in got["events"])
    assert all(t0 <= e["at"] <= t1 for e in got["events"])

    assert (await record(lm, http, {"record": False})).status == 200
    async with http.post(lm.url + "/v2/apps", json={"id": "/after", "cmd": "x", "instances": 0}) as r:
        assert r.status == 201
    kept = await timeline(lm, http)
    assert not kept["recording"] and len(kept["writes"]) == 3, "stopped: kept for reading, nothing added"
    assert (await record(lm, http, {"record": True})).status == 200
    assert (await timeline(lm, http))["writes"] == [], "a new start drops the previous record"


async def test_a_bad_body_is_a_422_and_changes_nothing(lm: LocalMarathon,
                                                       http: aiohttp.ClientSession) -> None:
    for body in ({}, {"record": "yes"}, {"record": True, "more": 1}, [True]):
        r = await record(lm, http, body)
        assert r.status == 422, body
    assert (await timeline(lm, http))["recording"] is False

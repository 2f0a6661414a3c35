"""The daemon's HTTP API over real HTTP: every route, auth, errors, SSE and metrics."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from reactor.core.deploy_events import DeployEvent, DeployEventName
from reactor.core.listen import host_header_is_local
from reactor.engine.api import ApiServer, CommandRejected, UnknownGroup, build_api, parse_listen
from reactor.engine.bus import EventBus
from reactor.engine.metrics import Metrics

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}  # every /v1/* request needs it when a token is set


@dataclass
class FakeControl:
    """A plain implementation of the Control protocol, holding rows in memory."""

    ready: bool = False
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    past: list[dict[str, Any]] = field(default_factory=list)
    received: list[tuple[str, str, str]] = field(default_factory=list)

    def is_ready(self) -> bool:
        return self.ready

    def not_ready_reason(self) -> str | None:
        return None if self.ready else "not synced yet"

    def replica(self) -> dict[str, Any]:
        return {"id": "host:1:abcd", "coordination": "sqlite", "acting_for": sorted(self.rows),
                "store_ok": True}

    async def deployments(self) -> list[dict[str, Any]]:
        return list(self.rows.values())

    async def deployment(self, group: str) -> dict[str, Any] | None:
        return self.rows.get(group)

    async def history(self, group: str | None, limit: int) -> list[dict[str, Any]]:
        return [h for h in self.past if group is None or h["group"] == group][:limit]

    async def command(self, group: str, command: str, *, source: str) -> dict[str, Any]:
        row = self.rows.get(group)
        if row is None:
            raise UnknownGroup(group)
        if command == "promote" and row["phase"] != "held":
            raise CommandRejected(f"phase is {row['phase']}, promote needs held")
        self.received.append((group, command, source))
        return {"phase": row["phase"]}


def make_event(n: int, group: str = "web", name: DeployEventName = DeployEventName.GREEN_SCALED
               ) -> DeployEvent:
    return DeployEvent(id=f"{group}-ev-{n}", name=name, group=group, deployment_id=f"{group}-d1",
                       blue_app=f"/{group}-blue", green_app=f"/{group}-green", tasks=(f"t{n}",),
                       counts={"green_healthy": n}, timestamp=datetime(2026, 1, 1, tzinfo=UTC))


@dataclass
class Api:
    control: FakeControl
    bus: EventBus
    metrics: Metrics
    url: str
    http: aiohttp.ClientSession


def _rows() -> dict[str, dict[str, Any]]:
    base = {"blue_app": "/web-blue", "green_app": "/web-green", "counts": {"green": 2},
            "blockers": [], "since": "2026-01-01T00:00:00Z"}
    return {"web": {"group": "web", "phase": "held", **base},
            "prod/api": {"group": "prod/api", "phase": "draining", **base}}


async def _serve(token: str | None) -> AsyncIterator[Api]:
    control = FakeControl(rows=_rows(), past=[{"group": "web", "outcome": "completed"},
                                              {"group": "db", "outcome": "rolled_back"}])
    bus, metrics = EventBus(), Metrics()
    app = build_api(control, bus, metrics, token=token, heartbeat_s=0.05)
    async with ApiServer(app, listen="127.0.0.1:0") as server, aiohttp.ClientSession() as http:
        assert server.port and server.port > 0
        yield Api(control, bus, metrics, server.url, http)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for a in _serve(TOKEN):
        yield a


@pytest.fixture
async def api_without_token() -> AsyncIterator[Api]:
    async for a in _serve(None):
        yield a


async def get(api: Api, path: str) -> tuple[int, Any]:
    async with api.http.get(api.url + path, headers=AUTH) as resp:
        return resp.status, await resp.json()


async def post(api: Api, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with api.http.post(api.url + path, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_health_and_readiness(api: Api) -> None:
    assert await get(api, "/healthz") == (200, {"status": "ok"})
    assert await get(api, "/readyz") == (503, {"ready": False, "reason": "not synced yet"})
    api.control.ready = True
    assert await get(api, "/readyz") == (200, {"ready": True})
    assert await get(api, "/v1/replica") == (200, {"id": "host:1:abcd", "coordination": "sqlite",
                                                   "acting_for": ["prod/api", "web"], "store_ok": True})


async def test_deployments_list_and_one(api: Api) -> None:
    status, body = await get(api, "/v1/deployments")
    assert status == 200
    assert {d["group"] for d in body["deployments"]} == {"web", "prod/api"}
    status, body = await get(api, "/v1/deployments/web")
    assert (status, body["phase"], body["blockers"]) == (200, "held", [])
    status, body = await get(api, "/v1/deployments/prod/api")  # group names may contain '/'
    assert (status, body["group"]) == (200, "prod/api")


async def test_unknown_group_is_404_json(api: Api) -> None:
    status, body = await get(api, "/v1/deployments/nope")
    assert status == 404
    assert body["error"] == "unknown_group" and "nope" in body["message"]
    status, body = await post(api, "/v1/deployments/nope/abort")
    assert status == 404 and body["error"] == "unknown_group"


async def test_unknown_route_and_method_are_json(api: Api) -> None:
    status, body = await get(api, "/v2/nothing")
    assert status == 404 and set(body) == {"error", "message"}
    async with api.http.delete(api.url + "/v1/deployments", headers=AUTH) as resp:
        assert resp.status == 405
        assert set(await resp.json()) == {"error", "message"}


async def test_history_filters_and_validates_limit(api: Api) -> None:
    status, body = await get(api, "/v1/history")
    assert status == 200 and len(body["history"]) == 2
    status, body = await get(api, "/v1/history?group=db&limit=5")
    assert body["history"] == [{"group": "db", "outcome": "rolled_back"}]
    status, body = await get(api, "/v1/history?limit=1")
    assert len(body["history"]) == 1
    for bad in ("0", "x", "100000"):
        status, body = await get(api, f"/v1/history?limit={bad}")
        assert status == 400 and body["error"] == "bad_request" and "limit" in body["message"]


@pytest.mark.parametrize("command", ["promote", "abort", "rollback", "resume"])
async def test_commands_with_the_right_token(api: Api, command: str) -> None:
    status, body = await post(api, f"/v1/deployments/web/{command}")
    assert status == 202
    assert body["accepted"] is True and body["command"] == command and body["group"] == "web"
    [(group, got, source)] = api.control.received
    assert (group, got) == ("web", command) and source.startswith("api:")


async def test_pause_is_the_contracts_name_for_abort(api: Api) -> None:
    status, body = await post(api, "/v1/deployments/web/pause")
    assert status == 202 and body["accepted"] is True and body["command"] == "abort"
    assert api.control.received[0][:2] == ("web", "abort")


async def test_command_on_group_with_slash(api: Api) -> None:
    status, _ = await post(api, "/v1/deployments/prod/api/abort")
    assert status == 202
    assert api.control.received[0][:2] == ("prod/api", "abort")


@pytest.mark.parametrize("token", [None, "wrong", "", TOKEN + "x"])
async def test_commands_need_the_token(api: Api, token: str | None) -> None:
    status, body = await post(api, "/v1/deployments/web/rollback", token=token)
    assert status == 401 and body["error"] == "unauthorized"
    assert api.control.received == []


async def test_non_bearer_scheme_is_refused(api: Api) -> None:
    async with api.http.post(api.url + "/v1/deployments/web/abort",
                             headers={"Authorization": f"Basic {TOKEN}"}) as resp:
        assert resp.status == 401
    assert api.control.received == []


async def test_command_invalid_in_phase_is_409_with_reason(api: Api) -> None:
    status, body = await post(api, "/v1/deployments/prod/api/promote")
    assert status == 409
    assert body["error"] == "rejected" and "promote needs held" in body["message"]


async def test_unknown_command_is_404(api: Api) -> None:
    status, body = await post(api, "/v1/deployments/web/explode")
    assert status in (404, 405) and set(body) == {"error", "message"}
    assert api.control.received == []


async def test_without_a_token_only_this_machines_names_are_answered(api_without_token: Api,
                                                                    api: Api) -> None:
    """DNS rebinding: a page re-points its own domain at 127.0.0.1 and reads the API through the
    operator's browser; the request then carries that domain in Host."""
    port = api_without_token.url.rsplit(":", 1)[1]
    for host, status in ((f"evil.example:{port}", 403), ("evil.example", 403),
                         (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200), ("[::1]", 200),
                         (f"{socket.gethostname()}:{port}", 200)):
        for path in ("/v1/deployments", "/metrics", "/healthz"):
            async with api_without_token.http.get(api_without_token.url + path,
                                                  headers={"Host": host}) as resp:
                assert resp.status == status, (host, path, resp.status)
                if status == 403:
                    assert (await resp.json())["error"] == "host_not_allowed"
    # with a token, the token protects (and any name the operator reaches it by is answered)
    named = {"Host": "reactor.internal", **AUTH}
    async with api.http.get(api.url + "/v1/deployments", headers=named) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1:9090", True), ("[::1]:9090", True), ("::1", True), ("10.1.2.3", True),
    ("localhost", True), ("app.localhost:80", True), ("myhost", True), ("MyHost:1", True),
    ("evil.example", False), ("127.0.0.1.evil.example:9090", False), ("", False)])
def test_host_header_is_local(host: str, local: bool) -> None:
    assert host_header_is_local(host, frozenset({"myhost"})) is local


async def test_without_configured_token_posts_are_403(api_without_token: Api) -> None:
    api = api_without_token
    for token in (None, "anything"):
        status, body = await post(api, "/v1/deployments/web/abort", token=token)
        assert status == 403
        assert body["error"] == "no_token_configured" and "[api] token" in body["message"]
    assert api.control.received == []
    assert (await get(api, "/v1/deployments/web"))[0] == 200  # reads stay open


async def test_metrics_exposition(api: Api) -> None:
    api.metrics.set_phase("web", "draining")
    api.metrics.count_marathon_request("GET", "/v2/apps/{id}", 200)
    for etype in ("status_update_event", "deployment_info", "status_update_event"):
        api.metrics.count_marathon_event(etype)
    async with api.http.get(api.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    for name in ("bluegreen_deployments_total", "bluegreen_deployment_duration_seconds",
                 "bluegreen_reaction_seconds", "bluegreen_marathon_requests_total",
                 "bluegreen_marathon_events_total", "bluegreen_event_stream_reconnects_total",
                 "bluegreen_drain_seconds", "bluegreen_phase", "bluegreen_hook_calls_total",
                 "bluegreen_forced_kills_total"):
        assert f"# TYPE {name}" in text, name
    assert 'bluegreen_phase{group="web",phase="draining"} 1.0' in text
    assert 'route="/v2/apps/{id}"' in text
    assert 'bluegreen_marathon_events_total{type="status_update_event"} 2.0' in text
    assert 'bluegreen_marathon_events_total{type="deployment_info"} 1.0' in text


async def _read_sse(resp: aiohttp.ClientResponse, want: int) -> tuple[list[dict[str, Any]], int]:
    """Parse SSE messages until `want` events arrived; returns (events, heartbeats seen)."""
    events: list[dict[str, Any]] = []
    heartbeats, fields = 0, {}
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line == ": heartbeat":
            heartbeats += 1
        elif line.startswith(("event: ", "data: ", "id: ")):
            key, _, value = line.partition(": ")
            fields[key] = value
        elif line == "" and "data" in fields:
            events.append({"id": fields.get("id"), "event": fields["event"],
                           "data": json.loads(fields["data"])})
            fields = {}
            if len(events) == want:
                break
    return events, heartbeats


async def _wait_subscribed(resp: aiohttp.ClientResponse) -> None:
    """The server writes ': connected' once its bus subscription exists."""
    async with asyncio.timeout(5):
        assert await resp.content.readline() == b": connected\n"
        assert await resp.content.readline() == b"\n"


async def test_sse_delivers_published_events_in_order(api: Api) -> None:
    async with api.http.get(api.url + "/v1/events", headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await _wait_subscribed(resp)
        sent = [make_event(i) for i in range(3)] + [make_event(9, name=DeployEventName.BLUE_KILLED)]
        for ev in sent:
            api.bus.publish(ev)
        async with asyncio.timeout(5):
            got, _ = await _read_sse(resp, 4)
    assert [g["id"] for g in got] == [e.id for e in sent]
    assert [g["event"] for g in got] == [e.name.value for e in sent]
    assert got[3]["data"] == sent[3].payload()


async def test_sse_group_filter_and_heartbeat(api: Api) -> None:
    async with api.http.get(api.url + "/v1/events?group=db", headers=AUTH) as resp:
        await _wait_subscribed(resp)
        api.bus.publish(make_event(1, group="web"))
        api.bus.publish(make_event(2, group="db"))
        async with asyncio.timeout(5):
            got, _ = await _read_sse(resp, 1)
            assert [g["id"] for g in got] == ["db-ev-2"]
            heartbeats = 0
            async for raw in resp.content:  # heartbeat_s is 0.05 in these tests
                if raw.startswith(b": heartbeat"):
                    heartbeats += 1
                    break
    assert heartbeats == 1


async def test_sse_last_event_id_replays_newer_events(api: Api) -> None:
    for i in range(4):
        api.bus.publish(make_event(i))
    async with api.http.get(api.url + "/v1/events", headers={"Last-Event-ID": "web-ev-1", **AUTH}) as resp:
        async with asyncio.timeout(5):
            got, _ = await _read_sse(resp, 2)
    assert [g["id"] for g in got] == ["web-ev-2", "web-ev-3"]


async def test_sse_recent_replays_the_last_n_and_a_bad_count_is_a_json_400(api: Api) -> None:
    for i in range(4):
        api.bus.publish(make_event(i))
    async with api.http.get(api.url + "/v1/events?recent=2", headers=AUTH) as resp:
        async with asyncio.timeout(5):
            got, _ = await _read_sse(resp, 2)
    assert [g["id"] for g in got] == ["web-ev-2", "web-ev-3"]
    for bad in ("²", "-1", "x", "9" * 5000):  # "²".isdigit() is True, int("²") is not a number
        async with api.http.get(api.url + "/v1/events", params={"recent": bad}, headers=AUTH) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "bad_request", bad


async def test_server_stops_while_a_stream_is_open() -> None:
    bus = EventBus()
    app = build_api(FakeControl(), bus, Metrics(), token=TOKEN, heartbeat_s=30)
    server = ApiServer(app, listen="127.0.0.1:0")
    await server.start()
    async with aiohttp.ClientSession() as http, http.get(server.url + "/v1/events", headers=AUTH) as resp:
        await _wait_subscribed(resp)
        assert bus.subscriber_count == 1
        async with asyncio.timeout(5):
            await server.stop()
            await server.stop()  # idempotent
            rest = await resp.content.read()  # returns only once the stream has ended
    assert rest == b""
    assert bus.subscriber_count == 0


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9090") == ("127.0.0.1", 9090)
    assert parse_listen(":9090") == ("0.0.0.0", 9090)
    assert parse_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("localhost")


async def test_listen_on_a_taken_port_names_it(api: Api) -> None:
    port = int(api.url.rsplit(":", 1)[1])
    app = build_api(FakeControl(), EventBus(), Metrics(), token=None)
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
        await ApiServer(app, listen=f"127.0.0.1:{port}").start()

"""MarathonClient against a scripted real HTTP server: typed errors, ambiguity handling, routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.errors import (
    AppExists,
    AppLocked,
    Fenced,
    Forbidden,
    LeaderUnavailable,
    MarathonError,
    MarathonUnreachable,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from tests.marathon.scripted import ScriptedMarathon

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "marathon-examples"


@pytest.mark.parametrize(
    ("status", "example", "error", "needle"),
    [
        (409, "raml-error-409-app-locked.json", AppLocked, "97c136bf-5a28-4821-9d94-480d9fbb01c8"),
        (409, "raml-error-409-app-locked-short-patch-apps.json", AppLocked, "locked"),
        (409, "raml-error-409-app-already-exists.json", AppExists, "already exists"),
        (422, "raml-error-422-object-not-valid.json", ValidationFailed, "is greater than 1"),
        (422, "raml-error-400-invalid-json.json", ValidationFailed, "error.expected.jsstring"),
        (404, "raml-error-404-app-not-exist.json", NotFound, "does not exist"),
        (401, "raml-error-401-unauthenticated.json", Unauthorized, "Invalid username"),
        (403, "raml-error-403-unauthorized.json", Forbidden, "Not Authorized"),
        (502, "raml-events-405-missing-accept-header.html", LeaderUnavailable, "Error 405"),
        (500, "raml-error-404-no-leader.json", MarathonError, "There is no leader"),
    ],
)
async def test_error_bodies_become_typed_errors(status, example, error, needle) -> None:
    body = (EXAMPLES / example).read_bytes()
    ctype = "text/html" if example.endswith(".html") else "application/json"
    seen: list[tuple[str, str, int]] = []
    async with ScriptedMarathon() as sm:
        sm.script.canned["GET /v2/apps/x"] = (status, body, ctype)
        async with MarathonClient([sm.url], on_request=lambda *a: seen.append(a), max_attempts=1) as m:
            with pytest.raises(error) as info:
                await m.get_app("/x")
    assert needle in str(info.value)
    assert info.value.status == status
    assert ("GET", "/v2/apps/{id}", status) in seen
    if isinstance(info.value, AppLocked):
        assert info.value.deployment_ids or "locked" in str(info.value)


async def test_garbage_bodies_name_the_problem() -> None:
    async with ScriptedMarathon() as sm:
        sm.script.canned["GET /v2/apps/x"] = (400, b"\x00\xffnot json", "application/octet-stream")
        sm.script.canned["GET /v2/deployments"] = (200, b"{not json", "application/json")
        async with MarathonClient([sm.url], max_attempts=1) as m:
            with pytest.raises(MarathonError, match="400"):
                await m.get_app("/x")
            with pytest.raises(MarathonError, match="not JSON"):
                await m.list_deployments()


async def test_create_after_a_cut_connection_reads_state_and_does_not_resend() -> None:
    async with ScriptedMarathon() as sm:
        sm.script.drop_after_apply.add("POST /v2/apps")
        async with MarathonClient([sm.url]) as m:
            app = await m.create_app({"id": "/web-green", "cmd": "x", "instances": 1})
    assert app.id == "/web-green"
    assert sm.script.requests.count("POST /v2/apps") == 1
    assert "GET /v2/apps/web-green" in sm.script.requests


async def test_kill_and_scale_after_a_cut_connection_learns_it_happened() -> None:
    async with ScriptedMarathon() as sm:
        sm.script.apps["/b"] = {
            "id": "/b",
            "instances": 1,
            "tasks": [{"id": "b.instance-1._app.1", "appId": "/b", "state": "TASK_RUNNING"}],
        }
        sm.script.drop_after_apply.add("POST /v2/tasks/delete")
        async with MarathonClient([sm.url]) as m:
            ref = await m.kill_and_scale(["b.instance-1._app.1"])
    assert sm.script.requests.count("POST /v2/tasks/delete") == 1
    assert ref.deployment_id is None  # happened (task gone), id unknowable from state


async def test_failover_to_the_next_url_and_unreachable_when_all_fail() -> None:
    async with ScriptedMarathon() as sm:
        sm.script.apps["/a"] = {"id": "/a"}
        async with MarathonClient(["http://127.0.0.1:1", sm.url]) as m:
            assert [a.id for a in await m.list_apps()] == ["/a"]
    async with MarathonClient(["http://127.0.0.1:1"], max_attempts=2) as m:
        with pytest.raises(MarathonUnreachable, match="no Marathon URL answered"):
            await m.info()


async def test_scale_sends_only_instances_and_secrets_stay_out_of_repr() -> None:
    async with ScriptedMarathon() as sm:
        sm.script.canned["PUT /v2/apps/a"] = (200, b'{"deploymentId":"d1","version":"v"}', "application/json")
        async with MarathonClient([sm.url + "/"], username="u", password="hunter2") as m:
            ref = await m.scale_app("/a", 3)
            assert "hunter2" not in repr(m)
    assert ref.deployment_id == "d1"


async def test_a_write_is_not_retried_once_its_guard_says_the_lease_is_gone() -> None:
    """Fencing inside one write: Marathon answers 503 (leader election) and the lease is lost
    meanwhile; the retry is not sent. Also no first attempt when the guard is already False."""
    async with ScriptedMarathon() as sm:
        sm.script.canned["PUT /v2/apps/a"] = (503, b'{"message":"no leader"}', "application/json")
        ok = (200, b'{"deploymentId":"d1","version":"v"}', "application/json")
        sm.script.canned["DELETE /v2/apps/a"] = ok
        ours = [True]

        def guard() -> bool:
            held, ours[0] = ours[0], False  # ours for the first attempt only
            return held

        async with MarathonClient([sm.url], max_attempts=4) as m:
            with pytest.raises(Fenced, match="not sent"):
                await m.scale_app("/a", 3, guard=guard)
            with pytest.raises(Fenced):
                await m.delete_app("/a", guard=lambda: False)
            with pytest.raises(Fenced):
                await m.kill_and_scale(["a.instance-1._app.1"], guard=lambda: False)
            assert (await m.delete_app("/a", guard=lambda: True)).deployment_id == "d1"
    assert sm.script.requests.count("PUT /v2/apps/a") == 1
    assert sm.script.requests.count("DELETE /v2/apps/a") == 1
    assert "POST /v2/tasks/delete" not in sm.script.requests


def test_bad_configuration_is_rejected_clearly(tmp_path) -> None:
    with pytest.raises(ValueError, match="at least one URL"):
        MarathonClient([])
    with pytest.raises(ValueError, match="expected http"):
        MarathonClient(["ftp://x"])
    with pytest.raises(ValueError, match="not both"):
        MarathonClient(["http://x"], username="u", token="t")
    token = tmp_path / "tok"
    token.write_text("s3cret\n")
    m = MarathonClient(["http://x/service/marathon"], token_file=str(token))
    assert m.transport.auth_headers() == {"Authorization": "token=s3cret"}
    assert m.event_stream_urls(["a", "b"]) == [
        "http://x/service/marathon/v2/events?event_type=a&event_type=b"
    ]
    assert "s3cret" not in repr(m)
    json.dumps(m.event_stream_urls())

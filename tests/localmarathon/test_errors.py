"""The error table of reference §4.5, one test per row, and "nothing half-created" after each."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import SSE, Recorder, example

# The RAML examples use `/existing_app`, which Marathon's own id rule rejects (no `_`): we use a dash.
APP = {"id": "/existing-app", "cmd": "sleep 100", "instances": 1}


async def snapshot(lm: LocalMarathon, http: aiohttp.ClientSession) -> object:
    async with http.get(lm.url + "/v2/apps?embed=apps.tasks") as r:
        apps = (await r.json())["apps"]
    async with http.get(lm.url + "/v2/deployments") as r:
        deployments = await r.json()
    return apps, [d["id"] for d in deployments]


async def call(http: aiohttp.ClientSession, method: str, url: str, **kw: object) -> tuple[int, object]:
    async with http.request(method, url, **kw) as r:  # type: ignore[arg-type]
        assert r.headers.get("X-Marathon-Leader"), "every response carries X-Marathon-Leader"
        ctype = r.headers.get("Content-Type", "")
        return r.status, (await r.json()) if "json" in ctype else await r.text()


async def test_409_app_already_exists(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    assert (await call(http, "POST", lm.url + "/v2/apps", json=APP))[0] == 201
    before = await snapshot(lm, http)
    status, body = await call(http, "POST", lm.url + "/v2/apps", json=APP)
    expected = example("raml-error-409-app-already-exists.json")
    expected["message"] = expected["message"].replace("/existing_app", "/existing-app")
    assert (status, body) == (409, expected)
    assert await snapshot(lm, http) == before


async def test_409_app_locked_lists_deployments(
    lm: LocalMarathon, http: aiohttp.ClientSession, rec: Recorder
) -> None:
    slow = {**APP, "labels": {"LOCALMARATHON_STAGING_S": "30"}}
    async with http.post(lm.url + "/v2/apps", json=slow) as r:
        plan_id = r.headers["Marathon-Deployment-Id"]
    before = await snapshot(lm, http)
    status, body = await call(http, "PUT", lm.url + "/v2/apps/existing-app", json={"instances": 3})
    expected = example("raml-error-409-app-locked.json")
    assert status == 409 and isinstance(body, dict)
    assert body["message"] == expected["message"]  # `<DEPLOYMENT_ID>` literally, not substituted
    assert body["deployments"] == [{"id": plan_id}] and list(body) == list(expected)
    assert await snapshot(lm, http) == before
    # PATCH answers the long message too (§9: the RAML's short PATCH /v2/apps example is stale).
    status, body = await call(http, "PATCH", lm.url + "/v2/apps/existing-app", json={"instances": 3})
    assert status == 409 and body != example("raml-error-409-app-locked-short-patch-apps.json")


async def test_422_object_not_valid(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    bad = {**APP, "upgradeStrategy": {"minimumHealthCapacity": 1.5}}
    status, body = await call(http, "POST", lm.url + "/v2/apps", json=bad)
    assert (status, body) == (422, example("raml-error-422-object-not-valid.json"))
    assert await snapshot(lm, http) == ([], [])


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"instances": -1}, "/instances"),
        ({"id": "/Bad_ID"}, "/id"),
        ({"id": "/a/-b"}, "/id"),
        ({"cmd": None}, "/"),
        ({"mem": -5}, "/mem"),
        ({"healthChecks": [{"protocol": "HTTP", "portIndex": 3}]}, "/healthChecks(0)"),
    ],
)
async def test_422_invalid_app_names_the_path(
    lm: LocalMarathon, http: aiohttp.ClientSession, patch: dict[str, object], path: str
) -> None:
    status, body = await call(http, "POST", lm.url + "/v2/apps", json={**APP, **patch})
    assert status == 422 and isinstance(body, dict)
    assert body["message"] == "Object is not valid"
    assert path in [d["path"] for d in body["details"]] and all(d["errors"] for d in body["details"])
    assert await snapshot(lm, http) == ([], [])


async def test_422_json_type_error(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "POST", lm.url + "/v2/apps", json={**APP, "id": 42})
    # §4.5/§9: the RAML example says 400, 1.11's code answers 422 with the same body.
    assert (status, body) == (422, example("raml-error-400-invalid-json.json"))
    assert await snapshot(lm, http) == ([], [])


async def test_400_malformed_json_has_string_details(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    status, body = await call(
        http, "POST", lm.url + "/v2/apps", data=b'{"id": "/x", ', headers={"Content-Type": "application/json"}
    )
    assert status == 400 and isinstance(body, dict)
    assert body["message"] == "Invalid JSON" and isinstance(body["details"], str) and body["details"]
    assert await snapshot(lm, http) == ([], [])


async def test_400_empty_body(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "POST", lm.url + "/v2/apps", data=b"")
    assert status == 400 and isinstance(body, dict)
    assert body["message"] == "Please specify data in JSON format"
    assert str(body["details"]).startswith("No content to map due to end-of-input")


async def test_404_unknown_app_task_and_deployment(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    assert await call(http, "GET", lm.url + "/v2/apps/not_existent") == (
        404,
        example("raml-error-404-app-not-exist.json"),
    )
    for method in ("PATCH", "DELETE"):
        status, body = await call(http, method, lm.url + "/v2/apps/not_existent", json={"instances": 1})
        assert (status, body) == (404, example("raml-error-404-app-not-exist.json"))
    assert (await call(http, "GET", lm.url + "/v2/apps/not_existent/versions"))[0] == 404
    assert (await call(http, "POST", lm.url + "/v2/apps", json=APP))[0] == 201
    status, body = await call(http, "DELETE", lm.url + "/v2/apps/existing-app/tasks/not-existing")
    assert (status, body) == (404, example("raml-error-404-task-not-exist.json"))
    status, body = await call(http, "DELETE", lm.url + "/v2/deployments/unknown_deployment")
    assert (status, body) == (404, example("raml-error-404-deployment-unknown.json"))
    status, body = await call(http, "GET", lm.url + "/v2/apps/existing-app/versions/2000-01-01T00:00:00.000Z")
    assert (status, body) == (
        404,
        {"message": "App '/existing-app' does not exist in version 2000-01-01T00:00:00.000Z"},
    )


async def test_400_bad_request_scale_and_wipe(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    assert (await call(http, "POST", lm.url + "/v2/apps", json=APP))[0] == 201
    status, body = await call(http, "DELETE", lm.url + "/v2/apps/existing-app/tasks?scale=true&wipe=true")
    assert (status, body) == (400, {"message": "You cannot use scale and wipe at the same time."})


async def test_400_invalid_task_id_and_unknown_ids_ignored(
    lm: LocalMarathon, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, "POST", lm.url + "/v2/tasks/delete", json={"ids": ["not_known"]})
    assert status == 400 and isinstance(body, dict)
    # §9: the RAML says "Invalid task id not_known"; 1.11 quotes the id and appends the parser message.
    assert body["message"].startswith("Invalid task id 'not_known'. [")
    assert body != example("raml-error-400-invalid-task-id.json")
    well_formed = "web.instance-6f3c8e2a-0b1c-11ec-9a03-0242ac130003._app.1"
    assert await call(http, "POST", lm.url + "/v2/tasks/delete", json={"ids": [well_formed]}) == (
        200,
        {"tasks": []},
    )


async def test_500_uri_not_found(lm: LocalMarathon, http: aiohttp.ClientSession) -> None:
    for path in ("/v2/nothing", "/v3/apps", "/marathon/v2/nope"):
        assert await call(http, "GET", lm.url + path) == (500, {"message": "URI not found"})


async def test_401_basic_auth_everywhere_including_events() -> None:
    async with LocalMarathon(port=0, credentials="admin:secret") as lm, aiohttp.ClientSession() as http:
        for path, headers in (("/v2/apps", {}), ("/ping", {}), ("/v2/events", SSE)):
            async with http.get(lm.url + path, headers=headers) as r:
                assert r.status == 401
                assert r.headers["WWW-Authenticate"] == 'Basic realm="Mesosphere"'
        good = {"Authorization": "Basic " + base64.b64encode(b"admin:secret").decode()}
        async with http.get(lm.url + "/v2/apps", headers=good) as r:
            assert r.status == 200
        wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()}
        async with http.get(lm.url + "/v2/apps", headers=wrong) as r:
            assert r.status == 401

"""Every example payload of the reference parses into its model; ids parse; bad input is rejected clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reactor.core import events as ev
from reactor.core.ids import incarnation_of, instance_id_of, normalize_app_id, parse_task_id, safe_app_id
from reactor.core.models import App, Deployment, DeploymentRef, MarathonErrorBody, Task, TaskState

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "marathon-examples"


def _json(name: str):
    return json.loads((EXAMPLES / name).read_text())


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*event*.json")), ids=lambda p: p.name)
def test_every_example_event_parses_into_its_model(path: Path) -> None:
    raw = path.read_bytes()
    event = ev.parse_event(raw)
    assert not isinstance(event, ev.GenericEvent)
    assert event.event_type == json.loads(raw)["eventType"]


def test_constructed_111_events_of_reference_parse() -> None:
    ref = (Path(__file__).resolve().parents[1] / "fixtures" / "marathon-api.md").read_text()
    lines = [ln[len("data: ") :] for ln in ref.splitlines() if ln.startswith("data: {") and "{...}" not in ln]
    assert len(lines) >= 6
    for line in lines:
        assert not isinstance(ev.parse_event(line.encode()), ev.GenericEvent)
    for line in (EXAMPLES / "raml-sse-events.txt").read_text().splitlines():
        if line.startswith("data: "):
            ev.parse_event(line[6:])
    attached = (EXAMPLES / "doc-sse-curl-event_stream_attached.txt").read_text().splitlines()[-1]
    assert isinstance(ev.parse_event(attached[6:]), ev.EventStreamAttached)


def test_event_quirks() -> None:
    status = ev.parse_event(
        b'{"slaveId":"s","taskId":"a.instance-1._app.2","taskStatus":"TASK_NEW_STATE","message":"",'
        b'"appId":"/a","host":"h","ipAddresses":[],"ports":[],"version":"v","eventType":"status_update_event",'
        b'"timestamp":"t"}'
    )
    assert isinstance(status, ev.StatusUpdateEvent)
    assert status.task_status == "TASK_NEW_STATE" and not status.task_status.is_known
    health = ev.parse_event(
        b'{"instanceId":"a.instance-1","runSpecId":"/a","healthy":null,"eventType":"instance_health_changed_event"}'
    )
    assert isinstance(health, ev.InstanceHealthChangedEvent) and health.healthy is None
    fm = ev.parse_event(b'{"eventType":"framework_message_event","message":[104,105]}')
    assert isinstance(fm, ev.FrameworkMessageEvent) and fm.message == (104, 105)
    info = ev.parse_event(
        b'{"plan":{"id":"p","steps":[{"actions":[{"action":"ScaleApplication","app":"/x"}]}],"version":"v"},'
        b'"currentStep":{"actions":[{"action":"ScaleApplication","app":"/x"}]},"eventType":"deployment_info"}'
    )
    assert isinstance(info, ev.DeploymentInfo) and info.plan.affected_apps == ("/x",)


def test_unknown_event_type_is_kept_as_generic() -> None:
    event = ev.parse_event(b'{"eventType":"brand_new_event","timestamp":"t","x":[1,2]}')
    assert isinstance(event, ev.GenericEvent)
    assert event.event_type == "brand_new_event" and event.raw["x"] == [1, 2]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "invalid JSON"),
        (b"[1]", "expected a JSON object"),
        (b'{"a":1}', "no string 'eventType'"),
        (b'{"eventType":"status_update_event"}', "taskId"),
        (b"\xff\xfe\x00", "JSON"),
        (b"", "JSON"),
    ],
)
def test_malformed_payloads_raise_one_typed_error(raw: bytes, reason: str) -> None:
    with pytest.raises(ev.MalformedEvent) as info:
        ev.parse_event(raw)
    assert reason in info.value.reason
    assert isinstance(info.value.raw_excerpt, str)


@pytest.mark.parametrize(
    "name",
    [
        "mlb-fixture-v2-apps-embed-tasks-marathon-0.15.json",
        "mlb-fixture-v2-apps-embed-tasks-marathon-1.5.json",
        "raml-app_list.json",
    ],
)
def test_app_lists_parse(name: str) -> None:
    apps = [App.model_validate(a) for a in _json(name)["apps"]]
    assert apps and all(a.id.startswith("/") for a in apps)
    tasks = [t for a in apps for t in a.tasks]
    for t in tasks:
        parse_task_id(t.id)
        for r in t.health_check_results:
            assert (r.instance_id or r.task_id) is not None


def test_single_apps_and_tasks_parse() -> None:
    for name in [
        "raml-app.json",
        "doc-app-with-taskKillGracePeriodSeconds.json",
        "mlb-zdd-app-definition-1-nginx.json",
        "systemtest-app-readiness-and-health.json",
    ]:
        app = App.model_validate(_json(name))
        assert app.id
    ready = App.model_validate(_json("systemtest-app-readiness-and-health.json"))
    assert ready.readiness_checks[0].port_name == "api" and ready.health_checks[0].protocol == "HTTP"
    assert Task.model_validate(_json("raml-app_task.json")["task"]).state is TaskState.TASK_STAGING
    for name in ["raml-app_tasks.json", "raml-tasks.json"]:
        assert all(Task.model_validate(t).id for t in _json(name)["tasks"])
    for name in ["test-task-multiple-ips.json.tmpl", "test-task-without-ip.json.tmpl"]:
        text = (EXAMPLES / name).read_text().replace("${f.runSpecId}", "/app")
        text = text.replace("${f.taskWithMultipleIPs.task.taskId.idString}", "app.instance-1._app.1")
        text = text.replace("${f.taskWithoutIp.task.taskId.idString}", "app.instance-1._app.1")
        task = Task.model_validate_json(text)
        assert task.health is None and task.state is TaskState.TASK_STAGING


def test_deployments_and_refs_and_errors_parse() -> None:
    deps = [Deployment.model_validate(d) for d in _json("raml-deployments.json")]
    assert deps[0].affected_apps == ("/foo",) and deps[0].current_actions[0].readiness_check_results
    assert DeploymentRef.model_validate(_json("raml-deployments_result.json")).deployment_id
    for path in sorted(EXAMPLES.glob("raml-error-*.json")):
        body = MarathonErrorBody.model_validate_json(path.read_bytes())
        assert body.message
    locked = MarathonErrorBody.model_validate(_json("raml-error-409-app-locked.json"))
    assert [d.id for d in locked.deployments] == ["97c136bf-5a28-4821-9d94-480d9fbb01c8"]
    invalid = MarathonErrorBody.model_validate(_json("raml-error-422-object-not-valid.json"))
    assert isinstance(invalid.details, tuple) and invalid.details[0].errors == ("is greater than 1",)
    parser = MarathonErrorBody.model_validate({"message": "Invalid JSON", "details": "Unexpected end"})
    assert parser.details == "Unexpected end"


def test_task_health_rule() -> None:
    base = {"id": "a.instance-1._app.1", "appId": "/a", "state": "TASK_RUNNING"}
    alive = {"alive": True, "consecutiveFailures": 0, "instanceId": "a.instance-1"}
    dead = {"alive": False, "consecutiveFailures": 0, "instanceId": "a.instance-1"}
    assert Task.model_validate({**base, "healthCheckResults": [alive]}).health is True
    assert Task.model_validate({**base, "healthCheckResults": [alive, dead]}).health is False
    assert Task.model_validate(base).health is None
    staging = {**base, "state": "TASK_STAGING", "healthCheckResults": [alive]}
    assert Task.model_validate(staging).health is None
    assert Task.model_validate({**base, "healthCheckResults": None, "ports": None}).ports == ()


def test_ids() -> None:
    t = parse_task_id("prod_web-green.instance-6f3c8e2a-0b1c-11ec-9a03-0242ac130003._app.3")
    assert t.instance_id == "prod_web-green.instance-6f3c8e2a-0b1c-11ec-9a03-0242ac130003"
    assert (t.container, t.incarnation, t.safe_app_id) == ("_app", 3, "prod_web-green")
    assert instance_id_of("a.instance-x._app") == "a.instance-x"
    assert incarnation_of("a.instance-x._app") is None
    assert instance_id_of("my-app_0-1396592784349") == "my-app.marathon-0-1396592784349"
    assert instance_id_of("foo.0664256e-6771-11e5-94e1-be5b2935a987") == (
        "foo.marathon-0664256e-6771-11e5-94e1-be5b2935a987"
    )
    assert incarnation_of("foo.0664256e.4") == 4
    assert instance_id_of("nginx.marathon-01da9a15") == "nginx.marathon-01da9a15"
    assert safe_app_id("/prod/web") == "prod_web" and normalize_app_id("prod/web/") == "/prod/web"


@pytest.mark.parametrize("bad", ["", " a.b", "nodelimiter", "/prod/web", "a b.c"])
def test_bad_task_ids_name_the_problem(bad: str) -> None:
    with pytest.raises(ValueError, match="task id"):
        parse_task_id(bad)


@pytest.mark.parametrize("bad", ["", "/", "/Prod", "/a/b c", "/a_b"])
def test_bad_app_ids_name_the_problem(bad: str) -> None:
    with pytest.raises(ValueError, match="app id"):
        normalize_app_id(bad)

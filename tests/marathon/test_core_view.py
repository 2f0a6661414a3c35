"""ClusterView folds events and snapshots into the reactor's cache and reports dirty groups."""

from __future__ import annotations

import json

from reactor.core.events import parse_event
from reactor.core.models import App, Deployment, Snapshot
from reactor.core.view import ClusterView

INST = "web-blue.instance-11111111-0000-11ec-9a03-0242ac130003"
TASK1 = INST + "._app.1"
TASK2 = INST + "._app.2"


def app(app_id: str = "/web-blue", group: str | None = "web", *, checks: int = 1, tasks=(), **kw) -> App:
    labels = {"BLUEGREEN_GROUP": group} if group else {}
    hcs = [{"protocol": "HTTP", "path": "/health"}] * checks
    return App.model_validate(
        {
            "id": app_id,
            "instances": kw.pop("instances", 1),
            "labels": labels,
            "healthChecks": hcs,
            "tasks": list(tasks),
            "version": "v1",
            **kw,
        }
    )


def task(task_id: str = TASK1, state: str = "TASK_RUNNING", alive: bool | None = None) -> dict:
    t = {"id": task_id, "appId": "/web-blue", "state": state, "host": "h", "ports": [1]}
    if alive is not None:
        t["healthCheckResults"] = [{"alive": alive, "consecutiveFailures": 0, "instanceId": INST}]
    return t


def event(kind: str, **fields) -> bytes:
    return json.dumps({"eventType": kind, "timestamp": "2021-08-30T10:00:00.000Z", **fields}).encode()


def status(task_id: str, state: str, app_id: str = "/web-blue") -> bytes:
    return event(
        "status_update_event",
        slaveId="s",
        taskId=task_id,
        taskStatus=state,
        message="",
        appId=app_id,
        host="h",
        ipAddresses=[],
        ports=[31000],
        version="v1",
    )


def test_replace_reports_changed_and_vanished_groups() -> None:
    view = ClusterView()
    assert view.replace(Snapshot(apps=(app(), app("/api-blue", "api")))) == {"web", "api"}
    assert view.replace(Snapshot(apps=(app(), app("/api-blue", "api")))) == set()
    assert view.replace(Snapshot(apps=(app(),))) == {"api"}
    assert view.groups() == ["web"]
    assert view.replace(Snapshot(apps=(app(tasks=[task()]),))) == {"web"}
    dep = Deployment.model_validate({"id": "d1", "affectedApps": ["/web-blue"]})
    assert view.replace(Snapshot(apps=(app(tasks=[task()]),), deployments=(dep,))) == {"web"}
    assert [d.id for d in view.deployments_for("/web-blue")] == ["d1"]


def test_health_rules() -> None:
    view = ClusterView()
    view.replace(
        Snapshot(
            apps=(
                app(tasks=[task(alive=True)]),
                app(
                    "/nohc",
                    "x",
                    checks=0,
                    tasks=[{"id": "nohc.instance-2._app.1", "appId": "/nohc", "state": "TASK_RUNNING"}],
                ),
            )
        )
    )
    assert view.task_health(TASK1) is True
    assert view.task_health("nohc.instance-2._app.1") is True  # no checks: running = healthy
    assert view.task_health("unknown") is None
    assert view.apply(
        parse_event(
            event("instance_health_changed_event", instanceId=INST, runSpecId="/web-blue", healthy=None)
        )
    ) == {"web"}
    assert view.task_health(TASK1) is None  # null is unknown, never healthy
    view.apply(
        parse_event(
            event("instance_health_changed_event", instanceId=INST, runSpecId="/web-blue", healthy=False)
        )
    )
    assert view.task_health(TASK1) is False
    # the same event again changes nothing
    assert (
        view.apply(
            parse_event(
                event("instance_health_changed_event", instanceId=INST, runSpecId="/web-blue", healthy=False)
            )
        )
        == set()
    )
    view.apply(
        parse_event(
            event("health_status_changed_event", appId="/web-blue", instanceId=INST, version="v1", alive=True)
        )
    )
    assert view.task_health(TASK1) is True


def test_status_updates_add_update_and_remove_tasks() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app(instances=2),)))
    assert view.apply(parse_event(status(TASK1, "TASK_STAGING"))) == {"web"}
    assert view.task_health(TASK1) is None
    view.apply(parse_event(status(TASK1, "TASK_RUNNING")))
    assert view.tasks_of("/web-blue")[0].started_at is not None
    assert view.apply(parse_event(status(TASK1, "TASK_RUNNING"))) == set()  # repeat = no change
    # a failed task of an app that wants more instances stays (Marathon lists it until relaunch)
    view.apply(parse_event(status(TASK1, "TASK_FAILED")))
    assert [t.state for t in view.tasks_of("/web-blue")] == ["TASK_FAILED"]
    assert "/web-blue" in view.needs_refresh
    # the relaunch (incarnation 2) replaces it
    view.apply(parse_event(status(TASK2, "TASK_RUNNING")))
    assert [t.id for t in view.tasks_of("/web-blue")] == [TASK2]
    assert view.take_needs_refresh() == {"/web-blue"} and not view.needs_refresh


def test_terminal_status_after_scale_down_removes_the_task() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app(instances=0, tasks=[task()]),)))
    assert view.apply(parse_event(status(TASK1, "TASK_KILLED"))) == {"web"}
    assert view.tasks_of("/web-blue") == [] and not view.needs_refresh


def test_deployment_events_and_late_reordering() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app(),)))
    plan = {
        "id": "p1",
        "steps": [{"actions": [{"action": "ScaleApplication", "app": "/web-blue"}]}],
        "version": "v",
    }
    step = event("deployment_info", plan=plan, currentStep=plan["steps"][0])
    # recorded (rounds see the app locked), but no round is due: a lock only holds writes back
    assert view.apply(parse_event(step)) == set()
    assert view.deployments_for("/web-blue")[0].current_step == 1
    # its step's success locks the same apps: recorded, but no round is due for it
    assert view.apply(parse_event(event("deployment_step_success", plan=plan,
                                        currentStep=plan["steps"][0]))) == set()
    assert [d.id for d in view.deployments_for("/web-blue")] == ["p1"]
    assert view.apply(parse_event(event("deployment_success", id="p1", plan=plan))) == {"web"}
    assert view.deployments() == []
    late = event("deployment_step_success", plan=plan, currentStep=plan["steps"][0])
    assert view.apply(parse_event(late)) == set()
    assert view.deployments() == []  # a late step event does not resurrect a finished plan
    # a step event of a plan never seen (its deployment_info was missed) locks, still no round
    plan2 = {**plan, "id": "p2"}
    assert view.apply(parse_event(event("deployment_step_success", plan=plan2,
                                        currentStep=plan2["steps"][0]))) == set()
    assert [d.id for d in view.deployments_for("/web-blue")] == ["p2"]
    # the plan names one more app, then drops one: only the app it releases has a round due
    view.replace(Snapshot(apps=(app(), app("/api-blue", "api")), deployments=view.deployments()))
    both = {**plan2, "steps": [{"actions": [{"action": "ScaleApplication", "app": "/web-blue"},
                                            {"action": "ScaleApplication", "app": "/api-blue"}]}]}
    assert view.apply(parse_event(event("deployment_info", plan=both, currentStep=both["steps"][0]))) == set()
    assert view.apply(parse_event(event("deployment_info", plan=plan2,
                                        currentStep=plan2["steps"][0]))) == {"api"}
    assert view.deployment_ids_for("/api-blue") == () and view.deployment_ids_for("/web-blue") == ("p2",)


def test_instance_changed_marks_only_a_change_of_state() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app(tasks=[task(state="TASK_STAGING")]),)))

    def changed(condition: str, instance: str = INST) -> bytes:
        return event("instance_changed_event", instanceId=instance, condition=condition,
                     runSpecId="/web-blue", agentId="a", host="h", runSpecVersion="v1")

    assert view.apply(parse_event(changed("Running"))) == {"web"}
    assert [t.state for t in view.tasks_of("/web-blue")] == ["TASK_RUNNING"]
    assert view.apply(parse_event(changed("Running"))) == set()  # what the view holds already
    assert view.apply(parse_event(changed("Scheduled"))) == set()  # no task state of ours
    other = "web-blue.instance-22222222-0000-11ec-9a03-0242ac130003"
    assert view.apply(parse_event(changed("Staging", other))) == set()  # unknown: its status follows


def test_api_post_and_app_terminated() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app(tasks=[task()]),)))
    definition = app(instances=3).model_dump(by_alias=True, exclude={"tasks"})
    assert view.apply(
        parse_event(event("api_post_event", clientIp="1", uri="/v2/apps/web-blue", appDefinition=definition))
    ) == {"web"}
    assert view.app("/web-blue").instances == 3 and len(view.tasks_of("/web-blue")) == 1
    # moving an app to another group dirties both
    moved = app(group="other").model_dump(by_alias=True, exclude={"tasks"})
    assert view.apply(parse_event(event("api_post_event", appDefinition=moved))) == {"web", "other"}
    assert view.apply(parse_event(event("app_terminated_event", appId="/web-blue"))) == {"other"}
    assert view.app("/web-blue") is None and view.task(TASK1) is None and view.groups() == []


def test_the_definition_an_api_post_event_carries_is_kept_for_apps_of_a_group() -> None:
    view = ClusterView()
    posted = {"id": "/web-green", "cmd": "run v2", "instances": 0, "labels": {"BLUEGREEN_GROUP": "web"},
              "env": {"V": "2"}, "version": "2021-08-30T10:00:00.000Z", "tasksRunning": 0, "tasks": []}
    view.apply(parse_event(event("api_post_event", uri="/v2/apps", appDefinition=posted)))
    # as history keeps it for undo: runtime fields gone, everything else as posted
    assert view.definition("/web-green") == {"id": "/web-green", "cmd": "run v2", "instances": 0,
                                             "labels": {"BLUEGREEN_GROUP": "web"}, "env": {"V": "2"}}
    view.apply(parse_event(event("api_post_event", appDefinition={**posted, "instances": 2})))
    assert view.definition("/web-green")["instances"] == 2  # the latest update
    view.apply(parse_event(event("api_post_event", appDefinition={"id": "/other", "cmd": "x"})))
    assert view.definition("/other") is None  # no group: nothing of ours, nothing kept
    # a REST read keeps it while the app is the version the event carried ...
    view.replace(Snapshot(apps=(app("/web-green", version=posted["version"]),)))
    assert view.definition("/web-green") is not None
    view.replace_app(app("/web-green", version=posted["version"]))
    assert view.definition("/web-green") is not None
    # ... and forgets it for another version: an update whose event we missed (a reconnect)
    view.replace_app(app("/web-green", version="2021-08-30T11:00:00.000Z"))
    assert view.definition("/web-green") is None
    view.apply(parse_event(event("api_post_event", appDefinition=posted)))
    view.replace(Snapshot(apps=(app("/web-green", version="2021-08-30T11:00:00.000Z"),)))
    assert view.definition("/web-green") is None
    view.apply(parse_event(event("api_post_event", appDefinition=posted)))
    view.apply(parse_event(event("app_terminated_event", appId="/web-green")))
    assert view.definition("/web-green") is None
    view.apply(parse_event(event("api_post_event", appDefinition=posted)))
    view.replace(Snapshot(apps=()))
    assert view.definition("/web-green") is None  # gone from Marathon: forgotten


def test_events_for_unknown_apps_ask_for_a_refresh() -> None:
    view = ClusterView()
    assert view.apply(parse_event(status("new.instance-1._app.1", "TASK_RUNNING", "/new"))) == set()
    assert view.needs_refresh == {"/new"}
    assert view.replace_app(app("/new", "g", tasks=[])) == {"g"}
    assert view.needs_refresh == frozenset()
    assert view.remove_app("/new") == {"g"}


def test_generic_and_stream_events_change_nothing() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app(),)))
    for raw in [
        event("brand_new_event"),
        event("event_stream_attached", remoteAddress="x"),
        event("group_change_success", groupId="/", version="v"),
    ]:
        assert view.apply(parse_event(raw)) == set()

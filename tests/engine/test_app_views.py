"""AppViews (the per-group memo of the planner's app views) never serves a stale view.

After every change a ClusterView can go through (events of each kind, our own writes, a
snapshot, a port index change), the memo's build equals a build from scratch; where nothing of
an app changed it returns the very same objects (the reuse it is for)."""

from __future__ import annotations

import json
from typing import Any

from reactor.core.events import parse_event
from reactor.core.models import App, Deployment, Snapshot
from reactor.core.view import ClusterView
from reactor.engine.observe import AppViews, PortIndexes, app_view, port_index_for
from reactor.settings import Settings

INST = "web-green.instance-11111111-0000-11ec-9a03-0242ac130003"
TASK = INST + "._app.1"
OTHER_INST = "web-green.instance-22222222-0000-11ec-9a03-0242ac130003"


def ev(kind: str, **fields: Any) -> Any:
    return parse_event(json.dumps({"eventType": kind, "timestamp": "2021-08-30T10:00:00.000Z", **fields}))


def app(app_id: str, instances: int = 1, **kw: Any) -> App:
    return App.model_validate({"id": app_id, "instances": instances, "labels": {"BLUEGREEN_GROUP": "web"},
                               "healthChecks": [{"protocol": "HTTP", "path": "/h"}], "version": "v1", **kw})


def status(task_id: str, state: str) -> Any:
    return ev("status_update_event", slaveId="s", taskId=task_id, taskStatus=state, message="",
              appId="/web-green", host="h", ipAddresses=[], ports=[31000, 31001], version="v1")


def step(plan_id: str, *apps: str) -> Any:
    actions = [{"action": "ScaleApplication", "app": a} for a in apps]
    return ev("deployment_info", plan={"id": plan_id, "steps": [{"actions": actions}]},
              currentStep={"actions": actions})


def fresh(view: ClusterView, port_index: PortIndexes) -> tuple[Any, ...]:
    return tuple(app_view(view, a, port_index) for a in view.apps_in_group("web"))


def test_the_memo_equals_a_fresh_build_after_every_kind_of_change() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app("/web-blue", tasks=[]), app("/web-green", 0, tasks=[]))))
    memo = AppViews()
    changes = [
        lambda: view.apply(status(TASK, "TASK_STAGING")),
        lambda: view.apply(status(TASK, "TASK_RUNNING")),
        lambda: view.apply(ev("instance_health_changed_event", instanceId=INST, runSpecId="/web-green",
                              healthy=True, runSpecVersion="v1")),
        lambda: view.apply(ev("health_status_changed_event", appId="/web-green", instanceId=INST,
                              version="v1", alive=False)),
        lambda: view.apply(ev("instance_changed_event", instanceId=INST, condition="Killing",
                              runSpecId="/web-green", agentId=None, host=None, runSpecVersion="v1")),
        lambda: view.apply(status(OTHER_INST + "._app.1", "TASK_RUNNING")),
        lambda: view.apply(step("d1", "/web-green")),
        lambda: view.apply(step("d2", "/web-green", "/web-blue")),
        lambda: view.apply(step("d2", "/web-green")),  # the same plan, now naming fewer apps
        lambda: view.note_scaled("/web-green", 3),
        lambda: view.apply(ev("deployment_success", id="d1", plan={"id": "d1", "steps": []})),
        lambda: view.note_killed([TASK]),
        lambda: view.apply(ev("api_post_event", appDefinition={
            "id": "/web-green", "instances": 2, "cmd": "x", "labels": {"BLUEGREEN_GROUP": "web"}})),
        lambda: view.replace(Snapshot(apps=(app("/web-blue", tasks=[]), app("/web-green", 2, tasks=[])))),
        lambda: view.apply(ev("deployment_failed", id="d2", plan={"id": "d2", "steps": []})),
        lambda: view.replace(Snapshot(apps=(app("/web-blue", tasks=[]), app("/web-green", 2, tasks=[])),
                                      deployments=(Deployment.model_validate(
                                          {"id": "d3", "affectedApps": ["/web-blue"]}),))),
        lambda: view.apply(ev("app_terminated_event", appId="/web-blue")),
    ]
    for n, change in enumerate(changes):
        change()
        for port_index in (PortIndexes(0, 0), PortIndexes(1, 1), PortIndexes(1, 0), PortIndexes(0, 0)):
            assert memo.build(view, view.apps_in_group("web"), port_index) == fresh(view, port_index), n
        for a in ("/web-blue", "/web-green"):  # the index agrees with a scan of every deployment
            assert view.deployment_ids_for(a) == tuple(sorted(d.id for d in view.deployments_for(a))), n


def test_unchanged_apps_are_the_same_objects_and_a_change_rebuilds_only_its_app() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app("/web-blue", tasks=[]), app("/web-green", 1, tasks=[]))))
    view.apply(status(TASK, "TASK_RUNNING"))
    memo = AppViews()
    blue, green = memo.build(view, view.apps_in_group("web"), PortIndexes(0, 0))
    again = memo.build(view, view.apps_in_group("web"), PortIndexes(0, 0))
    assert again[0] is blue and again[1] is green
    view.apply(ev("instance_health_changed_event", instanceId=INST, runSpecId="/web-green", healthy=True,
                  runSpecVersion="v1"))
    after = memo.build(view, view.apps_in_group("web"), PortIndexes(0, 0))
    assert after[0] is blue and after[1] is not green and after[1].tasks[0].healthy is True


def test_the_lb_port_index_picks_the_traffic_port_and_the_drain_index_the_metrics_port() -> None:
    view = ClusterView()
    view.replace(Snapshot(apps=(app("/web-green", 1, tasks=[]),)))
    view.apply(status(TASK, "TASK_RUNNING"))  # ports [31000, 31001]
    [green] = AppViews().build(view, view.apps_in_group("web"), PortIndexes(drain=1, lb=0))
    assert (green.tasks[0].port, green.tasks[0].lb_port) == (31001, 31000)
    [green] = AppViews().build(view, view.apps_in_group("web"), PortIndexes(drain=0, lb=2))
    assert (green.tasks[0].port, green.tasks[0].lb_port) == (31000, None)  # no third port: no LB add


def test_port_indexes_come_from_labels_else_the_config_and_the_lb_follows_the_drain() -> None:
    def of(settings: dict[str, Any], labels: dict[str, str]) -> PortIndexes:
        return port_index_for(Settings.model_validate(settings), app("/web-green", labels={
            "BLUEGREEN_GROUP": "web", **labels}))
    assert of({}, {}) == PortIndexes(0, 0)
    assert of({"drain": {"port_index": 1}}, {}) == PortIndexes(1, 1)  # one port for both (default)
    assert of({"drain": {"port_index": 1}, "lb": {"port_index": 0}}, {}) == PortIndexes(1, 0)
    assert of({}, {"BLUEGREEN_DRAIN_PORT_INDEX": "1"}) == PortIndexes(1, 1)
    assert of({"lb": {"port_index": 2}}, {"BLUEGREEN_LB_PORT_INDEX": "0",
                                          "BLUEGREEN_DRAIN_PORT_INDEX": "1"}) == PortIndexes(1, 0)

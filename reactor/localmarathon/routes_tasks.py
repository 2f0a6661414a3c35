"""Task routes: `/v2/apps/{id}/tasks[/{taskId}]`, `/v2/tasks`, `POST /v2/tasks/delete` (reference §4.1).

Owns: kill semantics — without `scale` the instance is relaunched (same instance, incarnation
+1); `wipe` expunges it and schedules a fresh instance; `scale=true` is a ScaleApplication plan
per affected app with the chosen instances sentenced (locks apply, `force` overrides, group `/`).
Malformed task ids → 400; well-formed unknown ids in /v2/tasks/delete are silently ignored.
Must not: parse app definitions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from reactor.localmarathon import errors
from reactor.localmarathon.cluster import VersionKind
from reactor.localmarathon.deployments import Action, ActionKind
from reactor.localmarathon.model import Instance, TaskState, instance_id_of, json_copy
from reactor.localmarathon.routes_apps import deployment_result, flag, get_record, path_app_id, st
from reactor.localmarathon.state import MarathonState
from reactor.localmarathon.validation import parse_body
from reactor.localmarathon.web import json_response


def _kill_modes(request: web.Request) -> tuple[bool, bool, bool]:
    scale, wipe, force = (
        flag(request, "scale", False),
        flag(request, "wipe", False),
        flag(request, "force", False),
    )
    if scale and wipe:
        raise errors.bad_request("You cannot use scale and wipe at the same time.")
    return scale, wipe, force


def kill_instances(
    s: MarathonState, insts: list[Instance], scale: bool, wipe: bool, force: bool, group_id: str
) -> web.Response | list[dict[str, Any]]:
    """Kill tasks; a deployment result when `scale`, else the killed tasks' JSON."""
    if scale:
        by_app: dict[str, list[Instance]] = {}
        for inst in insts:
            if inst.app_id in s.cluster.apps:
                by_app.setdefault(inst.app_id, []).append(inst)
        step = [
            Action(ActionKind.SCALE, app_id, [i.instance_id for i in group])
            for app_id, group in by_app.items()
        ]
        originals = {a: json_copy(s.cluster.apps[a].defn) for a in by_app}
        plan = s.deployments.new_plan([step] if step else [], dict(originals))
        s.deployments.admit(plan, force, group_id)
        for app_id, group in by_app.items():
            defn = json_copy(s.cluster.apps[app_id].defn)
            defn["instances"] = max(0, int(defn["instances"]) - len(group))
            s.cluster.store_app(defn, VersionKind.SCALE, plan.version)
        s.deployments.start(plan, group_id)
        return deployment_result(plan)
    killed = [i.task_json() for i in insts]
    for inst in insts:
        s.cluster.kill(inst, decommission=wipe)
        if wipe and inst.app_id in s.cluster.apps:
            s.cluster.launch(inst.app_id, 1)
    return killed


async def app_tasks(request: web.Request) -> web.Response:
    s = st(request)
    rec = get_record(s, path_app_id(request))
    return json_response({"tasks": [i.task_json() for i in s.cluster.app_instances(rec.defn["id"])]})


async def kill_app_tasks(request: web.Request) -> web.StreamResponse:
    s = st(request)
    rec = get_record(s, path_app_id(request))
    scale, wipe, force = _kill_modes(request)
    host = request.query.get("host", "*")
    insts = [
        i
        for i in s.cluster.app_instances(rec.defn["id"])
        if not i.state.terminal and host in ("*", "127.0.0.1", "localhost")
    ]
    result = kill_instances(s, insts, scale, wipe, force, "/")
    return result if isinstance(result, web.StreamResponse) else json_response({"tasks": result})


async def kill_app_task(request: web.Request) -> web.StreamResponse:
    s = st(request)
    rec = get_record(s, path_app_id(request))
    scale, wipe, force = _kill_modes(request)
    task_id = request.match_info["task_id"]
    inst = s.cluster.find_task(task_id)
    if inst is None or inst.app_id != rec.defn["id"]:
        raise errors.task_not_found(task_id)
    result = kill_instances(s, [inst], scale, wipe, force, "/")
    return result if isinstance(result, web.StreamResponse) else json_response({"task": result[0]})


async def list_tasks(request: web.Request) -> web.Response:
    s = st(request)
    wanted = {v.lower() for v in request.query.getall("status", []) + request.query.getall("status[]", [])}
    states = (
        {TaskState.RUNNING}
        if wanted == {"running"}
        else {TaskState.STAGING}
        if wanted == {"staging"}
        else ({TaskState.RUNNING, TaskState.STAGING} if wanted >= {"running", "staging"} else None)
    )
    tasks = [i.task_json() for i in s.cluster.instances.values() if states is None or i.state in states]
    return json_response({"tasks": tasks})


async def delete_tasks(request: web.Request) -> web.StreamResponse:
    s = st(request)
    scale, wipe, force = _kill_modes(request)
    body = parse_body(await request.read())
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise errors.invalid_json_types([{"path": "/ids", "errors": ["error.expected.jsarray"]}])
    insts: list[Instance] = []
    for task_id in ids:
        if instance_id_of(task_id) is None:
            raise errors.bad_request(
                f"Invalid task id '{task_id}'. [Unable to parse the task id '{task_id}']"
            )
        inst = s.cluster.find_task(task_id)
        if inst is not None and inst not in insts:
            insts.append(inst)
    result = kill_instances(s, insts, scale, wipe, force, "/")
    return result if isinstance(result, web.StreamResponse) else json_response({"tasks": result})

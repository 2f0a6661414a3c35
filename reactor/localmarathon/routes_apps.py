"""`/v2/apps` routes: create, list, read, update (PUT/PATCH, partialUpdate, rollback), delete,
restart, versions (reference §4.1 to §4.3).

Owns: request → plan → lock admission → store → start → `api_post_event`, in that order, so a
rejected request (400/404/409/422) changes nothing, and `api_post_event` is published after the
plan was stored and launched: its `deployment_info` can come first (reference §0.4).
Must not: run deployments or touch tasks.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web

from reactor.localmarathon import catalogue, errors
from reactor.localmarathon.cluster import AppRecord, VersionKind
from reactor.localmarathon.deployments import Action, ActionKind, Plan, steps_for_update
from reactor.localmarathon.model import json_copy
from reactor.localmarathon.state import MarathonState
from reactor.localmarathon.validation import canonical_id, normalize, parse_body, type_errors, validate
from reactor.localmarathon.web import STATE_KEY, json_response


def st(request: web.Request) -> MarathonState:
    state: MarathonState = request.app[STATE_KEY]
    return state


def flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


def group_of(app_id: str) -> str:
    parent = app_id.rsplit("/", 1)[0]
    return parent or "/"


def app_info(s: MarathonState, rec: AppRecord, embeds: set[str], single: bool) -> dict[str, Any]:
    app_id = rec.defn["id"]
    out = rec.definition_json()
    out.update(s.cluster.counts(app_id))
    out["deployments"] = [{"id": d} for d in s.deployments.for_app(app_id)]
    prefix = "app." if single else "apps."
    if prefix + "readiness" in embeds:
        out["readinessCheckResults"] = _readiness(s, rec)
    if single or prefix + "tasks" in embeds or prefix + "failures" in embeds:
        out["tasks"] = [i.task_json() for i in s.cluster.app_instances(app_id)]
    if prefix + "taskStats" in embeds:
        stats = task_stats(s, rec)
        if stats:
            out["taskStats"] = stats
    failure = s.cluster.last_failure(app_id)
    if failure and (single or prefix + "lastTaskFailure" in embeds or prefix + "failures" in embeds):
        out["lastTaskFailure"] = failure
    return out


def task_stats(s: MarathonState, rec: AppRecord) -> dict[str, Any]:
    """`embed=app.taskStats` (TaskStatsByVersion): counts and life times per version class."""
    insts = [i for i in s.cluster.app_instances(rec.defn["id"]) if i.active]
    n_checks = len(rec.defn.get("healthChecks") or [])
    classes = {
        "startedAfterLastScaling": [i for i in insts if i.version >= rec.last_scaling_at],
        "withLatestConfig": [i for i in insts if i.config_version == rec.last_config_change_at],
        "withOutdatedConfig": [i for i in insts if i.config_version != rec.last_config_change_at],
        "totalSummary": insts,
    }
    now = time.monotonic()
    out: dict[str, Any] = {}
    for name, members in classes.items():
        if not members:
            continue
        counts = {
            "staged": sum(1 for i in members if i.state.value == "TASK_STAGING"),
            "running": sum(1 for i in members if i.state.value == "TASK_RUNNING"),
            "healthy": sum(1 for i in members if n_checks and i.healthy(n_checks) is True),
            "unhealthy": sum(1 for i in members if n_checks and any(not h.alive for h in i.health.values())),
        }
        stats: dict[str, Any] = {"counts": counts}
        lives = sorted(now - i.running_since_s for i in members if i.running_since_s is not None)
        if lives:
            mid = len(lives) // 2
            median = lives[mid] if len(lives) % 2 else (lives[mid - 1] + lives[mid]) / 2
            stats["lifeTime"] = {"averageSeconds": sum(lives) / len(lives), "medianSeconds": median}
        out[name] = {"stats": stats}
    return out


def _readiness(s: MarathonState, rec: AppRecord) -> list[dict[str, Any]]:
    checks = rec.defn.get("readinessChecks") or []
    if not checks:
        return []
    return [
        {
            "name": checks[0]["name"],
            "taskId": i.task_id,
            "ready": i.ready,
            **({"lastResponse": i.readiness_last} if i.readiness_last else {}),
        }
        for i in s.cluster.app_instances(rec.defn["id"])
        if i.config_version == rec.last_config_change_at
    ]


def deployment_result(plan: Plan, status: int = 200, extra: dict[str, str] | None = None) -> web.Response:
    return json_response(
        {"deploymentId": plan.id, "version": plan.version},
        status,
        {"Marathon-Deployment-Id": plan.id, **(extra or {})},
    )


async def read_app_body(request: web.Request) -> dict[str, Any]:
    body = parse_body(await request.read())
    details = type_errors(body, lenient=st(request).lenient)
    if details:
        raise errors.invalid_json_types(details)
    assert isinstance(body, dict)
    return body


def _checked(defn: dict[str, Any]) -> dict[str, Any]:
    details = validate(defn)
    if details:
        raise errors.invalid(details)
    return defn


async def create_app(request: web.Request) -> web.Response:
    s = st(request)
    body = await read_app_body(request)
    defn = _checked(normalize(body))
    app_id = defn["id"]
    if app_id in s.cluster.apps:
        exc = errors.app_exists(app_id)
        s.bus.publish(
            catalogue.group_change_failed(group_of(app_id), s.bus.now(), exc.body["message"], s.bus.now())
        )
        raise exc
    plan = s.deployments.new_plan(steps_for_update(None, defn), {app_id: None})
    s.deployments.admit(plan, flag(request, "force", False), group_of(app_id))
    rec = s.cluster.store_app(defn, VersionKind.CONFIG, plan.version)
    s.deployments.start(plan, group_of(app_id))
    await _publish_api_post(request, rec.definition_json(False))
    info = rec.definition_json()
    info.update(s.cluster.counts(app_id))
    info["deployments"] = [{"id": plan.id}]
    location = _location(request, app_id, "/v2/apps")
    return json_response(info, 201, {"Location": location, "Marathon-Deployment-Id": plan.id})


def _label_selector(expr: str) -> list[tuple[str, str, list[str]]]:
    out: list[tuple[str, str, list[str]]] = []
    for part in re.findall(r"[^,(]+(?:\([^)]*\))?", expr):
        part = part.strip()
        m = re.match(r"^([^\s!=]+)\s*(==|!=|\s+in\s+|\s+notin\s+)\s*(.*)$", part)
        if not m:
            out.append((part, "exists", []))
            continue
        key, op, raw = m.group(1), m.group(2).strip(), m.group(3).strip()
        values = [v.strip() for v in raw.strip("()").split(",")] if op in ("in", "notin") else [raw]
        out.append((key, op, values))
    return out


def _matches(labels: dict[str, str], selector: list[tuple[str, str, list[str]]]) -> bool:
    for key, op, values in selector:
        value = labels.get(key)
        if (op == "exists" and value is None) or (op in ("==", "in") and value not in values):
            return False
        if op in ("!=", "notin") and value in values:
            return False
    return True


async def list_apps(request: web.Request) -> web.Response:
    s = st(request)
    embeds = set(request.query.getall("embed", []))
    id_filter = request.query.get("id", "").lower()
    cmd_filter = request.query.get("cmd", "")
    selector = _label_selector(request.query["label"]) if request.query.get("label") else []
    apps = []
    for app_id in sorted(s.cluster.apps):
        rec = s.cluster.apps[app_id]
        if id_filter and id_filter not in app_id.lower():
            continue
        if cmd_filter and cmd_filter not in (rec.defn.get("cmd") or ""):
            continue
        if selector and not _matches(rec.defn.get("labels") or {}, selector):
            continue
        apps.append(app_info(s, rec, embeds, single=False))
    return json_response({"apps": apps})


def path_app_id(request: web.Request) -> str:
    return canonical_id(request.match_info["id"])


def get_record(s: MarathonState, app_id: str) -> AppRecord:
    rec = s.cluster.apps.get(app_id)
    if rec is None:
        raise errors.app_not_found(app_id)
    return rec


async def get_app(request: web.Request) -> web.Response:
    s = st(request)
    rec = get_record(s, path_app_id(request))
    return json_response({"app": app_info(s, rec, set(request.query.getall("embed", [])), single=True)})


async def put_app(request: web.Request) -> web.Response:
    return await _update(request, patch=False)


async def patch_app(request: web.Request) -> web.Response:
    return await _update(request, patch=True)


async def _update(request: web.Request, patch: bool) -> web.Response:
    s = st(request)
    app_id = path_app_id(request)
    body = await read_app_body(request)
    old = s.cluster.apps.get(app_id)
    if old is None and patch:
        raise errors.app_not_found(app_id)
    if "version" in body:
        if set(body) - {"id", "version"}:
            raise errors.ApiError(
                422, {"message": "The 'version' field may only be combined with the 'id' field."}
            )
        stored = old.versions.get(body["version"]) if old else None
        if stored is None:
            raise errors.app_not_found(app_id, body["version"])
        new = normalize(stored)
    else:
        partial = patch or flag(request, "partialUpdate", True)
        new = normalize({**body, "id": app_id}, old.defn if (old and partial) else None)
    new = _checked(new)
    old_defn = json_copy(old.defn) if old else None
    plan = s.deployments.new_plan(steps_for_update(old_defn, new), {app_id: old_defn})
    s.deployments.admit(plan, flag(request, "force", False), group_of(app_id))
    kinds = {a.kind for step in plan.steps for a in step}
    if plan.steps:
        kind = VersionKind.SCALE if kinds == {ActionKind.SCALE} else VersionKind.CONFIG
        rec = s.cluster.store_app(new, kind, plan.version)
    else:
        rec = get_record(s, app_id)
    s.deployments.start(plan, group_of(app_id))
    await _publish_api_post(request, rec.definition_json())
    if old is None:  # a PUT that created the app: 201 with Location, like POST
        return deployment_result(plan, 201, {"Location": _location(request, app_id, "/v2/apps")})
    return deployment_result(plan)


async def _publish_api_post(request: web.Request, definition: dict[str, Any]) -> None:
    """After the plan is stored and started; the plan's first `deployment_info` goes out first."""
    s = st(request)
    await asyncio.sleep(0)  # the deployment task publishes its first step
    s.bus.publish(catalogue.api_post(request.remote or "", request.path, definition, s.bus.now()))


def _location(request: web.Request, app_id: str, base: str) -> str:
    prefix = request.path[: request.path.index("/v2/")] if "/v2/" in request.path else ""
    return str(request.url.with_path(prefix + base + app_id).with_query(None))


async def delete_app(request: web.Request) -> web.Response:
    s = st(request)
    rec = get_record(s, path_app_id(request))
    app_id = rec.defn["id"]
    plan = s.deployments.new_plan(steps_for_update(rec.defn, None), {app_id: json_copy(rec.defn)})
    s.deployments.admit(plan, flag(request, "force", True), group_of(app_id))
    s.cluster.remove_app(app_id)
    s.deployments.start(plan, group_of(app_id))
    return deployment_result(plan)


async def restart_app(request: web.Request) -> web.Response:
    s = st(request)
    rec = get_record(s, path_app_id(request))
    app_id = rec.defn["id"]
    plan = s.deployments.new_plan([], {app_id: json_copy(rec.defn)})
    plan.steps = [[Action(ActionKind.RESTART, app_id)]]
    s.deployments.admit(plan, flag(request, "force", False), group_of(app_id))
    s.cluster.store_app(rec.defn, VersionKind.RESTART, plan.version)
    s.deployments.start(plan, group_of(app_id))
    return deployment_result(plan)


async def app_versions(request: web.Request) -> web.Response:
    rec = get_record(st(request), path_app_id(request))
    return json_response({"versions": sorted(rec.versions, reverse=True)})


async def app_version(request: web.Request) -> web.Response:
    rec = get_record(st(request), path_app_id(request))
    ts = request.match_info["version"]
    stored = rec.versions.get(ts)
    if stored is None:
        raise errors.app_not_found(rec.defn["id"], ts)
    return json_response(stored)

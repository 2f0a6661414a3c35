"""Read-only `/v2/groups`, `/v2/queue` and `/v2/pods` with Marathon 1.11's shapes (reference §4.1).

Owns: the group tree derived from app ids (`GET /v2/groups[/{id}]`: `{id, apps, groups, pods,
dependencies, version, enforceRole}`, nested by path), the launch queue (`GET /v2/queue`: instances
waiting for a relaunch after their task ended, `{queue: [{app, count, delay, since, role,
processedOffersSummary}]}`), and the pods API answering as a Marathon without pods
(`[]`, 404 `Pod '/x' does not exist`). Must not: change state (no group or pod writes here).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from reactor.localmarathon import errors
from reactor.localmarathon.model import Goal
from reactor.localmarathon.routes_apps import app_info, st
from reactor.localmarathon.state import MarathonState
from reactor.localmarathon.validation import canonical_id
from reactor.localmarathon.web import json_response


def _group(s: MarathonState, group_id: str, embeds: set[str]) -> dict[str, Any] | None:
    prefix = "" if group_id == "/" else group_id
    apps = [s.cluster.apps[a] for a in sorted(s.cluster.apps) if a.rsplit("/", 1)[0] == prefix]
    children = sorted(
        {prefix + "/" + a[len(prefix) + 1 :].split("/", 1)[0] for a in s.cluster.apps
         if a.startswith(prefix + "/") and "/" in a[len(prefix) + 1 :]}
    )
    if group_id != "/" and not apps and not children:
        return None
    versions = [r.version for r in apps]
    groups = [g for g in (_group(s, c, embeds) for c in children) if g is not None]
    versions += [g["version"] for g in groups]
    app_embeds = {e.replace("group.apps.", "apps.") for e in embeds}
    return {
        "id": group_id,
        "apps": [app_info(s, r, app_embeds, single=False) for r in apps],
        "groups": groups,
        "pods": [],
        "dependencies": [],
        "version": max(versions) if versions else s.bus.now(),
        "enforceRole": False,
    }


async def get_group(request: web.Request) -> web.Response:
    s = st(request)
    raw = request.match_info.get("id", "")
    group_id = canonical_id(raw) if raw.strip("/") else "/"
    group = _group(s, group_id, set(request.query.getall("embed", [])))
    if group is None:
        raise errors.ApiError(404, {"message": f"Group '{group_id}' does not exist"})
    return json_response(group)


async def queue(request: web.Request) -> web.Response:
    s = st(request)
    out = []
    for app_id in sorted(s.cluster.apps):
        waiting = [i for i in s.cluster.app_instances(app_id) if i.goal is Goal.RUNNING and i.state.terminal]
        if not waiting:
            continue
        rec = s.cluster.apps[app_id]
        out.append(
            {
                "app": rec.definition_json(),
                "count": len(waiting),
                "delay": {"timeLeftSeconds": int(rec.defn.get("backoffSeconds", 1)), "overdue": False},
                "since": min(i.staged_at or rec.version for i in waiting),
                "role": rec.defn.get("role", "*"),
                "processedOffersSummary": {
                    "processedOffersCount": 0,
                    "unusedOffersCount": 0,
                    "rejectSummaryLastOffers": [],
                    "rejectSummaryLaunchAttempt": [],
                },
            }
        )
    return json_response({"queue": out})


async def list_pods(request: web.Request) -> web.Response:
    return json_response([])


async def get_pod(request: web.Request) -> web.Response:
    pod_id = canonical_id(request.match_info["id"])
    raise errors.ApiError(404, {"message": f"Pod '{pod_id}' does not exist"})

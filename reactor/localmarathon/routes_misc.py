"""Deployments, info, leader, ping and the `/_localmarathon/` extras (stats, faults, timeline).

Owns: `GET /v2/deployments` (running non-empty plans), `DELETE /v2/deployments/{id}` (force=true:
202 cancel; else a forced revert plan to the originals), `/v2/info`, `/v2/leader`, `/ping`,
and applying injected faults to the bus. Must not: touch tasks directly.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from reactor.localmarathon import errors
from reactor.localmarathon.cluster import VersionKind
from reactor.localmarathon.deployments import Action, ActionKind, steps_for_update
from reactor.localmarathon.faults import FailNext, parse_faults
from reactor.localmarathon.model import json_copy
from reactor.localmarathon.routes_apps import deployment_result, flag, st
from reactor.localmarathon.validation import parse_body
from reactor.localmarathon.web import json_response

VERSION = "1.11.24"


async def list_deployments(request: web.Request) -> web.Response:
    s = st(request)
    return json_response([s.deployments.step_info(p) for p in s.deployments.plans.values()])


async def delete_deployment(request: web.Request) -> web.Response:
    s = st(request)
    plan_id = request.match_info["id"]
    plan = s.deployments.plans.get(plan_id)
    if plan is None:
        raise errors.deployment_not_found(plan_id)
    if flag(request, "force", False):
        s.deployments.cancel(plan_id)
        return web.Response(status=202)
    s.deployments.cancel(plan_id)
    steps: list[list[Action]] = []
    originals: dict[str, dict[str, Any] | None] = {}
    for app_id, original in plan.originals.items():
        rec = s.cluster.apps.get(app_id)
        current = json_copy(rec.defn) if rec else None
        originals[app_id] = current
        for i, step in enumerate(steps_for_update(current, original)):
            if i < len(steps):
                steps[i].extend(step)
            else:
                steps.append(step)
    revert = s.deployments.new_plan(steps, originals)
    for app_id, original in plan.originals.items():
        kinds = {a.kind for step in steps for a in step if a.app_id == app_id}
        if original is None:
            s.cluster.remove_app(app_id)
        elif kinds:
            kind = VersionKind.SCALE if kinds == {ActionKind.SCALE} else VersionKind.CONFIG
            s.cluster.store_app(original, kind, revert.version)
    s.deployments.start(revert, "/")
    return deployment_result(revert)


async def info(request: web.Request) -> web.Response:
    s = st(request)
    host, _, port = s.leader.rpartition(":")
    return json_response(
        {
            "name": "marathon",
            "version": VERSION,
            "buildref": "localmarathon",
            "elected": True,
            "leader": s.leader,
            "frameworkId": s.framework_id,
            "marathon_config": {
                "checkpoint": True,
                "executor": "//cmd",
                "failover_timeout": 604800,
                "features": list(s.features),
                "framework_name": "marathon",
                "ha": False,
                "hostname": host,
                "local_port_max": 20000,
                "local_port_min": 10000,
                "master": "local",
                "mesos_role": "*",
                "mesos_user": "root",
                "webui_url": None,
            },
            "zookeeper_config": {
                "zk": "zk://localhost:2181/marathon",
                "zk_timeout": 10000,
                "zk_session_timeout": 10000,
                "zk_max_versions": 50,
            },
            "http_config": {"http_port": int(port or 0), "https_port": 8443},
        }
    )


async def leader(request: web.Request) -> web.Response:
    return json_response({"leader": st(request).leader})


async def ping(request: web.Request) -> web.Response:
    accept = request.headers.get("Accept", "*/*")
    if "text/plain" in accept or "*/*" in accept or "text/*" in accept:
        return web.Response(text="pong", content_type="text/plain")
    if "application/json" in accept:
        return json_response("pong")
    return web.Response(status=204)


async def stats(request: web.Request) -> web.Response:
    s = st(request)
    return json_response(
        {
            "requests": dict(s.faults.requests),
            "events_emitted": s.bus.events_emitted,
            "open_streams": sum(1 for sub in s.bus.subscribers if not sub.closed),
        }
    )


async def faults(request: web.Request) -> web.Response:
    s = st(request)
    body = parse_faults(parse_body(await request.read()))
    if "fail_next" in body:
        fn = body["fail_next"]
        s.faults.fail_next = FailNext(
            int(fn.get("count", 1)), int(fn.get("status", 503)), str(fn.get("route_prefix", "/"))
        )
    if "event_delay_ms" in body:
        s.bus.delay_ms = int(body["event_delay_ms"])
    if "slow_consumer_limit" in body:
        s.bus.slow_consumer_limit = int(body["slow_consumer_limit"])
    if "duplicate_events" in body:
        s.bus.duplicate = bool(body["duplicate_events"])
    if "reorder_events" in body:
        s.bus.reorder_window_ms = int(body["reorder_events"]["window_ms"])
        if "seed" in body["reorder_events"]:
            s.bus.rng.seed(int(body["reorder_events"]["seed"]))
    dropped = 0
    if "failover" in body:
        fo = body["failover"]
        unknown = fo.get("leader_unknown_s")
        s.faults.start_election(float(fo.get("election_s", 0)), None if unknown is None else float(unknown))
        s.health.forget_leader_results(s.faults.election_end_s)
        dropped += s.bus.drop_all("leader failover")
    if body.get("drop_event_streams") or body.get("leader_change"):
        dropped += s.bus.drop_all(
            "leader change" if body.get("leader_change") else "dropped by fault injection"
        )
    return json_response({"applied": sorted(body), "dropped_streams": dropped})


async def timeline(request: web.Request) -> web.Response:
    return json_response(st(request).timeline.to_json())


async def record_timeline(request: web.Request) -> web.Response:
    """`{"record": true}` starts a new record (the previous one is dropped); false stops it."""
    body = parse_body(await request.read())
    if not isinstance(body, dict) or not isinstance(body.get("record"), bool) or len(body) != 1:
        raise errors.invalid([{"path": "/record", "errors": ["expected {\"record\": true or false}"]}])
    s = st(request)
    s.timeline.record(body["record"])
    return json_response({"recording": s.timeline.recording})

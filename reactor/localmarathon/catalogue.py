"""Builders for every event the server emits, keys in Marathon 1.11's emission order (reference §2).

Owns: the key order and the None-handling of each event type (omitted for `Json.writes` events,
`null` for `Json.obj` ones). Pure functions: callers pass the timestamp.
Must not: publish, or decide when an event happens.
"""

from __future__ import annotations

from typing import Any

from reactor.localmarathon.model import AGENT_ID, HOST, Instance

Json = dict[str, Any]


def api_post(client_ip: str, uri: str, app_definition: Json, ts: str) -> Json:
    return {
        "clientIp": client_ip,
        "uri": uri,
        "appDefinition": app_definition,
        "eventType": "api_post_event",
        "timestamp": ts,
    }


def status_update(inst: Instance, ts: str, provisioned: bool = False) -> Json:
    """`provisioned`: no Mesos status yet, so Marathon's defaults (`slaveId` and `message` "")."""
    return {
        "slaveId": "" if provisioned else AGENT_ID,
        "taskId": inst.task_id,
        "taskStatus": inst.state.value,
        "message": "" if provisioned else inst.message,
        "appId": inst.app_id,
        "host": HOST,
        "ipAddresses": [{"ipAddress": HOST, "protocol": "IPv4"}],
        "ports": list(inst.ports),
        "version": inst.version,
        "eventType": "status_update_event",
        "timestamp": ts,
    }


def instance_changed(inst: Instance, condition: str, ts: str, placed: bool = True) -> Json:
    return {
        "instanceId": inst.instance_id,
        "condition": condition,
        "runSpecId": inst.app_id,
        "agentId": AGENT_ID if placed else None,
        "host": HOST if placed else None,
        "runSpecVersion": inst.version,
        "timestamp": ts,
        "eventType": "instance_changed_event",
    }


def instance_health_changed(inst: Instance, healthy: bool | None, ts: str) -> Json:
    return {
        "instanceId": inst.instance_id,
        "runSpecId": inst.app_id,
        "healthy": healthy,
        "runSpecVersion": inst.version,
        "timestamp": ts,
        "eventType": "instance_health_changed_event",
    }


def health_status_changed(inst: Instance, alive: bool, ts: str) -> Json:
    return {
        "appId": inst.app_id,
        "instanceId": inst.instance_id,
        "version": inst.version,
        "alive": alive,
        "eventType": "health_status_changed_event",
        "timestamp": ts,
    }


def failed_health_check(inst: Instance, health_check: Json, ts: str) -> Json:
    # Quirk kept from 1.11: the instance id travels under the key `taskId` (reference §0.10, §9).
    return {
        "appId": inst.app_id,
        "eventType": "failed_health_check_event",
        "healthCheck": health_check,
        "taskId": inst.instance_id,
        "timestamp": ts,
    }


def unhealthy_instance_kill(inst: Instance, reason: str, ts: str) -> Json:
    return {
        "appId": inst.app_id,
        "taskId": inst.task_id,
        "instanceId": inst.instance_id,
        "version": inst.version,
        "reason": reason,
        "host": HOST,
        "slaveId": AGENT_ID,
        "eventType": "unhealthy_instance_kill_event",
        "timestamp": ts,
    }


def add_health_check(app_id: str, health_check: Json, version: str, ts: str) -> Json:
    return {
        "appId": app_id,
        "eventType": "add_health_check_event",
        "healthCheck": health_check,
        "timestamp": ts,
        "version": version,
    }


def remove_health_check(app_id: str, ts: str) -> Json:
    return {"appId": app_id, "eventType": "remove_health_check_event", "timestamp": ts}


def group_change_success(group_id: str, version: str, ts: str) -> Json:
    return {"groupId": group_id, "version": version, "eventType": "group_change_success", "timestamp": ts}


def group_change_failed(group_id: str, version: str, reason: str, ts: str) -> Json:
    return {
        "groupId": group_id,
        "version": version,
        "reason": reason,
        "eventType": "group_change_failed",
        "timestamp": ts,
    }


def deployment_step(kind: str, plan: Json, current_step: Json, ts: str) -> Json:
    """`deployment_info`, `deployment_step_success` or `deployment_step_failure`."""
    return {"plan": plan, "currentStep": current_step, "eventType": kind, "timestamp": ts}


def deployment_success(plan: Json, ts: str) -> Json:
    return {"id": plan["id"], "plan": plan, "eventType": "deployment_success", "timestamp": ts}


def deployment_failed(plan: Json, ts: str, reason: str | None = None) -> Json:
    out: Json = {"id": plan["id"], "plan": plan, "eventType": "deployment_failed", "timestamp": ts}
    if reason is not None:
        out["reason"] = reason
    return out


def app_terminated(app_id: str, ts: str) -> Json:
    return {"appId": app_id, "eventType": "app_terminated_event", "timestamp": ts}

"""Marathon identifiers: app ids, safe run-spec ids, instance ids, task ids and incarnations.

Owns parsing of the id formats of reference §2.2 (1.8+ `<instanceId>._app.<n>` and the legacy
formats Marathon still parses). Pure functions and frozen dataclasses; no I/O. Invalid input
raises ValueError naming the id and what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# <safeId>.(instance-|marathon-)<uuid>[.<container>[.<incarnation>]]
_INSTANCE_BASED = re.compile(
    r"^(?P<safe>.+)\.(?P<kind>instance-|marathon-)(?P<uuid>[^.]+)"
    r"(?:\.(?P<container>[^.]+)(?:\.(?P<incarnation>\d+))?)?$"
)
# resident legacy: <safeId>(.|_)<uuid>.<attempt>
_RESIDENT = re.compile(r"^(?P<safe>.+)[._](?P<uuid>[^_.]+)\.(?P<attempt>\d+)$")
# plain legacy: <safeId>(.|_)<uuid>
_LEGACY = re.compile(r"^(?P<safe>.+?)[._](?P<uuid>[^_.]+)$")
_INSTANCE = re.compile(r"^(?P<safe>.+)\.(?P<kind>instance-|marathon-)(?P<uuid>[^.]+)$")
_APP_SEGMENT = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$|^\.\.?$")


def _check_token(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{kind} must be a string, got {type(value).__name__}")
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"invalid {kind} {value!r}: empty or contains whitespace")
    return value


def normalize_app_id(app_id: str) -> str:
    """Absolute form of an app id (`web` → `/web`); ValueError if a segment is not a valid Marathon name."""
    _check_token("app id", app_id)
    segments = [s for s in app_id.strip("/").split("/") if s]
    if not segments:
        raise ValueError(f"invalid app id {app_id!r}: no path segment")
    for seg in segments:
        if not _APP_SEGMENT.match(seg):
            raise ValueError(
                f"invalid app id {app_id!r}: segment {seg!r} must be lowercase letters, digits, '-' or '.'"
            )
    return "/" + "/".join(segments)


def safe_app_id(app_id: str) -> str:
    """Marathon's `PathId.safePath`: `/prod/web` → `prod_web`."""
    return normalize_app_id(app_id).strip("/").replace("/", "_")


@dataclass(frozen=True, slots=True)
class InstanceId:
    value: str
    safe_app_id: str
    uuid: str
    legacy: bool  # `marathon-` prefix (pre-1.8 instances / legacy tasks)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TaskId:
    value: str
    instance: InstanceId
    container: str | None  # `_app` for apps (1.8+); None for legacy ids
    incarnation: int | None  # 1, 2, … after relaunches; None when the format has none

    @property
    def instance_id(self) -> str:
        return self.instance.value

    @property
    def safe_app_id(self) -> str:
        return self.instance.safe_app_id

    def __str__(self) -> str:
        return self.value


def parse_instance_id(s: str) -> InstanceId:
    _check_token("instance id", s)
    m = _INSTANCE.match(s)
    if not m:
        raise ValueError(
            f"invalid instance id {s!r}: expected '<safeAppId>.instance-<uuid>' "
            "or '<safeAppId>.marathon-<uuid>'"
        )
    return InstanceId(s, m["safe"], m["uuid"], m["kind"] == "marathon-")


def parse_task_id(s: str) -> TaskId:
    """Parse any task id Marathon 1.11 accepts (reference §2.2)."""
    _check_token("task id", s)
    if "/" in s:
        raise ValueError(f"invalid task id {s!r}: task ids never contain '/' (is this an app id?)")
    m = _INSTANCE_BASED.match(s)
    if m:
        inst_value = f"{m['safe']}.{m['kind']}{m['uuid']}"
        instance = InstanceId(inst_value, m["safe"], m["uuid"], m["kind"] == "marathon-")
        inc = m["incarnation"]
        return TaskId(s, instance, m["container"], int(inc) if inc is not None else None)
    m = _RESIDENT.match(s)
    if m:
        instance = InstanceId(f"{m['safe']}.marathon-{m['uuid']}", m["safe"], m["uuid"], True)
        return TaskId(s, instance, None, int(m["attempt"]))
    m = _LEGACY.match(s)
    if m:
        instance = InstanceId(f"{m['safe']}.marathon-{m['uuid']}", m["safe"], m["uuid"], True)
        return TaskId(s, instance, None, None)
    raise ValueError(
        f"invalid task id {s!r}: expected '<safeAppId>.instance-<uuid>._app.<n>' or a legacy "
        "'<safeAppId>.<uuid>' form"
    )


def instance_id_of(task_id: str) -> str:
    """The instance id a task id belongs to (the prefix before `._app` for 1.8+ ids)."""
    return parse_task_id(task_id).instance.value


def incarnation_of(task_id: str) -> int | None:
    return parse_task_id(task_id).incarnation


def instance_id_loose(some_id: str) -> str:
    """Instance id from either a task id or an instance id (events mix both under `taskId`)."""
    return parse_task_id(some_id).instance.value

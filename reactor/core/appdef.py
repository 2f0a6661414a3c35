"""Local validation of a Marathon app definition for `bluegreen deploy`, and GREEN's definition.

Owns what the deployer checks before sending anything (so bad input never reaches Marathon):
the id format of reference §2.2, instance counts, what a task runs, health checks, labels and
the BLUEGREEN_* overrides. Pure: the caller reads the file and talks to Marathon.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from reactor.core import labels as L

# Marathon's PathId segment rule: lowercase letters, digits, '-' and '.', not starting/ending with '-'.
_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
_HEALTH_PROTOCOLS = {"HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"}
# Status fields of a GET'd definition that must not be sent back (`version` would mean rollback).
RUNTIME_FIELDS = frozenset({"version", "versionInfo", "tasks", "deployments", "tasksStaged", "tasksRunning",
                            "tasksHealthy", "tasksUnhealthy", "lastTaskFailure", "taskStats", "tasksStats",
                            "tasksLost", "readinessCheckResults"})


def kept_definition(app: dict[str, Any]) -> dict[str, Any]:
    """An app as Marathon reports it (GET, or an `api_post_event`'s appDefinition) without its
    runtime fields: what a POST of the same app would send, as history keeps it for `undo`."""
    return {k: v for k, v in app.items() if k not in RUNTIME_FIELDS}


class AppDefinitionError(ValueError):
    """The app definition cannot be deployed; `problems` lists (JSON path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


class _HealthCheck(BaseModel):
    model_config = ConfigDict(extra="allow")
    protocol: str = "HTTP"

    @field_validator("protocol")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in _HEALTH_PROTOCOLS:
            raise ValueError(f"unknown protocol {value!r} (one of {', '.join(sorted(_HEALTH_PROTOCOLS))})")
        return value


class _AppDef(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)
    id: str
    instances: StrictInt = Field(1, ge=0)  # Marathon refuses "3"; so do we, before sending
    cmd: str | None = None
    args: list[str] | None = None
    container: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    healthChecks: list[_HealthCheck] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return normalize_app_id(value)


def normalize_app_id(value: str) -> str:
    """Absolute, validated app id (`web` → `/web`); raises ValueError naming the bad segment."""
    path = value.strip()
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments:
        raise ValueError("app id is empty")
    for seg in segments:
        if seg in (".", "..") or not _SEGMENT.match(seg):
            raise ValueError(f"invalid path segment {seg!r}: use lowercase letters, digits, '-' and '.'")
    return "/" + "/".join(segments)


def parse_app_definition(raw: str | bytes) -> dict[str, Any]:
    """Parse and validate; returns the definition (status fields removed, id absolute)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AppDefinitionError([("(file)", f"not valid JSON: {exc.msg} at line {exc.lineno} "
                                              f"column {exc.colno}")]) from None
    except UnicodeDecodeError:  # binary input: json.loads guesses an encoding and fails
        raise AppDefinitionError([("(file)", "not valid JSON: not UTF-8 text")]) from None
    except RecursionError:
        raise AppDefinitionError([("(file)", "not valid JSON: nested too deeply")]) from None
    if not isinstance(data, dict):
        raise AppDefinitionError([("(file)", "an app definition is a JSON object")])
    if "apps" in data or "groups" in data:
        raise AppDefinitionError([("(file)", "a group definition; give one app definition")])
    try:
        app = _AppDef.model_validate(data)
    except ValidationError as exc:
        raise AppDefinitionError([("/" + "/".join(str(p) for p in e["loc"]),
                                   e["msg"].removeprefix("Value error, ")) for e in exc.errors()]) from None
    if app.cmd is None and app.args is None and app.container is None:
        raise AppDefinitionError([("/", "the app runs nothing: give cmd, args or container")])
    try:
        L.overrides_of(app.labels)
    except L.LabelError as exc:
        raise AppDefinitionError([("/labels", str(exc))]) from None
    out = kept_definition(data)
    out["id"] = app.id
    return out


def default_group(app_id: str) -> str:
    """The group of an app definition without BLUEGREEN_GROUP: its id as a safe name."""
    return app_id.strip("/").replace("/", "_")


def green_definition(
    definition: dict[str, Any], *, green_id: str, group: str, target_instances: int,
    started_at: datetime, previous: str | None, batch_size: int | None = None,
    strip_labels: Sequence[str] = (),
) -> dict[str, Any]:
    """GREEN as it is created: 0 instances (the planner scales it), the contract's labels, and
    none of the user's labels matching `strip_labels` (e.g. marathon-lb's HAPROXY_GROUP, so that
    marathon-lb does not route to GREEN behind our back); the contract's own labels always stay."""
    out = dict(definition)
    out["id"] = green_id
    out["instances"] = 0
    labels = {k: v for k, v in definition.get("labels", {}).items() if k not in (L.COLOUR, L.PREVIOUS)
              and not any(fnmatchcase(k, pattern) for pattern in strip_labels)}
    labels.update(L.green_labels(group=group, target_instances=target_instances,
                                 started_at=started_at, previous=previous))
    if batch_size is not None:
        labels["BLUEGREEN_BATCH_SIZE"] = str(batch_size)
    out["labels"] = labels
    return out


def green_app_id(requested_id: str, existing_ids: set[str], started_at: datetime) -> str:
    """The requested id if free, else with a UTC timestamp suffix (and a counter when two
    deployments start within the same second)."""
    if requested_id not in existing_ids:
        return requested_id
    stamped = f"{requested_id}-{started_at.strftime('%Y%m%d%H%M%S')}"
    candidate, n = stamped, 1
    while candidate in existing_ids:
        n += 1
        candidate = f"{stamped}-{n}"
    return candidate

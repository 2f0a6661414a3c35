"""Marathon's data shapes, written from our own definitions: app definitions, instances, tasks.

Owns: timestamp/id formats (reference §2.2), the canonical app definition (defaults, key order of
the RAML `App` type), the AppInfo/Task/healthCheckResults/lastTaskFailure JSON writers (§4.2).
Must not: do I/O, read labels for behaviour, or know about deployments' control flow.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

AGENT_ID = "localmarathon-agent-S0"
HOST = "127.0.0.1"

# RAML App key order (Jackson writes declaration order; cf. mlb-fixture-…-1.5.json).
APP_KEYS = (
    "id",
    "acceptedResourceRoles",
    "args",
    "backoffFactor",
    "backoffSeconds",
    "cmd",
    "constraints",
    "container",
    "cpus",
    "dependencies",
    "disk",
    "env",
    "executor",
    "fetch",
    "healthChecks",
    "instances",
    "labels",
    "maxLaunchDelaySeconds",
    "mem",
    "gpus",
    "networks",
    "portDefinitions",
    "readinessChecks",
    "requirePorts",
    "secrets",
    "taskKillGracePeriodSeconds",
    "upgradeStrategy",
    "user",
    "version",
    "versionInfo",
    "killSelection",
    "unreachableStrategy",
    "tty",
    "role",
)
# Fields that are written even when empty (the rest: None and empty collections are omitted).
ALWAYS_KEYS = frozenset(
    {
        "id",
        "backoffFactor",
        "backoffSeconds",
        "cpus",
        "disk",
        "executor",
        "instances",
        "labels",
        "maxLaunchDelaySeconds",
        "mem",
        "gpus",
        "networks",
        "portDefinitions",
        "requirePorts",
        "upgradeStrategy",
        "killSelection",
        "unreachableStrategy",
        "role",
    }
)
APP_DEFAULTS: dict[str, Any] = {
    "backoffFactor": 1.15,
    "backoffSeconds": 1,
    "cpus": 1.0,
    "disk": 0,
    "executor": "",
    "instances": 1,
    "labels": {},
    "maxLaunchDelaySeconds": 3600,
    "mem": 128.0,
    "gpus": 0,
    "networks": [{"mode": "host"}],
    "requirePorts": False,
    "upgradeStrategy": {"maximumOverCapacity": 1, "minimumHealthCapacity": 1},
    "killSelection": "YOUNGEST_FIRST",
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
    "role": "*",
}
# A difference in any of these (everything but instances/version) is a config change → restart (§4.3).
NON_CONFIG_KEYS = frozenset({"instances", "version", "versionInfo"})

HEALTH_DEFAULTS: dict[str, Any] = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "delaySeconds": 15,
}
HEALTH_KEYS = (
    "command",
    "gracePeriodSeconds",
    "ignoreHttp1xx",
    "intervalSeconds",
    "maxConsecutiveFailures",
    "path",
    "portIndex",
    "port",
    "protocol",
    "ipProtocol",
    "timeoutSeconds",
    "delaySeconds",
)
READINESS_DEFAULTS: dict[str, Any] = {
    "name": "readinessCheck",
    "protocol": "HTTP",
    "path": "/",
    "portName": "http-api",
    "intervalSeconds": 30,
    "timeoutSeconds": 10,
    "httpStatusCodesForReady": [200],
    "preserveLastResponse": False,
}


class TaskState(enum.StrEnum):
    STAGING = "TASK_STAGING"
    STARTING = "TASK_STARTING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"
    KILLED = "TASK_KILLED"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED)

    @property
    def condition(self) -> str:
        return self.value.removeprefix("TASK_").capitalize()


class Goal(enum.StrEnum):
    RUNNING = "Running"
    DECOMMISSIONED = "Decommissioned"


class Clock:
    """Marathon timestamps: `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, strictly increasing per server (versions)."""

    def __init__(self) -> None:
        self._last_ms = 0

    def now(self) -> str:
        ms = max(int(time.time() * 1000), self._last_ms + 1)
        self._last_ms = ms
        return format_ms(ms)


_SECOND: list[Any] = [None, ""]  # the last second formatted, and its text up to the dot


def format_ms(ms: int) -> str:
    """`yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`; every event and version has one, so the part up to the
    second is formatted once per second."""
    second, milli = divmod(ms, 1000)
    if _SECOND[0] != second:
        _SECOND[0], _SECOND[1] = second, datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{_SECOND[1]}{milli:03d}Z"


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): what `copy.deepcopy` gives for it,
    several times faster (every write copies definitions)."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(json_copy(v) for v in value)
    return value


def safe_id(app_id: str) -> str:
    return app_id.strip("/").replace("/", "_")


def new_instance_id(app_id: str) -> str:
    return f"{safe_id(app_id)}.instance-{uuid.uuid1()}"


def task_id_of(instance_id: str, incarnation: int) -> str:
    return f"{instance_id}._app.{incarnation}"


def instance_id_of(task_id: str) -> str | None:
    """Instance id of a 1.8+ task id (`<instanceId>._app.<n>` or `<instanceId>._app`), else None."""
    head, sep, _tail = task_id.partition("._app")
    if not sep or (".instance-" not in head and ".marathon-" not in head):
        return None
    return head


def app_json(defn: dict[str, Any]) -> dict[str, Any]:
    """The stored definition in RAML key order; None and empty optional collections omitted."""
    out: dict[str, Any] = {}
    for key in APP_KEYS:
        if key not in defn:
            continue
        value = defn[key]
        if key not in ALWAYS_KEYS and (value is None or value in ({}, [])):
            continue
        out[key] = json_copy(value)
    return out


def config_of(defn: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in defn.items() if k not in NON_CONFIG_KEYS}


@dataclass
class HealthResult:
    """One health check's state for one instance (Marathon's `Health`)."""

    instance_id: str
    alive: bool = False
    consecutive_failures: int = 0
    first_success: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_failure_cause: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alive": self.alive, "consecutiveFailures": self.consecutive_failures}
        for key, value in (
            ("firstSuccess", self.first_success),
            ("lastFailure", self.last_failure),
            ("lastSuccess", self.last_success),
            ("lastFailureCause", self.last_failure_cause),
        ):
            if value is not None:
                out[key] = value
        out["instanceId"] = self.instance_id
        return out


@dataclass
class Instance:
    """An instance and its current task (one `_app` container, incarnation n)."""

    instance_id: str
    app_id: str
    version: str  # app version at scheduling time
    config_version: str  # app versionInfo.lastConfigChangeAt at scheduling time
    seq: int  # creation order, for killSelection
    incarnation: int = 1
    goal: Goal = Goal.RUNNING
    state: TaskState = TaskState.STAGING
    ports: list[int] = field(default_factory=list)
    service_ports: list[int] = field(default_factory=list)
    staged_at: str | None = None
    started_at: str | None = None
    running_since_s: float | None = None  # monotonic clock, for grace periods
    health: dict[int, HealthResult] = field(default_factory=dict)  # by health check index
    ready: bool = False
    readiness_last: dict[str, Any] | None = None
    killed_by_us: bool = False
    kill_requested: bool = False  # a kill was sent; state stays TASK_RUNNING unless `task_killing`
    message: str = ""

    @property
    def task_id(self) -> str:
        return task_id_of(self.instance_id, self.incarnation)

    @property
    def active(self) -> bool:
        return not self.state.terminal

    def healthy(self, n_checks: int) -> bool | None:
        """Aggregate health: None until every check has a result, then all alive."""
        if n_checks == 0 or len(self.health) < n_checks:
            return None
        return all(h.alive for h in self.health.values())

    def task_json(self, with_health: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"appId": self.app_id}
        if with_health:
            out["healthCheckResults"] = [self.health[k].to_json() for k in sorted(self.health)]
        active = self.active
        out.update(
            {
                "host": HOST,
                "id": self.task_id,
                "ipAddresses": [{"ipAddress": HOST, "protocol": "IPv4"}],
                "ports": list(self.ports) if active else [],
                "servicePorts": list(self.service_ports),
                "slaveId": AGENT_ID,
                "state": self.state.value,
            }
        )
        if active:
            if self.staged_at:
                out["stagedAt"] = self.staged_at
            if self.started_at:
                out["startedAt"] = self.started_at
            out["version"] = self.version
        out["localVolumes"] = []
        out["role"] = "*"
        return out


def last_task_failure_json(inst: Instance, timestamp: str) -> dict[str, Any]:
    return {
        "appId": inst.app_id,
        "host": HOST,
        "message": inst.message,
        "state": inst.state.value,
        "taskId": inst.task_id,
        "timestamp": timestamp,
        "version": inst.version,
        "slaveId": AGENT_ID,
    }

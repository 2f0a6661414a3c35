"""Wire models of Marathon's REST API: apps, tasks, health results, deployments, error bodies.

Owns the typed, frozen shape of what `/v2/apps`, `/v2/tasks`, `/v2/deployments` return, plus the
`Snapshot` the view is rebuilt from. Tolerant by design: camelCase aliases, unknown fields ignored,
omitted fields and `null`s accepted (older Marathons wrote `null`, 1.11 omits). No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _none_to(default_factory: Callable[[], Any]) -> BeforeValidator:
    return BeforeValidator(lambda v: default_factory() if v is None else v)


def _labels(v: Any) -> Any:
    if v is None:
        return {}
    if isinstance(v, dict):
        return {str(k): "" if val is None else str(val) for k, val in v.items()}
    return v


Labels = Annotated[dict[str, str], BeforeValidator(_labels)]


class Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class TaskState(StrEnum):
    """Mesos task states as Marathon reports them; unknown values are kept (never a validation error)."""

    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_ERROR = "TASK_ERROR"
    TASK_KILLED = "TASK_KILLED"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNKNOWN = "TASK_UNKNOWN"
    TASK_LOST = "TASK_LOST"

    @classmethod
    def _missing_(cls, value: object) -> TaskState | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_known(self) -> bool:
        return self._name_ in type(self).__members__


_TERMINAL = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_ERROR,
        TaskState.TASK_KILLED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
        TaskState.TASK_DROPPED,
        TaskState.TASK_UNKNOWN,
        TaskState.TASK_LOST,
    }
)


class HealthCheckResult(Wire):
    alive: bool | None = None
    consecutive_failures: int = Field(0, alias="consecutiveFailures")
    first_success: str | None = Field(None, alias="firstSuccess")
    last_success: str | None = Field(None, alias="lastSuccess")
    last_failure: str | None = Field(None, alias="lastFailure")
    last_failure_cause: str | None = Field(None, alias="lastFailureCause")
    instance_id: str | None = Field(None, alias="instanceId")  # 1.4+
    task_id: str | None = Field(None, alias="taskId")  # pre-1.4


class IpAddress(Wire):
    ip_address: str = Field("", alias="ipAddress")
    protocol: str = "IPv4"


class Task(Wire):
    id: str
    app_id: str = Field("", alias="appId")
    host: str = ""
    ports: Annotated[tuple[int, ...], _none_to(tuple)] = ()
    service_ports: Annotated[tuple[int, ...], _none_to(tuple)] = Field((), alias="servicePorts")
    ip_addresses: Annotated[tuple[IpAddress, ...], _none_to(tuple)] = Field((), alias="ipAddresses")
    slave_id: str | None = Field(None, alias="slaveId")
    state: TaskState = TaskState.TASK_STAGING
    staged_at: str | None = Field(None, alias="stagedAt")
    started_at: str | None = Field(None, alias="startedAt")
    version: str | None = None
    health_check_results: Annotated[tuple[HealthCheckResult, ...], _none_to(tuple)] = Field(
        (), alias="healthCheckResults"
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_state(cls, data: Any) -> Any:
        # Marathon < 1.0 wrote no `state`; a started task was a running one.
        if isinstance(data, dict) and data.get("state") is None and data.get("startedAt"):
            return {**data, "state": "TASK_RUNNING"}
        return data

    @property
    def health(self) -> bool | None:
        """True: running and every check result alive; False: a result is not alive; None: unknown.

        A task without results is unknown here; the view knows whether the app has checks at all.
        """
        results = self.health_check_results
        if any(r.alive is False for r in results):
            return False
        if self.state is not TaskState.TASK_RUNNING:
            return None
        if results and all(r.alive is True for r in results):
            return True
        return None


class HealthCheck(Wire):
    protocol: str = "HTTP"
    path: str | None = None
    port_index: int | None = Field(None, alias="portIndex")
    port: int | None = None
    grace_period_seconds: float = Field(300, alias="gracePeriodSeconds")
    interval_seconds: float = Field(60, alias="intervalSeconds")
    timeout_seconds: float = Field(20, alias="timeoutSeconds")
    max_consecutive_failures: int = Field(3, alias="maxConsecutiveFailures")
    command: dict[str, Any] | None = None


class ReadinessCheck(Wire):
    name: str = "readinessCheck"
    protocol: str = "HTTP"
    path: str = "/"
    port_name: str | None = Field(None, alias="portName")
    interval_seconds: float = Field(30, alias="intervalSeconds")
    timeout_seconds: float = Field(10, alias="timeoutSeconds")
    http_status_codes_for_ready: Annotated[tuple[int, ...], _none_to(tuple)] = Field(
        (200,), alias="httpStatusCodesForReady"
    )


class PortDefinition(Wire):
    port: int = 0
    protocol: str = "tcp"
    name: str | None = None
    labels: Labels = Field(default_factory=dict)


class VersionInfo(Wire):
    last_scaling_at: str | None = Field(None, alias="lastScalingAt")
    last_config_change_at: str | None = Field(None, alias="lastConfigChangeAt")


class DeploymentId(Wire):
    id: str


class ReadinessCheckResult(Wire):
    name: str = ""
    task_id: str = Field("", alias="taskId")
    ready: bool = False


class App(Wire):
    """AppInfo: the definition plus (when embedded) counts, tasks and deployment ids."""

    id: str
    instances: int = 1
    cmd: str | None = None
    labels: Labels = Field(default_factory=dict)
    version: str | None = None
    version_info: VersionInfo | None = Field(None, alias="versionInfo")
    health_checks: Annotated[tuple[HealthCheck, ...], _none_to(tuple)] = Field((), alias="healthChecks")
    readiness_checks: Annotated[tuple[ReadinessCheck, ...], _none_to(tuple)] = Field(
        (), alias="readinessChecks"
    )
    port_definitions: Annotated[tuple[PortDefinition, ...], _none_to(tuple)] = Field(
        (), alias="portDefinitions"
    )
    tasks: Annotated[tuple[Task, ...], _none_to(tuple)] = ()
    deployments: Annotated[tuple[DeploymentId, ...], _none_to(tuple)] = ()
    readiness_check_results: Annotated[tuple[ReadinessCheckResult, ...], _none_to(tuple)] = Field(
        (), alias="readinessCheckResults"
    )
    tasks_staged: int = Field(0, alias="tasksStaged")
    tasks_running: int = Field(0, alias="tasksRunning")
    tasks_healthy: int = Field(0, alias="tasksHealthy")
    tasks_unhealthy: int = Field(0, alias="tasksUnhealthy")

    @property
    def has_health_checks(self) -> bool:
        return bool(self.health_checks)


class DeploymentAction(Wire):
    action: str = Field("", validation_alias=AliasChoices("action", "type"))
    app: str | None = None
    pod: str | None = None
    readiness_check_results: Annotated[tuple[ReadinessCheckResult, ...], _none_to(tuple)] = Field(
        (), alias="readinessCheckResults"
    )


def _step(v: Any) -> Any:
    # Doc examples write a step as a bare action; the 1.11 code writes {"actions": [..]}.
    if isinstance(v, dict) and "actions" not in v and ("action" in v or "type" in v):
        return {"actions": [v]}
    return v


class DeploymentStep(Wire):
    actions: Annotated[tuple[DeploymentAction, ...], _none_to(tuple)] = ()


Step = Annotated[DeploymentStep, BeforeValidator(_step)]


class Deployment(Wire):
    """DeploymentStepInfo of `GET /v2/deployments` (also built from deployment events)."""

    id: str
    version: str | None = None
    affected_apps: Annotated[tuple[str, ...], _none_to(tuple)] = Field((), alias="affectedApps")
    affected_pods: Annotated[tuple[str, ...], _none_to(tuple)] = Field((), alias="affectedPods")
    steps: Annotated[tuple[Step, ...], _none_to(tuple)] = ()
    current_actions: Annotated[tuple[DeploymentAction, ...], _none_to(tuple)] = Field(
        (), alias="currentActions"
    )
    current_step: int = Field(0, alias="currentStep")
    total_steps: int = Field(0, alias="totalSteps")


class DeploymentRef(Wire):
    """`{"deploymentId","version"}` returned by deployment-creating calls; None id when unknowable."""

    deployment_id: str | None = Field(None, alias="deploymentId")
    version: str | None = None


class ErrorDetail(Wire):
    path: str = "/"
    errors: Annotated[tuple[str, ...], _none_to(tuple)] = ()


class MarathonErrorBody(Wire):
    """Any Marathon error body: `message`, optional `details` (list, or a parser string) and `deployments`."""

    message: str = ""
    details: tuple[ErrorDetail, ...] | str | None = None
    deployments: Annotated[tuple[DeploymentId, ...], _none_to(tuple)] = ()


class Snapshot(Wire):
    """Everything the view is rebuilt from: apps (with tasks and deployment ids) and running deployments."""

    apps: tuple[App, ...] = ()
    deployments: tuple[Deployment, ...] = ()

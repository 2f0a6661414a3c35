"""Marathon `/v2/events` payloads as typed models, and the one parser for them.

Owns the event catalogue of reference §2 as one discriminated union on `eventType`, the module-level
`TypeAdapter`, `parse_event` (`validate_json` on the raw bytes is the fast path), `GenericEvent` for
unknown event types, and `MalformedEvent` for anything that is not an event. Pure: no I/O, no logging.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from reactor.core.models import App, DeploymentStep, HealthCheck, IpAddress, Step, TaskState, Wire

_EXCERPT_CHARS = 200


class MalformedEvent(Exception):
    """A stream payload that is not a Marathon event (bad JSON, wrong shape). Counted, logged, skipped."""

    def __init__(self, reason: str, raw_excerpt: str) -> None:
        super().__init__(f"malformed Marathon event: {reason} (payload starts {raw_excerpt!r})")
        self.reason = reason
        self.raw_excerpt = raw_excerpt


class _Event(Wire):
    timestamp: str | None = None


class DeploymentPlan(Wire):
    id: str
    steps: tuple[Step, ...] = ()
    version: str | None = None

    @property
    def affected_apps(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for step in self.steps:
            for action in step.actions:
                if action.app:
                    seen.setdefault(action.app)
        return tuple(seen)


class ApiPostEvent(_Event):
    event_type: Literal["api_post_event"] = Field(alias="eventType")
    client_ip: str | None = Field(None, alias="clientIp")
    uri: str | None = None
    app_definition: App = Field(alias="appDefinition")
    # the same JSON as posted, untyped: what history keeps of GREEN for `undo` without a GET
    definition: dict[str, Any] = Field(default_factory=dict, validation_alias="appDefinition", exclude=True)


class _PodEvent(_Event):
    client_ip: str | None = Field(None, alias="clientIp")
    uri: str | None = None


class PodCreatedEvent(_PodEvent):
    event_type: Literal["pod_created_event"] = Field(alias="eventType")


class PodUpdatedEvent(_PodEvent):
    event_type: Literal["pod_updated_event"] = Field(alias="eventType")


class PodDeletedEvent(_PodEvent):
    event_type: Literal["pod_deleted_event"] = Field(alias="eventType")


class StatusUpdateEvent(_Event):
    event_type: Literal["status_update_event"] = Field(alias="eventType")
    slave_id: str | None = Field(None, alias="slaveId")
    task_id: str = Field(alias="taskId")
    task_status: TaskState = Field(alias="taskStatus")
    message: str | None = None
    app_id: str = Field(alias="appId")
    host: str | None = None
    ip_addresses: tuple[IpAddress, ...] | None = Field(None, alias="ipAddresses")
    ports: tuple[int, ...] | None = None
    version: str | None = None


class InstanceChangedEvent(_Event):
    event_type: Literal["instance_changed_event"] = Field(alias="eventType")
    instance_id: str = Field(alias="instanceId")
    condition: str
    run_spec_id: str = Field(alias="runSpecId")
    agent_id: str | None = Field(None, alias="agentId")
    host: str | None = None
    run_spec_version: str | None = Field(None, alias="runSpecVersion")


class UnknownInstanceTerminatedEvent(_Event):
    event_type: Literal["unknown_instance_terminated_event"] = Field(alias="eventType")
    instance_id: str = Field(alias="instanceId")
    run_spec_id: str = Field(alias="runSpecId")
    condition: str | None = None


class InstanceHealthChangedEvent(_Event):
    event_type: Literal["instance_health_changed_event"] = Field(alias="eventType")
    instance_id: str = Field(alias="instanceId")
    run_spec_id: str = Field(alias="runSpecId")
    healthy: bool | None = None  # null = unknown, never healthy
    run_spec_version: str | None = Field(None, alias="runSpecVersion")


class HealthStatusChangedEvent(_Event):
    event_type: Literal["health_status_changed_event"] = Field(alias="eventType")
    app_id: str = Field(alias="appId")
    instance_id: str | None = Field(None, alias="instanceId")
    task_id: str | None = Field(None, alias="taskId")  # pre-1.4
    version: str | None = None
    alive: bool


class FailedHealthCheckEvent(_Event):
    event_type: Literal["failed_health_check_event"] = Field(alias="eventType")
    app_id: str = Field(alias="appId")
    task_id: str = Field(alias="taskId")  # 1.4+: holds the INSTANCE id
    health_check: HealthCheck | None = Field(None, alias="healthCheck")


class UnhealthyInstanceKillEvent(_Event):
    event_type: Literal["unhealthy_instance_kill_event"] = Field(alias="eventType")
    app_id: str = Field(alias="appId")
    task_id: str = Field(alias="taskId")
    instance_id: str | None = Field(None, alias="instanceId")
    version: str | None = None
    reason: str | None = None
    host: str | None = None
    slave_id: str | None = Field(None, alias="slaveId")


class UnhealthyTaskKillEvent(_Event):
    event_type: Literal["unhealthy_task_kill_event"] = Field(alias="eventType")
    app_id: str = Field(alias="appId")
    task_id: str = Field(alias="taskId")
    version: str | None = None
    reason: str | None = None
    host: str | None = None
    slave_id: str | None = Field(None, alias="slaveId")


class AddHealthCheckEvent(_Event):
    event_type: Literal["add_health_check_event"] = Field(alias="eventType")
    app_id: str = Field(alias="appId")
    health_check: HealthCheck | None = Field(None, alias="healthCheck")
    version: str | None = None


class RemoveHealthCheckEvent(_Event):
    event_type: Literal["remove_health_check_event"] = Field(alias="eventType")
    app_id: str = Field(alias="appId")


class GroupChangeSuccess(_Event):
    event_type: Literal["group_change_success"] = Field(alias="eventType")
    group_id: str = Field(alias="groupId")
    version: str | None = None


class GroupChangeFailed(_Event):
    event_type: Literal["group_change_failed"] = Field(alias="eventType")
    group_id: str = Field(alias="groupId")
    version: str | None = None
    reason: str | None = None


class _DeploymentStepEvent(_Event):
    plan: DeploymentPlan
    current_step: DeploymentStep | None = Field(None, alias="currentStep")


class DeploymentInfo(_DeploymentStepEvent):
    event_type: Literal["deployment_info"] = Field(alias="eventType")


class DeploymentStepSuccess(_DeploymentStepEvent):
    event_type: Literal["deployment_step_success"] = Field(alias="eventType")


class DeploymentStepFailure(_DeploymentStepEvent):
    event_type: Literal["deployment_step_failure"] = Field(alias="eventType")


class DeploymentSuccess(_Event):
    event_type: Literal["deployment_success"] = Field(alias="eventType")
    id: str
    plan: DeploymentPlan | None = None


class DeploymentFailed(_Event):
    event_type: Literal["deployment_failed"] = Field(alias="eventType")
    id: str
    plan: DeploymentPlan | None = None
    reason: str | None = None


class AppTerminatedEvent(_Event):
    event_type: Literal["app_terminated_event"] = Field(alias="eventType")
    app_id: str = Field(alias="appId")


class EventStreamAttached(_Event):
    event_type: Literal["event_stream_attached"] = Field(alias="eventType")
    remote_address: str | None = Field(None, alias="remoteAddress")
    client_ip: str | None = Field(None, alias="clientIp")  # docs' stale shape


class EventStreamDetached(_Event):
    event_type: Literal["event_stream_detached"] = Field(alias="eventType")
    remote_address: str | None = Field(None, alias="remoteAddress")
    client_ip: str | None = Field(None, alias="clientIp")


class FrameworkMessageEvent(_Event):
    event_type: Literal["framework_message_event"] = Field(alias="eventType")
    executor_id: str | None = Field(None, alias="executorId")
    slave_id: str | None = Field(None, alias="slaveId")
    message: tuple[int, ...] | str | None = None  # 1.11: byte ints; docs: base64 string


class SchedulerRegisteredEvent(_Event):
    event_type: Literal["scheduler_registered_event"] = Field(alias="eventType")
    framework_id: str | None = Field(None, alias="frameworkId")
    master: str | None = None


class SchedulerReregisteredEvent(_Event):
    event_type: Literal["scheduler_reregistered_event"] = Field(alias="eventType")
    master: str | None = None


class SchedulerDisconnectedEvent(_Event):
    event_type: Literal["scheduler_disconnected_event"] = Field(alias="eventType")


class SubscribeEvent(_Event):
    event_type: Literal["subscribe_event"] = Field(alias="eventType")
    client_ip: str | None = Field(None, alias="clientIp")
    callback_url: str | None = Field(None, alias="callbackUrl")


class UnsubscribeEvent(_Event):
    event_type: Literal["unsubscribe_event"] = Field(alias="eventType")
    client_ip: str | None = Field(None, alias="clientIp")
    callback_url: str | None = Field(None, alias="callbackUrl")


class GenericEvent(BaseModel):
    """An event type this version does not model; the payload is kept as parsed JSON."""

    model_config = ConfigDict(frozen=True)
    event_type: str
    timestamp: str | None = None
    raw: dict[str, Any]


KnownEvent = Annotated[
    ApiPostEvent
    | PodCreatedEvent
    | PodUpdatedEvent
    | PodDeletedEvent
    | StatusUpdateEvent
    | InstanceChangedEvent
    | UnknownInstanceTerminatedEvent
    | InstanceHealthChangedEvent
    | HealthStatusChangedEvent
    | FailedHealthCheckEvent
    | UnhealthyInstanceKillEvent
    | UnhealthyTaskKillEvent
    | AddHealthCheckEvent
    | RemoveHealthCheckEvent
    | GroupChangeSuccess
    | GroupChangeFailed
    | DeploymentInfo
    | DeploymentStepSuccess
    | DeploymentStepFailure
    | DeploymentSuccess
    | DeploymentFailed
    | AppTerminatedEvent
    | EventStreamAttached
    | EventStreamDetached
    | FrameworkMessageEvent
    | SchedulerRegisteredEvent
    | SchedulerReregisteredEvent
    | SchedulerDisconnectedEvent
    | SubscribeEvent
    | UnsubscribeEvent,
    Field(discriminator="event_type"),
]
MarathonEvent = KnownEvent | GenericEvent

EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(KnownEvent)


def _excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
    return text[:_EXCERPT_CHARS]


def _slow_path(raw: bytes | str, first_error: ValidationError) -> MarathonEvent:
    try:
        payload = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise MalformedEvent(f"invalid JSON: {exc}", _excerpt(raw)) from None
    except RecursionError:  # hostile nesting: a malformed event, never a crash of the stream
        raise MalformedEvent("JSON nested too deeply", _excerpt(raw)) from None
    if not isinstance(payload, dict):
        raise MalformedEvent(f"expected a JSON object, got {type(payload).__name__}", _excerpt(raw))
    event_type = payload.get("eventType")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent("no string 'eventType' field", _excerpt(raw))
    if any(e["type"] == "union_tag_invalid" for e in first_error.errors(include_url=False)):
        ts = payload.get("timestamp")
        return GenericEvent(event_type=event_type, timestamp=ts if isinstance(ts, str) else None, raw=payload)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or '<root>'}: {e['msg']}"
        for e in first_error.errors(include_url=False)[:3]
    )
    raise MalformedEvent(f"{event_type}: {problems}", _excerpt(raw))


def parse_event(raw: bytes | str) -> MarathonEvent:
    """One SSE `data:` payload → typed event. Unknown types → GenericEvent; anything else → MalformedEvent."""
    try:
        return EVENT_ADAPTER.validate_json(raw)  # type: ignore[no-any-return]
    except ValidationError as exc:
        return _slow_path(raw, exc)
    except (ValueError, TypeError) as exc:  # e.g. non-UTF-8 bytes
        raise MalformedEvent(f"unreadable payload: {exc}", _excerpt(raw)) from None

"""What the planner sees of ONE group: a snapshot of Marathon, the LB and the drain watcher, plus the policy.

Owns the snapshot types the engine builds (from its cluster view, LB state and drain observations)
and the small pure queries the planner asks of them (healthy tasks, serving servers, oldest first).
Must not read a clock (`now` is part of the snapshot), do I/O, or know how the snapshot was made.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reactor.core import labels


class TaskPhase(StrEnum):
    STAGING = "staging"  # scheduled/staging/starting: not running yet
    RUNNING = "running"
    KILLING = "killing"
    TERMINAL = "terminal"  # finished, failed, killed, lost, gone


class LbState(StrEnum):
    READY = "ready"
    DRAIN = "drain"
    MAINT = "maint"
    DOWN = "down"


class OnDrainTimeout(StrEnum):
    PAUSE = "pause"
    ROLLBACK = "rollback"
    FORCE = "force"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskView(_Frozen):
    task_id: str
    app_id: str
    host: str
    port: int | None = None  # at the app's drain port index (its metrics)
    lb_port: int | None = None  # at its LB port index (its traffic); given only `port`: the same
    state: TaskPhase
    healthy: bool | None = None  # None = unknown; never counts as healthy
    version: str = ""
    started_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _lb_port_defaults_to_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lb_port" not in data:
            return {**data, "lb_port": data.get("port")}
        return data

    @property
    def alive(self) -> bool:
        return self.state in (TaskPhase.STAGING, TaskPhase.RUNNING)


class AppView(_Frozen):
    app_id: str
    instances: int = Field(ge=0)
    version: str = ""
    config_version: str = ""  # versionInfo.lastConfigChangeAt: changes on restart/redeploy, not on scale
    labels: dict[str, str] = Field(default_factory=dict)
    started_at: datetime | None = None  # BLUEGREEN_STARTED_AT; filled from labels when not given
    has_health_checks: bool = True
    tasks: tuple[TaskView, ...] = ()
    deployment_ids: tuple[str, ...] = ()  # Marathon deployments currently touching the app

    @model_validator(mode="before")
    @classmethod
    def _started_at_from_labels(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("started_at") is None:
            return {**data, "started_at": labels.started_at_of(data.get("labels") or {})}
        return data

    def is_healthy(self, task: TaskView) -> bool:
        """Running and (with health checks) reported healthy; unknown health is not healthy."""
        if task.state is not TaskPhase.RUNNING:
            return False
        return task.healthy is True if self.has_health_checks else True

    def live_tasks(self) -> tuple[TaskView, ...]:
        return tuple(t for t in self.tasks if t.alive)

    def healthy_tasks(self) -> tuple[TaskView, ...]:
        return tuple(t for t in self.tasks if self.is_healthy(t))

    def task(self, task_id: str) -> TaskView | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)

    @property
    def locked(self) -> bool:
        """A Marathon deployment runs on the app: any write would be answered 409, so wait."""
        return bool(self.deployment_ids)


class LbServerView(_Frozen):
    task_id: str
    state: LbState
    sessions: int = 0
    queued: int = 0
    backup: bool = False  # a backup server: serves only while no normal server is up

    @property
    def idle(self) -> bool:
        return self.sessions == 0 and self.queued == 0


class DrainView(_Frozen):
    task_id: str
    pending: int | None = None  # None = not measured yet
    drained: bool = False  # the watcher saw 0 pending operations
    gone: bool = False  # the task's endpoint no longer exists
    timed_out: bool = False  # the watcher's own drain deadline passed


class Policy(_Frozen):
    batch_size: int = Field(1, ge=1)
    health_timeout_s: float = Field(300.0, gt=0)
    min_healthy_s: float = Field(0.0, ge=0)
    auto_promote: bool = True
    drain_timeout_s: float = Field(300.0, gt=0)
    on_drain_timeout: OnDrainTimeout = OnDrainTimeout.PAUSE
    require_lb_idle: bool = True
    max_green_failures: int = Field(3, ge=0)
    rollback_window_s: float = Field(0.0, ge=0)  # 0: BLUE deleted right after the last shift
    # BLUE tasks kept running (warm standby) during the window, capped at the target; 0 = BLUE at 0
    rollback_window_standby: int = Field(0, ge=0)
    lb_backup: bool = True  # the LB driver can hold backup servers (else standby stays out of it)
    # the drain source that reads each task at its drain port ("prometheus", "json", "stream"),
    # or None for `none`, which reads nothing: a task without that port cannot be drained by it
    drain_reads: str | None = "prometheus"


class Observed(_Frozen):
    group: str
    apps: tuple[AppView, ...] = ()
    lb: dict[str, LbServerView] | None = None  # None = no LB driver: LB steps are skipped
    lb_available: bool = True  # False = LB unreachable this round: make no LB decisions
    drains: dict[str, DrainView] = Field(default_factory=dict)
    failed_deployments: tuple[str, ...] = ()  # `deployment_failed` ids seen for this group's apps
    now: datetime

    def app(self, app_id: str | None) -> AppView | None:
        if app_id is None:
            return None
        return next((a for a in self.apps if a.app_id == app_id), None)

    def newest(self) -> AppView | None:
        """GREEN by the label contract: the app with the latest BLUEGREEN_STARTED_AT."""
        dated = [a for a in self.apps if a.started_at is not None]
        return max(dated, key=lambda a: (a.started_at, a.app_id)) if dated else None

    def server(self, task_id: str) -> LbServerView | None:
        return None if self.lb is None else self.lb.get(task_id)

    def in_pool(self, task_id: str) -> bool:
        """READY in the LB (with no LB driver every task is 'in the pool')."""
        if self.lb is None:
            return True
        srv = self.lb.get(task_id)
        return srv is not None and srv.state is LbState.READY

    def is_backup(self, task_id: str) -> bool:
        """In the LB as a backup server (serves only while no normal server is up)."""
        srv = self.server(task_id)
        return srv is not None and srv.backup

    @property
    def lb_blocked(self) -> bool:
        return self.lb is not None and not self.lb_available


def oldest_first(tasks: tuple[TaskView, ...] | list[TaskView]) -> list[TaskView]:
    """Oldest start first; unknown start times last; task id breaks ties (deterministic)."""
    far = datetime.max
    return sorted(tasks, key=lambda t: (t.started_at is None,
                                        t.started_at.replace(tzinfo=None) if t.started_at else far,
                                        t.task_id))

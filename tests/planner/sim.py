"""A pure in-memory Marathon + load balancer + drain watcher for planner tests.

Owns the simulated world: apps with tasks that start, become healthy after some ticks (or never),
fail on demand; Marathon deployments that lock an app until they finish (writes to a locked app
are rejected like a 409); LB servers with sessions; per-task pending operations that grow while a
task is in the pool and fall to 0 once it is out. `apply` executes a Decision's actions and records
every broken invariant in `violations`. Deterministic: no randomness, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reactor.core import labels
from reactor.core.actions import (
    Decision,
    DeleteApp,
    KillAndScale,
    LbAdd,
    LbDrain,
    LbMaint,
    LbRemove,
    ScaleApp,
    UnwatchDrain,
    WatchDrain,
)
from reactor.core.intent import Intent, Phase
from reactor.core.observed import (
    AppView,
    DrainView,
    LbServerView,
    LbState,
    Observed,
    TaskPhase,
    TaskView,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UNHEALTHY_KILL_TICKS = 3


@dataclass
class SimTask:
    task_id: str
    app_id: str
    started_at: datetime
    port: int
    state: TaskPhase = TaskPhase.STAGING
    healthy: bool | None = None
    age_ticks: int = 0
    pending: int = 0
    stuck: bool = False  # pending never drains (drain-timeout scenarios)
    unhealthy_ticks: int = 0


@dataclass
class SimApp:
    app_id: str
    instances: int
    started_at: datetime
    config_version: str = "c1"
    health_ticks: int = 2  # ticks RUNNING before healthy; None-like: -1 = never healthy
    has_health_checks: bool = True
    tasks: list[SimTask] = field(default_factory=list)
    deployments: dict[str, str] = field(default_factory=dict)  # id -> kind


@dataclass
class SimServer:
    state: LbState
    sessions: int = 0
    backup: bool = False  # serves only while no normal server is up (HAProxy's `backup`)


class Sim:
    def __init__(self, *, group: str = "web", with_lb: bool = True, load: int = 3, tick_s: float = 1.0):
        self.group = group
        self.now = T0
        self.tick_s = tick_s
        self.load = load
        self.apps: dict[str, SimApp] = {}
        self.lb: dict[str, SimServer] | None = {} if with_lb else None
        self.lb_up = True
        self.watched: set[str] = set()
        self.failed_deployments: list[str] = []
        self.violations: list[str] = []
        self.conflicts = 0  # writes rejected because the app was locked (409)
        self.writes = 0
        self._seq = 0

    # -- world setup ------------------------------------------------------------------------
    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:04d}"

    def add_app(self, app_id: str, instances: int, *, started_at: datetime, running: bool = False,
                pooled: bool = False, health_ticks: int = 2, has_health_checks: bool = True) -> SimApp:
        app = SimApp(app_id, instances, started_at, health_ticks=health_ticks,
                     has_health_checks=has_health_checks)
        self.apps[app_id] = app
        for _ in range(instances if running else 0):
            t = self._launch(app)
            t.state, t.healthy, t.age_ticks = TaskPhase.RUNNING, True, 99
            if pooled and self.lb is not None:
                self.lb[t.task_id] = SimServer(LbState.READY)
        return app

    def _launch(self, app: SimApp) -> SimTask:
        task_id = f"{app.app_id.strip('/')}.instance-{self._next('')}._app.1"
        task = SimTask(task_id, app.app_id, self.now, port=31000 + self._seq)
        app.tasks.append(task)
        return task

    def task(self, task_id: str) -> SimTask | None:
        return next((t for a in self.apps.values() for t in a.tasks if t.task_id == task_id), None)

    def fail_task(self, task_id: str) -> None:
        task = self.task(task_id)
        if task is not None:
            task.state, task.healthy = TaskPhase.TERMINAL, False

    # -- time -------------------------------------------------------------------------------
    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.now += timedelta(seconds=self.tick_s)
            for app in self.apps.values():
                self._tick_app(app)

    def _tick_app(self, app: SimApp) -> None:
        for t in list(app.tasks):
            if t.state in (TaskPhase.TERMINAL, TaskPhase.KILLING):
                app.tasks.remove(t)  # killing -> gone takes one tick
                continue
            t.age_ticks += 1
            if t.state is TaskPhase.STAGING:
                t.state = TaskPhase.RUNNING
            elif app.has_health_checks and t.healthy is not False:
                ok = app.health_ticks >= 0 and t.age_ticks > app.health_ticks
                t.healthy = True if ok else (False if app.health_ticks < 0 and t.age_ticks > 3 else None)
            elif t.healthy is False:
                t.unhealthy_ticks += 1
                if t.unhealthy_ticks > UNHEALTHY_KILL_TICKS:  # Marathon kills it (maxConsecutiveFailures)
                    t.state = TaskPhase.TERMINAL
            in_pool = self._serving_now(app, t)
            if in_pool:
                t.pending = self.load
            elif t.pending > 0 and not t.stuck:
                t.pending -= 1
            if self.lb is not None and t.task_id in self.lb:
                self.lb[t.task_id].sessions = t.pending if in_pool or t.pending else 0
        live = [t for t in app.tasks if t.state in (TaskPhase.STAGING, TaskPhase.RUNNING)]
        for _ in range(app.instances - len(live)):
            self._launch(app)  # Marathon keeps `instances` tasks (replaces failed ones)
        self._finish_deployments(app)

    def _finish_deployments(self, app: SimApp) -> None:
        live = [t for t in app.tasks if t.state in (TaskPhase.STAGING, TaskPhase.RUNNING)]
        healthy = [t for t in live if self._healthy(app, t)]
        if len(live) == app.instances and len(healthy) >= app.instances:
            app.deployments.clear()

    def _healthy(self, app: SimApp, t: SimTask) -> bool:
        return t.state is TaskPhase.RUNNING and (t.healthy is True or not app.has_health_checks)

    def _serving_now(self, app: SimApp, t: SimTask) -> bool:
        if not self._healthy(app, t):
            return False
        if self.lb is None:
            return t.task_id not in self.watched
        srv = self.lb.get(t.task_id)
        if srv is None or srv.state is not LbState.READY:
            return False
        return not srv.backup or not self._normal_up()

    def _normal_up(self) -> bool:
        """A normal (non-backup) server is READY with a healthy task: backups get no traffic."""
        assert self.lb is not None
        for task_id, srv in self.lb.items():
            t = self.task(task_id)
            if srv.state is LbState.READY and not srv.backup and t is not None \
                    and self._healthy(self.apps[t.app_id], t):
                return True
        return False

    def serving_count(self) -> int:
        return sum(1 for a in self.apps.values() for t in a.tasks if self._serving_now(a, t))

    def serving_of(self, app_id: str) -> int:
        app = self.apps.get(app_id)
        return sum(1 for t in app.tasks if self._serving_now(app, t)) if app else 0

    # -- what the planner sees --------------------------------------------------------------
    def observe(self) -> Observed:
        apps = tuple(self._app_view(a) for a in self.apps.values())
        lb = None
        if self.lb is not None:
            lb = {k: LbServerView(task_id=k, state=v.state, sessions=v.sessions, backup=v.backup)
                  for k, v in self.lb.items()}
        drains = {}
        for task_id in self.watched:
            t = self.task(task_id)
            gone = t is None or t.state is TaskPhase.TERMINAL
            pending = t.pending if t else 0
            drains[task_id] = DrainView(task_id=task_id, pending=pending, drained=pending == 0, gone=gone)
        return Observed(group=self.group, apps=apps, lb=lb, lb_available=self.lb_up, drains=drains,
                        failed_deployments=tuple(self.failed_deployments), now=self.now)

    def _app_view(self, app: SimApp) -> AppView:
        tasks = tuple(TaskView(task_id=t.task_id, app_id=app.app_id, host="10.0.0.1", port=t.port,
                               state=t.state, healthy=t.healthy, version="v", started_at=t.started_at)
                      for t in app.tasks)
        return AppView(app_id=app.app_id, instances=app.instances, version="v",
                       config_version=app.config_version, has_health_checks=app.has_health_checks,
                       labels={labels.GROUP: self.group, labels.STARTED_AT: labels.format_timestamp(
                           app.started_at)}, tasks=tasks, deployment_ids=tuple(app.deployments))

    # -- executing a decision -----------------------------------------------------------------
    def apply(self, decision: Decision, *, fresh: bool = True) -> list[str]:
        """Run the actions; returns the Marathon deployment ids our writes got back."""
        intent, before, ids = decision.intent, self.serving_count(), []
        for action in decision.actions:
            dep = self._apply_one(action, intent)
            if dep is not None:
                ids.append(dep)
        floor = min(intent.target_instances, intent.blue_original_instances)
        after = self.serving_count()
        if fresh and after < floor and after < before and not intent.forced:
            self.violations.append(f"serving pool {before}->{after} below floor {floor} in {intent.phase}")
        return ids

    def _apply_one(self, action: object, intent: Intent) -> str | None:
        if isinstance(action, ScaleApp | KillAndScale | DeleteApp):
            return self._marathon_write(action, intent)
        if isinstance(action, WatchDrain):
            self.watched.add(action.task_id)
        elif isinstance(action, UnwatchDrain):
            self.watched.discard(action.task_id)
        elif self.lb is not None and self.lb_up:
            if isinstance(action, LbAdd):  # like HAProxy: an existing server keeps its flag
                old = self.lb.get(action.task_id)
                self.lb[action.task_id] = SimServer(LbState.READY, old.sessions if old else 0,
                                                    old.backup if old else action.backup)
            elif isinstance(action, LbDrain | LbMaint) and action.task_id in self.lb:
                drain = isinstance(action, LbDrain)
                self.lb[action.task_id].state = LbState.DRAIN if drain else LbState.MAINT
            elif isinstance(action, LbRemove):
                self.lb.pop(action.task_id, None)
        return None

    def _marathon_write(self, action: ScaleApp | KillAndScale | DeleteApp, intent: Intent) -> str | None:
        app = self.apps.get(action.app_id)
        self.writes += 1
        if app is None:
            return None
        force = isinstance(action, DeleteApp) and action.force
        if app.deployments and not force:
            self.conflicts += 1
            self.failed_deployments.append(self._next("rejected-"))
            return None
        dep = self._next("dep-")
        if isinstance(action, ScaleApp):
            app.instances = action.instances
            live = [x for x in app.tasks if x.state in (TaskPhase.STAGING, TaskPhase.RUNNING)]
            youngest = sorted(live, key=lambda t: t.started_at, reverse=True)
            for t in youngest[:max(0, len(live) - app.instances)]:
                self._kill(t, intent, why="scale down")
            app.deployments[dep] = "scale"
        elif isinstance(action, KillAndScale):
            victims = [t for t in app.tasks if t.task_id in action.task_ids
                       and t.state in (TaskPhase.STAGING, TaskPhase.RUNNING)]
            for t in victims:
                self._kill(t, intent, why="kill-and-scale")
            app.instances -= len(victims)
            app.deployments[dep] = "kill"
        else:
            self._delete(app, intent)
        self._finish_deployments(app) if isinstance(action, ScaleApp) else None
        return dep

    def _kill(self, t: SimTask, intent: Intent, why: str) -> None:
        if t.pending > 0 and t.task_id not in intent.forced:
            self.violations.append(f"{why} killed {t.task_id} with {t.pending} pending")
        t.state = TaskPhase.KILLING

    def _delete(self, app: SimApp, intent: Intent) -> None:
        if app.app_id == intent.blue_app and intent.phase is not Phase.ROLLING_BACK:
            if self.serving_of(intent.green_app) < intent.target_instances:
                self.violations.append("BLUE deleted before GREEN serves the full target")
        for t in app.tasks:
            if t.state in (TaskPhase.STAGING, TaskPhase.RUNNING):
                self._kill(t, intent, why="delete")
        for dep in app.deployments:
            self.failed_deployments.append(dep)  # cancelled deployments fail
        del self.apps[app.app_id]

"""ClusterView: the reactor's cache of Marathon state (apps, tasks, task health, deployments).

Owns the level-triggered cache: `replace(snapshot)` rebuilds it from a REST read, `apply(event)`
folds one stream event in; both return the group keys that became dirty (groups via
`labels.group_of`); a deployment's start marks none (it can only hold writes back), its end
does. Events are hints: where one cannot be applied exactly the app is put into
`needs_refresh` so the engine can do a targeted REST read (`replace_app`). Applying the same event
twice, or events in a different order, never corrupts the view. Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from reactor.core import events as ev
from reactor.core.ids import parse_task_id
from reactor.core.labels import group_of
from reactor.core.models import App, Deployment, Snapshot, Task, TaskState
from reactor.core.view_parts import DeploymentBook, KeptDefinitions

_CONDITION_STATE = {
    "Staging": TaskState.TASK_STAGING,
    "Starting": TaskState.TASK_STARTING,
    "Running": TaskState.TASK_RUNNING,
    "Killing": TaskState.TASK_KILLING,
    "Unreachable": TaskState.TASK_UNREACHABLE,
    "UnreachableInactive": TaskState.TASK_UNREACHABLE,
}


def _instance_of(task_id: str) -> str:
    try:
        return parse_task_id(task_id).instance.value
    except ValueError:
        return task_id


def _bare(app: App) -> App:
    return app.model_copy(update={"tasks": (), "deployments": ()}) if app.tasks or app.deployments else app


class ClusterView:
    def __init__(self) -> None:
        self._apps: dict[str, App] = {}  # stored without tasks/deployments (kept separately)
        self._by_group: dict[str, list[str]] | None = None  # group -> app ids; None: rebuild
        self._tasks: dict[str, Task] = {}
        self._app_tasks: dict[str, dict[str, None]] = {}  # app id -> ordered task ids
        self._instance_task: dict[str, str] = {}  # instance id -> newest task id
        self._task_instance: dict[str, str] = {}
        self._instance_health: dict[str, bool | None] = {}  # from health events, newer than REST results
        self._deployments = DeploymentBook()
        self._needs_refresh: set[str] = set()
        self._definitions = KeptDefinitions()  # as the last api_post_event carried them (groups' apps)
        self._handlers: dict[type, Callable[[Any], set[str]]] = {
            ev.StatusUpdateEvent: self._on_status,
            ev.InstanceChangedEvent: self._on_instance_changed,
            ev.InstanceHealthChangedEvent: self._on_instance_health,
            ev.HealthStatusChangedEvent: self._on_health_status,
            ev.FailedHealthCheckEvent: self._on_app_hint,
            ev.UnhealthyInstanceKillEvent: self._on_app_hint,
            ev.UnhealthyTaskKillEvent: self._on_app_hint,
            ev.AddHealthCheckEvent: self._on_app_hint,
            ev.RemoveHealthCheckEvent: self._on_app_hint,
            ev.UnknownInstanceTerminatedEvent: self._on_unknown_instance,
            ev.DeploymentInfo: self._on_deployment_step,
            ev.DeploymentStepSuccess: self._on_deployment_step,
            ev.DeploymentStepFailure: self._on_deployment_step,
            ev.DeploymentSuccess: self._on_deployment_end,
            ev.DeploymentFailed: self._on_deployment_end,
            ev.ApiPostEvent: self._on_api_post,
            ev.AppTerminatedEvent: self._on_app_terminated,
        }

    # ---- queries -------------------------------------------------------------------------------
    def groups(self) -> list[str]:
        return sorted(self._group_index())

    def apps_in_group(self, group: str) -> list[App]:
        return [self._apps[i] for i in self._group_index().get(group, ())]

    def _group_index(self) -> dict[str, list[str]]:
        """Group -> its app ids (sorted), rebuilt only after an app was added, replaced or
        removed: every round asks for its group's apps, and scanning every app's labels for each
        was a third of a round's time with 50 groups deploying. Writes that keep an app's labels
        (note_scaled, note_killed) keep the index."""
        if self._by_group is None:
            index: dict[str, list[str]] = {}
            for app_id in sorted(self._apps):
                if (g := group_of(self._apps[app_id].labels)) is not None:
                    index.setdefault(g, []).append(app_id)
            self._by_group = index
        return self._by_group

    def app(self, app_id: str) -> App | None:
        return self._apps.get(app_id)

    def apps(self) -> list[App]:
        return list(self._apps.values())

    def task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def definition(self, app_id: str) -> dict[str, Any] | None:
        """The app's definition (runtime fields removed) as the last `api_post_event` for it
        carried it; None if none was seen, or a REST read since showed another version."""
        return self._definitions.get(app_id)

    def tasks_of(self, app_id: str) -> list[Task]:
        return [self._tasks[t] for t in self._app_tasks.get(app_id, {})]

    def deployments(self) -> list[Deployment]:
        return self._deployments.all()

    def deployments_for(self, app_id: str) -> list[Deployment]:
        return [d for d in self._deployments.all() if app_id in d.affected_apps]

    def deployment_ids_for(self, app_id: str) -> tuple[str, ...]:
        """Sorted ids of the deployments affecting the app, from an index (every round asks, for
        each app of its group, while dozens of deployments may be in flight)."""
        return self._deployments.ids_for(app_id)

    def _version_of(self, app_id: str) -> str | None:
        app = self._apps.get(app_id)
        return app.version if app is not None else None

    def task_health(self, task_id: str) -> bool | None:
        """True only for a TASK_RUNNING task whose checks all pass (or whose app has none)."""
        task = self._tasks.get(task_id)
        if task is None:
            return None
        override = self._instance_health.get(self._task_instance.get(task_id, ""), ...)
        if override is not ...:
            if override is True:
                return True if task.state is TaskState.TASK_RUNNING else None
            return override  # type: ignore[return-value]
        health = task.health
        if health is None and task.state is TaskState.TASK_RUNNING:
            app = self._apps.get(task.app_id)
            if app is not None and not app.health_checks:
                return True
        return health

    @property
    def needs_refresh(self) -> frozenset[str]:
        """App ids whose state an event could not pin down exactly: re-read them (`replace_app`)."""
        return frozenset(self._needs_refresh)

    def take_needs_refresh(self) -> set[str]:
        out, self._needs_refresh = self._needs_refresh, set()
        return out

    def digest(self) -> dict[str, Any]:
        """A comparable summary (apps, their tasks with state and health, deployment ids)."""
        return {
            "apps": {
                a.id: {
                    "instances": a.instances,
                    "labels": dict(a.labels),
                    "version": a.version,
                    "tasks": {t.id: (t.state.value, self.task_health(t.id)) for t in self.tasks_of(a.id)},
                }
                for a in self._apps.values()
            },
            "deployments": {d.id: sorted(d.affected_apps) for d in self._deployments.all()},
        }

    # ---- whole-state updates ---------------------------------------------------------------------
    def replace(self, snapshot: Snapshot) -> set[str]:
        """Rebuild from a REST snapshot; dirty = every group whose apps, tasks or deployments differ."""
        before = self._fingerprints()
        self._apps.clear()
        self._by_group = None
        self._tasks.clear()
        self._app_tasks.clear()
        self._instance_task.clear()
        self._task_instance.clear()
        self._instance_health.clear()
        self._needs_refresh.clear()
        self._deployments.replace(snapshot.deployments)
        for app in snapshot.apps:
            self._put_app(app)
        self._definitions.keep_if(self._version_of)
        after = self._fingerprints()
        return {g for g in before.keys() | after.keys() if before.get(g) != after.get(g)}

    def replace_app(self, app: App) -> set[str]:
        """Targeted refresh: one app as read by `GET /v2/apps/{id}` (tasks embedded)."""
        dirty = self._groups_of((app.id,))
        self._drop_app(app.id)
        self._put_app(app)
        self._definitions.keep_if(self._version_of, (app.id,))
        self._needs_refresh.discard(app.id)
        return dirty | self._groups_of((app.id,))

    def remove_app(self, app_id: str) -> set[str]:
        """Targeted refresh found the app gone (404)."""
        dirty = self._groups_of((app_id,))
        self._drop_app(app_id)
        self._definitions.forget(app_id)
        self._needs_refresh.discard(app_id)
        return dirty

    # ---- read-your-writes: effects of our own accepted writes --------------------------------------
    def note_scaled(self, app_id: str, instances: int) -> set[str]:
        """Marathon accepted our `PUT {"instances": n}`: the app's count is n (no event carries it)."""
        app = self._apps.get(app_id)
        if app is None or app.instances == instances:
            return set()
        self._apps[app_id] = app.model_copy(update={"instances": instances})
        return self._groups_of((app_id,))

    def note_killed(self, task_ids: Iterable[str]) -> set[str]:
        """Marathon accepted our kill-and-scale: each app loses one instance per task, and those
        tasks are never relaunched, so terminal ones kept for a relaunch can go."""
        dirty: set[str] = set()
        for task_id in task_ids:
            task = self._tasks.get(task_id)
            app = self._apps.get(task.app_id) if task is not None else None
            if task is None or app is None:
                continue
            self._apps[app.id] = app.model_copy(update={"instances": max(0, app.instances - 1)})
            if task.state.is_terminal:
                self._drop_task(task_id)
            if not any(t.state.is_terminal for t in self.tasks_of(app.id)):
                self._needs_refresh.discard(app.id)
            dirty |= self._groups_of((app.id,))
        return dirty

    def apply(self, event: ev.MarathonEvent) -> set[str]:
        handler = self._handlers.get(type(event))
        return handler(event) if handler is not None else set()

    # ---- internals ---------------------------------------------------------------------------------
    def _fingerprints(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for app in self._apps.values():
            group = group_of(app.labels)
            if group is not None:
                out.setdefault(group, []).append((app, self.tasks_of(app.id), self.deployments_for(app.id)))
        for prints in out.values():
            prints.sort(key=lambda p: p[0].id)
        return out

    def _groups_of(self, app_ids: Iterable[str]) -> set[str]:
        out = set()
        for app_id in app_ids:
            app = self._apps.get(app_id)
            if app is not None and (g := group_of(app.labels)) is not None:
                out.add(g)
        return out

    def _put_app(self, app: App) -> None:
        self._apps[app.id] = _bare(app)
        self._by_group = None
        self._app_tasks.setdefault(app.id, {})
        for task in app.tasks:
            self._put_task(task if task.app_id else task.model_copy(update={"app_id": app.id}))

    def _drop_app(self, app_id: str) -> None:
        self._apps.pop(app_id, None)
        self._by_group = None
        for task_id in list(self._app_tasks.get(app_id, {})):
            self._drop_task(task_id)
        self._app_tasks.pop(app_id, None)

    def _put_task(self, task: Task) -> None:
        instance = self._task_instance.get(task.id) or _instance_of(task.id)
        previous = self._instance_task.get(instance)
        if previous is not None and previous != task.id:
            self._drop_task(previous)  # a relaunch (new incarnation) replaces the old task
            self._instance_health.pop(instance, None)
        self._tasks[task.id] = task
        self._app_tasks.setdefault(task.app_id, {})[task.id] = None
        self._instance_task[instance] = task.id
        self._task_instance[task.id] = instance

    def _drop_task(self, task_id: str) -> None:
        task = self._tasks.pop(task_id, None)
        instance = self._task_instance.pop(task_id, None)
        if task is not None:
            self._app_tasks.get(task.app_id, {}).pop(task_id, None)
        if instance is not None and self._instance_task.get(instance) == task_id:
            del self._instance_task[instance]
            self._instance_health.pop(instance, None)

    # ---- event handlers ----------------------------------------------------------------------------
    def _on_status(self, e: ev.StatusUpdateEvent) -> set[str]:
        app = self._apps.get(e.app_id)
        if app is None:
            self._needs_refresh.add(e.app_id)
        task = self._tasks.get(e.task_id)
        if e.task_status.is_terminal:
            live = sum(1 for t in self.tasks_of(e.app_id) if t.id != e.task_id and not t.state.is_terminal)
            if app is not None and live < app.instances and task is not None:
                # Goal Running: Marathon lists the terminal task until it relaunches; the event can't
                # tell a relaunch from a kill-and-scale, so keep it and have the app re-read.
                self._tasks[e.task_id] = task.model_copy(update={"state": e.task_status})
                self._needs_refresh.add(e.app_id)
            else:
                self._drop_task(e.task_id)
            return self._groups_of((e.app_id,))
        update: dict[str, Any] = {"state": e.task_status}
        if e.host is not None:
            update["host"] = e.host
        if e.ports is not None:
            update["ports"] = e.ports
        if e.ip_addresses is not None:
            update["ip_addresses"] = e.ip_addresses
        if e.version is not None:
            update["version"] = e.version
        if task is None:
            task = Task(id=e.task_id, app_id=e.app_id, staged_at=e.timestamp)
        if e.task_status is TaskState.TASK_RUNNING and task.started_at is None:
            update["started_at"] = e.timestamp
        if (
            task.state is TaskState.TASK_RUNNING
            and e.task_status is TaskState.TASK_RUNNING
            and all(getattr(task, k) == v for k, v in update.items())
        ):
            return set()  # repeated TASK_RUNNING for a health-flag change: health events carry it
        self._put_task(task.model_copy(update=update))
        return self._groups_of((e.app_id,))

    def _on_instance_changed(self, e: ev.InstanceChangedEvent) -> set[str]:
        state = _CONDITION_STATE.get(e.condition)
        task_id = self._instance_task.get(e.instance_id)
        if state is not None and task_id is not None:
            task = self._tasks[task_id]
            if task.state is not state:
                self._tasks[task_id] = task.model_copy(update={"state": state})
                return self._groups_of((e.run_spec_id,))
        return set()  # nothing the view holds changed (most come with a status_update_event)

    def _set_health(self, app_id: str, instance_id: str, healthy: bool | None) -> set[str]:
        if self._instance_health.get(instance_id, ...) is healthy:
            return set()
        self._instance_health[instance_id] = healthy
        return self._groups_of((app_id,))

    def _on_instance_health(self, e: ev.InstanceHealthChangedEvent) -> set[str]:
        return self._set_health(e.run_spec_id, e.instance_id, e.healthy)

    def _on_health_status(self, e: ev.HealthStatusChangedEvent) -> set[str]:
        raw_id = e.instance_id or e.task_id
        if raw_id is None:
            self._needs_refresh.add(e.app_id)
            return self._groups_of((e.app_id,))
        instance = _instance_of(raw_id)
        app = self._apps.get(e.app_id)
        if e.alive is False or (app is not None and len(app.health_checks) <= 1):
            return self._set_health(e.app_id, instance, e.alive)
        self._needs_refresh.add(e.app_id)  # one check of several passed: the aggregate is unknown
        return self._groups_of((e.app_id,))

    def _on_app_hint(self, e: Any) -> set[str]:
        return self._groups_of((e.app_id,))

    def _on_unknown_instance(self, e: ev.UnknownInstanceTerminatedEvent) -> set[str]:
        return self._groups_of((e.run_spec_id,))

    def _on_deployment_step(self, e: ev.DeploymentInfo | ev.DeploymentStepSuccess) -> set[str]:
        plan = e.plan
        if self._deployments.is_finished(plan.id):
            return set()  # a late event of a finished plan: it stays finished, nothing changed
        old = self._deployments.step(plan, e.current_step.actions if e.current_step else ())
        if old is None:
            return set()  # a new deployment only holds writes back (AppView.locked): no round
        # apps the plan no longer names may act again; apps it names anew are only held back
        return self._groups_of(tuple(a for a in old.affected_apps if a not in plan.affected_apps))

    def _on_deployment_end(self, e: ev.DeploymentSuccess | ev.DeploymentFailed) -> set[str]:
        old = self._deployments.end(e.id)
        apps = set(old.affected_apps if old else ()) | set(e.plan.affected_apps if e.plan else ())
        return self._groups_of(apps)

    def _on_api_post(self, e: ev.ApiPostEvent) -> set[str]:
        app = e.app_definition
        dirty = self._groups_of((app.id,))
        old = self._apps.get(app.id)
        if old is not None and old.version_info is not None and app.version_info is None:
            app = app.model_copy(update={"version_info": old.version_info})
            self._needs_refresh.add(app.id)  # versionInfo not carried: the REST view has it
        self._apps[app.id] = _bare(app)
        self._by_group = None
        self._app_tasks.setdefault(app.id, {})
        if e.definition and group_of(app.labels) is not None:
            self._definitions.put(app.id, app.version, e.definition)
        else:
            self._definitions.forget(app.id)
        return dirty | self._groups_of((app.id,))

    def _on_app_terminated(self, e: ev.AppTerminatedEvent) -> set[str]:
        dirty = self._groups_of((e.app_id,))
        self._drop_app(e.app_id)
        self._definitions.forget(e.app_id)
        self._needs_refresh.discard(e.app_id)
        return dirty

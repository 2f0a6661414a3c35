"""Builds the planner's input for one group from the cluster view, the LB pool and drains.

Owns the translation from adapter shapes (Marathon models, LB pool servers, drain
observations, settings + label overrides) to the pure `Observed`/`Policy` of reactor.core.
Reads nothing itself: every input is handed in by the reconciler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from reactor.adapters.drain.models import DrainObservation
from reactor.adapters.lb.base import PoolServer
from reactor.core import labels as L
from reactor.core.models import App, Task, TaskState
from reactor.core.observed import (
    AppView,
    DrainView,
    LbServerView,
    LbState,
    Observed,
    OnDrainTimeout,
    Policy,
    TaskPhase,
    TaskView,
)
from reactor.core.view import ClusterView
from reactor.settings import DrainSource, Settings

_PHASE = {
    TaskState.TASK_STAGING: TaskPhase.STAGING,
    TaskState.TASK_STARTING: TaskPhase.STAGING,
    TaskState.TASK_RUNNING: TaskPhase.RUNNING,
    TaskState.TASK_UNREACHABLE: TaskPhase.RUNNING,  # not healthy: unreachable tasks never serve
    TaskState.TASK_KILLING: TaskPhase.KILLING,
}


def group_apps(view: ClusterView, group: str) -> list[App]:
    """Apps labelled with the group, plus apps named by their BLUEGREEN_PREVIOUS (migration of an
    unlabelled BLUE: labels cannot be added to a live app without restarting it)."""
    apps = {a.id: a for a in view.apps_in_group(group)}
    for app in list(apps.values()):
        prev = app.labels.get(L.PREVIOUS)
        if prev and prev not in apps and (old := view.app(prev)) is not None:
            if L.group_of(old.labels) in (None, group):
                apps[prev] = old
    return sorted(apps.values(), key=lambda a: a.id)


def policy_for(settings: Settings, green: App | None) -> Policy:
    """Config values, overridden by GREEN's BLUEGREEN_* labels (invalid labels: LabelError)."""
    o = L.overrides_of(green.labels) if green is not None else L.Overrides()
    d, dr = settings.deploy, settings.drain
    return Policy(
        batch_size=o.batch_size or d.batch_size,
        health_timeout_s=o.health_timeout_s or d.health_timeout_s,
        min_healthy_s=d.min_healthy_s,
        auto_promote=d.auto_promote,
        drain_timeout_s=o.drain_timeout_s or dr.timeout_s,
        on_drain_timeout=OnDrainTimeout(o.on_drain_timeout or dr.on_timeout.value),
        require_lb_idle=dr.require_lb_idle,
        max_green_failures=d.max_green_failures,
        rollback_window_s=d.rollback_window_s,
        rollback_window_standby=d.rollback_window_standby,
        lb_backup=settings.lb.driver.value == "haproxy",  # command/none: standby out of the pool
        drain_reads=None if dr.source is DrainSource.NONE else dr.source.value,
    )


def newest_app(apps: Iterable[App]) -> App | None:
    dated = [(L.started_at_of(a.labels), a.id, a) for a in apps]
    dated = [x for x in dated if x[0] is not None]
    return max(dated, key=lambda x: (x[0], x[1]))[2] if dated else None


@dataclass(frozen=True, slots=True)
class PortIndexes:
    """Which of a task's ports the drain watcher reads (its metrics) and the LB sends traffic to."""

    drain: int
    lb: int


def port_index_for(settings: Settings, app: App | None) -> PortIndexes:
    """The app's labels (BLUEGREEN_DRAIN_PORT_INDEX, BLUEGREEN_LB_PORT_INDEX), else the config;
    the LB's index is the drain's unless set (one port for both, the default)."""
    o = L.overrides_of(app.labels) if app is not None else L.Overrides()
    drain = o.drain_port_index if o.drain_port_index is not None else settings.drain.port_index
    lb = o.lb_port_index if o.lb_port_index is not None else settings.lb.port_index
    return PortIndexes(drain, drain if lb is None else lb)


def app_view(view: ClusterView, app: App, port_index: PortIndexes) -> AppView:
    """One app as the planner sees it. Built with `model_construct`: every value comes typed from
    the view's models (validated when they were parsed), and this runs for every app of a group
    in every round (validation was a fifth of a round's time with 50 groups deploying)."""
    tasks = tuple(task_view(t, app.id, port_index, view.task_health(t.id)) for t in view.tasks_of(app.id))
    return _app_view(app, tasks, view.deployment_ids_for(app.id))


class AppViews:
    """The AppViews (and TaskViews) one group's earlier rounds built, reused while nothing they
    were built from changed: with 50 groups deploying, building them again in every round was the
    largest part of observing. ClusterView replaces an App or Task object whenever it changes
    (immutable models), so the same object with the same health, port index and deployments
    gives the same view. Each entry holds its source object, so that object's identity cannot
    be reused by another while it is compared; entries not used by the last build are dropped."""

    def __init__(self) -> None:
        self._tasks: dict[str, tuple[Task, bool | None, PortIndexes, TaskView]] = {}
        self._apps: dict[str, tuple[App, PortIndexes, tuple[TaskView, ...], tuple[str, ...], AppView]] = {}

    def build(self, view: ClusterView, apps: Iterable[App], port_index: PortIndexes) -> tuple[AppView, ...]:
        tasks_now: dict[str, tuple[Task, bool | None, PortIndexes, TaskView]] = {}
        apps_now: dict[str, tuple[App, PortIndexes, tuple[TaskView, ...], tuple[str, ...], AppView]] = {}
        out = []
        for app in apps:
            task_views = []
            for t in view.tasks_of(app.id):
                healthy = view.task_health(t.id)
                hit = self._tasks.get(t.id)
                if hit is None or hit[0] is not t or hit[1] is not healthy or hit[2] != port_index:
                    hit = (t, healthy, port_index, task_view(t, app.id, port_index, healthy))
                tasks_now[t.id] = hit
                task_views.append(hit[3])
            tv = tuple(task_views)
            deps = view.deployment_ids_for(app.id)
            known = self._apps.get(app.id)
            if (known is None or known[0] is not app or known[1] != port_index or known[3] != deps
                    or not _same(known[2], tv)):
                known = (app, port_index, tv, deps, _app_view(app, tv, deps))
            apps_now[app.id] = known
            out.append(known[4])
        self._tasks, self._apps = tasks_now, apps_now
        return tuple(out)


def _same(a: tuple[TaskView, ...], b: tuple[TaskView, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def task_view(t: Task, app_id: str, port_index: PortIndexes, healthy: bool | None) -> TaskView:
    phase = TaskPhase.TERMINAL if t.state.is_terminal else _PHASE.get(t.state, TaskPhase.STAGING)
    ports = t.ports
    return TaskView.model_construct(
        task_id=t.id, app_id=app_id, host=t.host,
        port=ports[port_index.drain] if len(ports) > port_index.drain else None,
        lb_port=ports[port_index.lb] if len(ports) > port_index.lb else None,
        state=phase, healthy=healthy, version=t.version or "",
        started_at=L.parse_timestamp(t.started_at) if t.started_at else None)


def _app_view(app: App, tasks: tuple[TaskView, ...], deployment_ids: tuple[str, ...]) -> AppView:
    vi = app.version_info
    return AppView.model_construct(
        app_id=app.id, instances=max(0, app.instances), version=app.version or "",
        config_version=(vi.last_config_change_at if vi and vi.last_config_change_at else app.version or ""),
        labels=dict(app.labels), started_at=L.started_at_of(app.labels),
        has_health_checks=app.has_health_checks, tasks=tasks, deployment_ids=deployment_ids)


def lb_views(pool: Mapping[str, PoolServer] | None) -> dict[str, LbServerView] | None:
    if pool is None:
        return None
    return {tid: LbServerView.model_construct(task_id=tid, state=LbState(s.state.value), sessions=s.sessions,
                                              queued=s.queued, backup=s.backup) for tid, s in pool.items()}


def drain_views(obs: Mapping[str, DrainObservation]) -> dict[str, DrainView]:
    return {tid: DrainView.model_construct(task_id=tid, pending=o.pending, drained=o.drained, gone=o.gone,
                                           timed_out=o.timed_out) for tid, o in obs.items()}


def build_observed(*, view: ClusterView, group: str, apps: list[App], port_index: PortIndexes,
                   pool: Mapping[str, PoolServer] | None, lb_available: bool,
                   drains: Mapping[str, DrainObservation], failed: Iterable[str],
                   now: datetime, memo: AppViews | None = None) -> Observed:
    """The planner's input; with `memo`, app views unchanged since its last build are reused."""
    views = memo.build(view, apps, port_index) if memo is not None else tuple(
        app_view(view, a, port_index) for a in apps)
    task_ids = {t.task_id for a in views for t in a.tasks}
    return Observed.model_construct(
        group=group, apps=views, lb=lb_views(pool), lb_available=lb_available,
        drains={k: v for k, v in drain_views(drains).items() if k in task_ids or k in drains},
        failed_deployments=tuple(sorted(failed)), now=now)

"""Pool ownership of one group between deployments (the at-rest part of the group controller).

Owns reading the group's LB pool and executing the pure `reactor.core.pool.converge` plan for a
group with no running deployment: relaunched tasks, scales by someone else, unhealthy tasks and a
restarted load balancer all end with the pool equal to the serving app's healthy tasks. Fail-open
rounds are logged, counted and kept for `status`. It must not decide anything itself and must not
touch a group in a deployment (the planner owns the pool then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from reactor.adapters.lb.base import PoolServer
from reactor.adapters.lb.errors import LbError
from reactor.core import actions as A
from reactor.core import labels as L
from reactor.core.adoption import backend_name, serving_apps
from reactor.core.ids import safe_app_id
from reactor.core.intent import Intent
from reactor.core.models import App
from reactor.core.pool import batches, converge, foreign_servers
from reactor.engine.deps import Deps, Reading
from reactor.engine.executor import Executor, GroupTarget
from reactor.engine.observe import build_observed, port_index_for

log = structlog.get_logger(__name__)

LB_RETRY_S = 1.0  # the LB did not answer or a change failed: look again this soon


class PoolKeeper:
    """Reads a group's pool and keeps it at the serving app's healthy tasks while at rest."""

    def __init__(self, group: str, deps: Deps) -> None:
        self.group = group
        self.deps = deps
        self.executor = Executor(deps, on_gate=lambda _g, _a: None)
        self.fail_open: tuple[str, ...] = ()  # shown by `status`
        self._foreign_said: tuple[str, frozenset[str]] | None = None
        self.serving: tuple[str, ...] = ()
        self.healthy = 0

    async def observe(self, backend: str) -> tuple[dict[str, PoolServer] | None, bool]:
        if self.deps.settings.lb.driver.value == "none":
            return None, True
        try:
            pool = await self.deps.lb.observe(backend)
        except LbError as exc:
            log.warning("load balancer unavailable; LB steps wait", backend=backend, error=str(exc))
            self.deps.metrics.count_lb_error("observe", type(exc).__name__)
            return {}, False
        return self._ours(pool, backend), True

    def _ours(self, pool: dict[str, PoolServer], backend: str) -> dict[str, PoolServer]:
        """The servers this group may change (see `foreign_servers`); the others are left alone,
        said once per backend and set of servers."""
        view = self.deps.view
        unknown = [t for t in pool if (task := view.task(t)) is None
                   or (app := view.app(task.app_id)) is None or L.group_of(app.labels) != self.group]
        if not unknown:  # every server is a task of this group's apps: the usual case, no scan
            return pool
        groups = {safe_app_id(a.id): L.group_of(a.labels) for a in view.apps()}
        foreign = foreign_servers(unknown, self.group, groups)
        if not foreign:
            return pool
        if (backend, foreign) != self._foreign_said:
            self._foreign_said = (backend, foreign)
            log.warning("LB backend holds servers that are not this group's: left alone",
                        backend=backend, servers=sorted(foreign)[:10], count=len(foreign))
        return {t: s for t, s in pool.items() if t not in foreign}

    async def keep(self, apps: Sequence[App], last: Intent | None, trigger: tuple[str, float] | None,
                   r: Reading) -> float | None:
        """One at-rest round; returns when to look again (None: the next event)."""
        d = self.deps
        if d.settings.lb.driver.value == "none" or not apps:
            return None
        serving = serving_apps(apps, last)
        labels = serving[0].labels if serving else None
        backend = backend_name(d.settings.lb.haproxy.backend, self.group, labels)
        pool, ok = await self.observe(backend)
        if not ok:
            return LB_RETRY_S
        observed = build_observed(
            view=d.view, group=self.group, apps=list(apps),
            port_index=port_index_for(d.settings, serving[0] if serving else None), pool=pool,
            lb_available=ok, drains={}, failed=(), now=r.wall)
        plan = converge(observed, frozenset(a.id for a in serving))
        self.serving, self.healthy = tuple(a.id for a in serving), plan.healthy
        self._note_fail_open(plan.fail_open, backend)
        if not plan.actions:  # a server waiting to be idle for its backup flag raises no event
            return LB_RETRY_S if plan.flag_waits else None
        target = GroupTarget(group=self.group, backend=backend, drain_path="", drain_metric="",
                             drain_timeout_s=0.0)
        done: list[A.Action] = []
        failed = False
        first_write_at: float | None = None
        for batch in batches(plan.actions):  # one task's failure holds back no other task's
            out = await self.executor.execute(target, batch)
            done.extend(batch[:out.done])
            failed = failed or out.failed is not None
            if first_write_at is None:
                first_write_at = out.first_write_at
        for action in done:
            d.metrics.count_pool_change(action.kind)
        if trigger is not None and first_write_at is not None:
            d.on_reaction(f"pool:{trigger[0]}", max(0.0, first_write_at - trigger[1]))
        log.info("pool follows the serving app", backend=backend, changes=len(done), **_summary(done))
        return LB_RETRY_S if failed else None

    def _note_fail_open(self, kept: tuple[str, ...], backend: str) -> None:
        if kept:
            self.deps.metrics.count_fail_open(self.group)
            if kept != self.fail_open:
                log.warning("fail open: no healthy task left, the unhealthy ones stay in the pool "
                            "until replacements are healthy", backend=backend, tasks=list(kept))
        elif self.fail_open:
            log.info("fail open over: healthy tasks are back in the pool", backend=backend)
        self.fail_open = kept


def _summary(actions: Sequence[A.Action]) -> Mapping[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in actions:
        out.setdefault(a.kind, []).append(getattr(a, "task_id", ""))
    return out

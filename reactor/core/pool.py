"""The pool of a group at rest: which LB changes make it equal to the serving app's healthy tasks.

Owns the rules of pool ownership between deployments (design.md rules 5 and 6):
- a running task with passing checks (or of an app without checks) belongs in the pool;
- a task whose health is unknown (no result yet, e.g. after a Marathon failover) is left as it
  is: neither added nor taken out;
- a task reported unhealthy, being killed, or gone leaves the pool (unhealthy: drained, so its
  in-flight work finishes; gone: removed);
- fail open: if that would leave no healthy server, the unhealthy but alive ones stay;
- during a rollback window the healthy tasks of the standby (BLUE) app belong in the pool as
  backup servers; a server whose backup flag is wrong for its role is re-added with the right
  flag once it carries no session.
Pure: no I/O, no clock, no logging. The controller executes the actions and reports fail-open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reactor.core.actions import Action, LbAdd, LbDrain, LbRemove
from reactor.core.ids import parse_task_id
from reactor.core.observed import LbServerView, LbState, Observed, TaskPhase, TaskView


@dataclass(frozen=True)
class PoolPlan:
    actions: tuple[Action, ...]
    fail_open: tuple[str, ...]  # unhealthy tasks kept in the pool because no healthy one is left
    healthy: int  # serving tasks that belong in the pool
    # servers whose backup flag is wrong for their role but carry sessions: look again soon (no
    # event will say when they are idle)
    flag_waits: tuple[str, ...] = ()


_OUT = frozenset({LbState.DRAIN, LbState.MAINT})  # administratively out (DOWN: in, check failing)


def _healthy(t: TaskView) -> bool:
    return t.state is TaskPhase.RUNNING and t.healthy is True


def place(server: LbServerView | None, task: TaskView, backup: bool) -> tuple[Action, ...]:
    """The LB changes that make `task` serve in its role (`backup`: a backup server). A server
    whose backup flag is wrong for the role cannot be flipped in place: it is removed and added
    again, but only with no session attached (one that carries work, possibly as the only
    capacity, keeps serving with the old flag until it is idle)."""
    if task.lb_port is None:
        return ()
    add = LbAdd(task_id=task.task_id, host=task.host, port=task.lb_port, backup=backup)
    if server is None:
        return (add,)
    if server.backup != backup:
        return (LbRemove(task_id=task.task_id), add) if server.idle else ()
    return (add,) if server.state in _OUT else ()


def foreign_servers(task_ids: Iterable[str], group: str,
                    group_of_app: Mapping[str, str | None]) -> frozenset[str]:
    """The servers of a group's backend that are not the group's to change: one not named after
    a Marathon task id (a server of the HAProxy config file that happens to be called `bg-...`),
    or a task of an app of another group (a backend shared by two groups). `group_of_app` maps
    every app Marathon has, by its safe id (`prod_web`), to its group (None: no group). A task of
    an app Marathon no longer has stays the group's: a server left from a deleted app is removed."""
    out = set()
    for task_id in task_ids:
        try:
            safe = parse_task_id(task_id).instance.safe_app_id
        except ValueError:
            out.add(task_id)
            continue
        if safe in group_of_app and group_of_app[safe] != group:
            out.add(task_id)
    return frozenset(out)


def converge(observed: Observed, serving: frozenset[str],
             standby: frozenset[str] = frozenset()) -> PoolPlan:
    """The LB changes that bring the pool of `observed` to the healthy tasks of the `serving`
    apps, plus the healthy tasks of the `standby` apps as backup servers (the rollback window's
    warm BLUE). Nothing when the LB is not observed (driver "none" or unavailable)."""
    pool = observed.lb
    if pool is None or not observed.lb_available:
        return PoolPlan((), (), 0)
    tasks = {t.task_id: t for a in observed.apps for t in a.tasks}
    wanted = [t for a in observed.apps if a.app_id in serving for t in a.tasks if _healthy(t)]
    backups = [t for a in observed.apps if a.app_id in standby - serving for t in a.tasks if _healthy(t)]
    actions: list[Action] = []
    waits: list[str] = []
    for t, role in [(t, False) for t in wanted] + [(t, True) for t in backups]:
        server = pool.get(t.task_id)
        actions.extend(place(server, t, backup=role))
        if server is not None and server.backup != role and not server.idle:
            waits.append(t.task_id)
    bad: list[str] = []
    for task_id, server in sorted(pool.items()):
        seen = tasks.get(task_id)
        if seen is None or seen.state is TaskPhase.TERMINAL:
            actions.append(LbRemove(task_id=task_id))
        elif seen.app_id not in serving | standby:
            if server.state not in _OUT:
                actions.append(LbDrain(task_id=task_id))
        elif seen.state is TaskPhase.KILLING or seen.healthy is False:
            if server.state not in _OUT:
                bad.append(task_id)
    kept: tuple[str, ...] = ()
    if bad and not wanted and not any(
            s.state not in _OUT and (k := tasks.get(tid)) is not None and _healthy(k)
            for tid, s in pool.items()):
        kept = tuple(bad)  # fail open: never empty a pool because of health alone
    else:
        actions.extend(LbDrain(task_id=tid) for tid in bad)
    return PoolPlan(tuple(actions), kept, len(wanted), tuple(waits))


_RANK: dict[type, int] = {LbDrain: 0, LbAdd: 1, LbRemove: 2}


def batches(actions: Iterable[Action]) -> list[tuple[Action, ...]]:
    """The pool changes as independent batches, one per task (its own order kept: a backup flag
    flip is a remove then an add), the most urgent first: unhealthy tasks out, then tasks in,
    then dead servers removed. A removal can wait on sessions still attached (HAProxy refuses to
    delete a busy server) or fail; it must not hold back taking an unhealthy task out."""
    by_task: dict[str, list[Action]] = {}
    for a in actions:
        by_task.setdefault(getattr(a, "task_id", ""), []).append(a)
    ordered = sorted(by_task.values(), key=lambda acts: min(_RANK.get(type(a), 1) for a in acts))
    return [tuple(acts) for acts in ordered]

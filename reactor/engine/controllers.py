"""The group controllers of one engine: created on first use, one per group, routed by key.

Owns the mapping group → `GroupController`, the drained-task → group routing the drain watcher
needs, and what the API and the CLI read of all groups (status rows, the finished signal).
It must not plan, act or read the store itself (each controller does, with its own `Deps`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping

import structlog

from reactor.core.intent import Command
from reactor.engine.controller import GroupController
from reactor.engine.deps import Deps
from reactor.engine.status import GroupStatus

log = structlog.get_logger(__name__)


class _StatusView(Mapping[str, GroupStatus]):
    """Read-only `group -> GroupStatus` over the controllers that have one."""

    def __init__(self, controllers: dict[str, GroupController]) -> None:
        self._c = controllers

    def __getitem__(self, group: str) -> GroupStatus:
        c = self._c.get(group)
        if c is None or c.status is None:
            raise KeyError(group)
        return c.status

    def __iter__(self) -> Iterator[str]:
        return iter([g for g, c in self._c.items() if c.status is not None])

    def __len__(self) -> int:
        return sum(1 for c in self._c.values() if c.status is not None)


class Controllers:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.synced = False  # set by the engine after the first resync: until then, no round
        self._controllers: dict[str, GroupController] = {}
        self._drain_group: dict[str, str] = {}
        self.status: Mapping[str, GroupStatus] = _StatusView(self._controllers)

    def get(self, group: str) -> GroupController:
        c = self._controllers.get(group)
        if c is None:
            c = self._controllers[group] = GroupController(group, self.deps, self._drain_group)
        return c

    async def reconcile(self, group: str, trigger: tuple[str, float] | None = None) -> float | None:
        if not self.synced:
            return None  # the first resync marks every group again
        with structlog.contextvars.bound_contextvars(group=group):  # every log line names its group
            return await self.get(group).reconcile(trigger)

    def finished(self, group: str) -> asyncio.Event:
        return self.get(group).finished

    def queue_command(self, group: str, command: Command) -> None:
        self.get(group).queue_command(command)

    def group_of_drained_task(self, task_id: str) -> str | None:
        return self._drain_group.get(task_id)

    def lost(self, groups: set[str]) -> None:
        """The coordination backend says these leases are gone: forget what we cached."""
        for group in groups:
            log.warning("lease lost; nothing more is sent for the group until it is ours again",
                        group=group)
            if (c := self._controllers.get(group)) is not None:
                c.lease_lost()

    def store_problem(self) -> str | None:
        """A group's last round failed on the store (reads may still work while writes fail)."""
        return next((c.store_problem for c in self._controllers.values() if c.store_problem), None)

    def pool_status(self, group: str) -> dict[str, object]:
        c = self._controllers.get(group)
        if c is None:
            return {}
        return {"serving": list(c.pool.serving), "healthy": c.pool.healthy,
                "fail_open": list(c.pool.fail_open)}

"""One group's share of the engine's drain routing.

Owns which drain watches are the group's: the engine keeps one map, task id → group, shared by
every controller, so that a drain event reaches the group that watches the task. The controller
records a watch here when it starts one and forgets it when it stops; when the group's lease is
lost, or its deployment is over, every watch of the group is stopped (a holder that resumes
re-plans and watches again, as after a crash). It also answers whether a drain just started is
known drained already. It decides nothing about drains.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reactor.adapters.drain.watcher import DrainWatcher


class GroupDrains:
    def __init__(self, group: str, routing: dict[str, str], watcher: DrainWatcher) -> None:
        self.group = group
        self._routing = routing  # shared by every controller of the engine
        self._watcher = watcher

    def watching(self, task_id: str) -> None:
        self._routing[task_id] = self.group

    def unwatched(self, task_id: str) -> None:
        self._routing.pop(task_id, None)

    def observations(self) -> dict[str, Any]:
        """What the watcher observed of this group's tasks (not every group's)."""
        return self._watcher.observations_of(self._tasks())

    def any_decided(self, task_ids: Iterable[str]) -> bool:
        """The watcher knows one of these tasks drained (or gone) already: the `none` source
        answers in `watch()` itself and sends no event, so nothing else would wake the group."""
        return any(o.drained or o.gone for o in self._watcher.observations_of(task_ids).values())

    def forget(self) -> None:
        """Stop every watch of the group: its lease is gone, or its deployment is over."""
        for task_id in self._tasks():
            self._routing.pop(task_id, None)
            self._watcher.unwatch(task_id)

    def _tasks(self) -> list[str]:
        return [t for t, g in self._routing.items() if g == self.group]

"""What the cluster view keeps beside its apps and tasks. Pure.

`DeploymentBook`: the Marathon deployments in flight, the ids of finished ones (remembered against
late or reordered step events), and `DeploymentIndex`: app id -> ids of the deployments affecting
it (every round asks, for each app of its group, while dozens of deployments may be in flight: no
scan of them all).
`KeptDefinitions`: app id -> the definition the last `api_post_event` carried (runtime fields
removed) with the app's version then; forgotten when a REST read shows another version (an
update whose event was missed, e.g. during a reconnect).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from reactor.core.appdef import kept_definition
from reactor.core.events import DeploymentPlan
from reactor.core.models import Deployment, DeploymentAction


class DeploymentIndex:
    def __init__(self) -> None:
        self._by_app: dict[str, set[str]] = {}

    def ids_for(self, app_id: str) -> tuple[str, ...]:
        return tuple(sorted(self._by_app.get(app_id, ())))

    def rebuild(self, deployments: Any) -> None:
        self._by_app = {}
        for d in deployments:
            self.move(None, d)

    def move(self, old: Deployment | None, new: Deployment | None) -> None:
        """`old` no longer holds its apps, `new` holds its own (either may be None)."""
        if old is not None:
            for app_id in old.affected_apps:
                ids = self._by_app.get(app_id)
                if ids is not None:
                    ids.discard(old.id)
                    if not ids:
                        del self._by_app[app_id]
        if new is not None:
            for app_id in new.affected_apps:
                self._by_app.setdefault(app_id, set()).add(new.id)


FINISHED_MEMORY = 4096  # deployment ids remembered as finished, against late/reordered step events


class DeploymentBook:
    def __init__(self) -> None:
        self._all: dict[str, Deployment] = {}
        self._index = DeploymentIndex()
        self._finished: dict[str, None] = {}

    def all(self) -> list[Deployment]:
        return list(self._all.values())

    def ids_for(self, app_id: str) -> tuple[str, ...]:
        return self._index.ids_for(app_id)

    def is_finished(self, deployment_id: str) -> bool:
        return deployment_id in self._finished

    def replace(self, deployments: Iterable[Deployment]) -> None:
        """Those of a REST read; the finished ids are kept (a late event may still come)."""
        self._all = {d.id: d for d in deployments}
        self._index.rebuild(self._all.values())

    def step(self, plan: DeploymentPlan, current: tuple[DeploymentAction, ...]) -> Deployment | None:
        """A step event of `plan` (`current`: its step's actions); returns what was known of the
        deployment before (None: a new one)."""
        index = next((i + 1 for i, s in enumerate(plan.steps) if s.actions == current), 0)
        return self.put(Deployment(
            id=plan.id, version=plan.version, affected_apps=plan.affected_apps, steps=plan.steps,
            current_actions=current, current_step=index, total_steps=len(plan.steps)))

    def put(self, new: Deployment) -> Deployment | None:
        """Record `new` (in flight); returns what was known of it before (None: a new one)."""
        old = self._all.get(new.id)
        self._all[new.id] = new
        if old is None or old.affected_apps != new.affected_apps:
            self._index.move(old, new)
        return old

    def end(self, deployment_id: str) -> Deployment | None:
        """It succeeded or failed: remembered as finished; returns what was known of it."""
        self._finished[deployment_id] = None
        if len(self._finished) > FINISHED_MEMORY:
            del self._finished[next(iter(self._finished))]
        old = self._all.pop(deployment_id, None)
        self._index.move(old, None)
        return old


class KeptDefinitions:
    def __init__(self) -> None:
        self._kept: dict[str, tuple[str | None, dict[str, Any]]] = {}

    def get(self, app_id: str) -> dict[str, Any] | None:
        kept = self._kept.get(app_id)
        return kept[1] if kept is not None else None

    def put(self, app_id: str, version: str | None, definition: dict[str, Any]) -> None:
        self._kept[app_id] = (version, kept_definition(definition))

    def forget(self, app_id: str) -> None:
        self._kept.pop(app_id, None)

    def keep_if(self, current_version: Callable[[str], str | None],
                app_ids: Iterable[str] | None = None) -> None:
        """Keep only definitions whose app (of `app_ids`, default all) is at the version it was
        posted with; `current_version` answers None for an app that is gone."""
        for app_id in list(self._kept if app_ids is None else app_ids):
            kept = self._kept.get(app_id)
            if kept is not None and (kept[0] is None or current_version(app_id) != kept[0]):
                del self._kept[app_id]

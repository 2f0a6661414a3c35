"""What a group controller is given: its explicit, typed dependencies (one frozen bundle).

Owns the shapes only: the `Deps` dataclass the composition root (reactor.engine.engine) fills
in, the `Clock` read once per round, and the protocols of the callbacks. It must not import the
engine, the controller or the executor (the import-linter layers contract checks it), and holds
no state of its own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reactor.adapters.drain.watcher import DrainWatcher
from reactor.adapters.lb.base import LoadBalancer
from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.store.factory import Backend
from reactor.core.deploy_events import DeployEvent, GateAnswer
from reactor.core.view import ClusterView
from reactor.engine.metrics import Metrics
from reactor.settings import Settings

GateRunner = Callable[[DeployEvent], Awaitable[GateAnswer]]
Spawn = Callable[[Coroutine[Any, Any, None], str], None]
Mark = Callable[[set[str], str], None]


@dataclass(frozen=True, slots=True)
class Reading:
    """One clock reading: the monotonic seconds (for latencies) and the wall time (for intents)."""

    mono: float
    wall: datetime


class Clock:
    """The clock a round reads once. Tests may hand in another."""

    def __init__(self, mono: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._mono = mono
        self._wall = wall

    def read(self) -> Reading:
        return Reading(self._mono(), self._wall())

    def mono(self) -> float:
        return self._mono()


@dataclass(frozen=True)
class Deps:
    """Everything a group controller may use. Nothing else reaches it, and it reaches nothing else."""

    settings: Settings
    view: ClusterView
    backend: Backend  # Coordination + StateBackend (reactor.adapters.store)
    marathon: MarathonClient
    lb: LoadBalancer
    drains: DrainWatcher
    clock: Clock
    metrics: Metrics
    publish: Callable[[DeployEvent], None]  # log + API stream + hooks
    gate: GateRunner | None  # None: no gate hook is registered (no gate round at all)
    spawn: Spawn  # run a background coroutine owned by the engine
    mark: Mark  # mark groups dirty (the work queue)
    failed_deployments: Callable[[], frozenset[str]]
    on_reaction: Callable[[str, float], None]  # (trigger, seconds from event to first write)
    takeover: bool = True  # adopt deployments found in Marathon (False: only `only_groups`)
    only_groups: frozenset[str] | None = None

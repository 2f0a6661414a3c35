"""Drain watcher: pending-operations metric of BLUE tasks being drained.

Public API: DrainWatcher, DrainSpec, DrainSource, DrainEvent, DrainEventKind, DrainObservation,
MetricUnreadable. It must not import any other adapter (the LB-idle condition is combined by
the engine's planner).
"""

from reactor.adapters.drain.models import (
    DrainEvent,
    DrainEventKind,
    DrainObservation,
    DrainSource,
    DrainSpec,
)
from reactor.adapters.drain.payloads import MetricUnreadable
from reactor.adapters.drain.watcher import DrainWatcher

__all__ = [
    "DrainEvent",
    "DrainEventKind",
    "DrainObservation",
    "DrainSource",
    "DrainSpec",
    "DrainWatcher",
    "MetricUnreadable",
]

"""The server's shared state handed to every route: one object, built by server.py.

Owns: wiring only (bus, cluster, health, deployments, faults, stats, timeline, identity).
Must not: hold logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reactor.localmarathon.cluster import Cluster
from reactor.localmarathon.deployments import Deployments
from reactor.localmarathon.events import EventBus
from reactor.localmarathon.faults import Faults
from reactor.localmarathon.health import HealthManager
from reactor.localmarathon.timeline import Timeline


@dataclass
class MarathonState:
    bus: EventBus
    cluster: Cluster
    health: HealthManager
    deployments: Deployments
    faults: Faults = field(default_factory=lambda: Faults())
    leader: str = ""  # "host:port" of this (leader) server
    heartbeat_s: float = 10.0
    framework_id: str = "localmarathon-framework-0000"
    lenient: bool = False  # fractional health-check seconds accepted (Marathon: 422)
    features: tuple[str, ...] = ()  # Marathon's --enable_features
    timeline: Timeline = field(default_factory=Timeline)  # opt-in, for benchmarks

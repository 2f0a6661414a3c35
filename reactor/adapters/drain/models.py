"""Drain watcher vocabulary: what to watch (DrainSpec) and what it reports (events, observations).

Plain frozen values only; no I/O. The source enum is the one of the `[drain]` settings section,
so a configured source passes straight through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from reactor.settings import DrainSource

__all__ = ["DrainEvent", "DrainEventKind", "DrainObservation", "DrainSource", "DrainSpec"]


@dataclass(frozen=True)
class DrainSpec:
    """Where a task's pending-operations metric lives and how patiently to watch it.

    `metric` is a gauge name for `prometheus`, a dotted path (e.g. `gauges.db.pending.value`)
    for `json`, and the dotted path inside each SSE event's JSON data for `stream`.
    `labels` restricts the Prometheus samples summed (all must match).
    """

    host: str
    port: int
    source: DrainSource
    path: str = "/metrics"
    metric: str = "pending_operations"
    labels: dict[str, str] = field(default_factory=dict)
    interval_s: float = 0.25
    request_timeout_s: float = 2.0
    timeout_s: float = 300.0
    gone_after_refusals: int = 3  # consecutive refused connections that mean "the process is gone"
    # stream: no byte for this long = a silent stream; reconnect (the app sends its value on connect)
    stream_idle_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535 and not (self.source is DrainSource.NONE and self.port == 0):
            raise ValueError(f"drain port {self.port} is out of range 1..65535")  # 0: `none` reads nothing
        if not self.path.startswith("/"):
            raise ValueError(f"drain path must start with '/', got {self.path!r}")
        for name in ("interval_s", "request_timeout_s", "timeout_s", "stream_idle_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"drain {name} must be > 0, got {getattr(self, name)!r}")
        if self.gone_after_refusals < 1:
            raise ValueError(f"drain gone_after_refusals must be >= 1, got {self.gone_after_refusals}")

    def __hash__(self) -> int:  # labels is a dict; equality stays field-wise
        return hash((self.host, self.port, self.source, self.path, self.metric,
                     tuple(sorted(self.labels.items()))))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


class DrainEventKind(StrEnum):
    PROGRESS = "progress"  # pending changed and is > 0
    DRAINED = "drained"  # pending became 0 (once per transition)
    UNKNOWN = "unknown"  # the metric could not be read; detail says why (once per distinct reason)
    GONE = "gone"  # the port refused connections gone_after_refusals times in a row
    TIMEOUT = "timeout"  # timeout_s passed since watch() without being drained (once; watch continues)


@dataclass(frozen=True)
class DrainEvent:
    kind: DrainEventKind
    task_id: str
    pending: int | None
    at_monotonic: float
    detail: str = ""


@dataclass(frozen=True)
class DrainObservation:
    """The latest knowledge about one watched task (what the planner reads)."""

    task_id: str
    pending: int | None  # None = unknown right now
    drained: bool  # the last successful read said 0 and nothing failed since
    gone: bool
    timed_out: bool
    started_monotonic: float
    last_change_monotonic: float
    polls: int  # reads attempted (poll requests, or stream connections plus events received)
    detail: str = ""  # why pending is unknown, when it is

"""Prometheus metrics of the reactor, in their own `CollectorRegistry`.

Owns the metric names, types and labels of interface.md's table (plus hook and forced-kill
counters) and their exposition. It must not use prometheus-client's global registry (several
engines may live in one process, e.g. in tests) and must not decide *when* to count: callers do.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Reactions are expected in the millisecond range; deployments in minutes.
REACTION_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DEPLOYMENT_BUCKETS_S = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0)
DRAIN_BUCKETS_S = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every metric the reactor exposes; one instance per engine."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.deployments = Counter(
            "bluegreen_deployments_total", "Finished deployments by outcome.", ["outcome"], registry=r)
        self.deployment_duration = Histogram(
            "bluegreen_deployment_duration_seconds", "Duration of finished deployments.", ["outcome"],
            buckets=DEPLOYMENT_BUCKETS_S, registry=r)
        self.reaction = Histogram(
            "bluegreen_reaction_seconds",
            "Time from a Marathon or drain event to the action it led to.", ["trigger"],
            buckets=REACTION_BUCKETS_S, registry=r)
        self.marathon_requests = Counter(
            "bluegreen_marathon_requests_total", "Marathon REST requests.",
            ["method", "route", "status"], registry=r)
        self.marathon_events = Counter(
            "bluegreen_marathon_events_total", "Marathon events received, by eventType.", ["type"],
            registry=r)
        self._event_counters: dict[str, Counter] = {}  # eventType -> its child of marathon_events
        self.stream_reconnects = Counter(
            "bluegreen_event_stream_reconnects_total", "Reconnects of Marathon's event stream.",
            registry=r)
        self.drain = Histogram(
            "bluegreen_drain_seconds", "Time BLUE tasks took to drain, by outcome.", ["outcome"],
            buckets=DRAIN_BUCKETS_S, registry=r)
        self.phase = Gauge(
            "bluegreen_phase", "Current phase of each group's deployment (1 = current).",
            ["group", "phase"], registry=r)
        self.hook_calls = Counter(
            "bluegreen_hook_calls_total", "Hook invocations by hook and outcome.", ["hook", "outcome"],
            registry=r)
        self.forced_kills = Counter(
            "bluegreen_forced_kills_total", "Tasks killed with work in flight (on_timeout = force).",
            registry=r)
        self._add_operational_metrics(r)
        self.pool_changes = Counter(
            "bluegreen_pool_changes_total", "LB pool changes made while a group is at rest, by kind.",
            ["kind"], registry=r)
        self.fail_open = Counter(
            "bluegreen_pool_fail_open_total",
            "Rounds where unhealthy tasks were kept in a pool because no healthy task was left.",
            ["group"], registry=r)
        self.lb_restarts = Counter(
            "bluegreen_lb_restarts_total", "Load balancer restarts or reloads detected.", registry=r)
        self._phases: dict[str, str] = {}
        self._phase_lock = threading.Lock()

    def _add_operational_metrics(self, r: CollectorRegistry) -> None:
        """Build info, event-stream liveness, LB errors and refused Marathon credentials."""
        from reactor import __version__

        self.build_info = Gauge(
            "bluegreen_build_info", "Always 1; the labels say which reactor runs.", ["version", "python"],
            registry=r)
        self.build_info.labels(version=__version__, python=platform.python_version()).set(1)
        self.stream_connected = Gauge(
            "bluegreen_event_stream_connected",
            "1 while Marathon's event stream is live (connected and resynced), else 0.", registry=r)
        self.lb_errors = Counter(
            "bluegreen_lb_errors_total", "Load balancer calls that failed, by operation and error.",
            ["operation", "error"], registry=r)
        self.marathon_auth_failures = Counter(
            "bluegreen_marathon_auth_failures_total",
            "Marathon refused our credentials and the reactor could not fix it (re-login failed).",
            registry=r)
        self.store_errors = Counter(
            "bluegreen_store_errors_total",
            "State store / coordination backend calls that failed, by operation.", ["operation"],
            registry=r)
        self.queue_depth = Gauge(
            "bluegreen_reconcile_queue_depth",
            "Groups waiting for a reconcile round (a backlog that stays high means rounds lag).",
            registry=r)
        self.rounds_in_flight = Gauge(
            "bluegreen_reconcile_in_flight", "Reconcile rounds running now.", registry=r)

    def watch_stream(self, is_live: Callable[[], bool]) -> None:
        """`bluegreen_event_stream_connected` reads `is_live()` at every scrape."""
        self.stream_connected.set_function(lambda: 1.0 if is_live() else 0.0)

    def watch_queue(self, depth: Callable[[], int], in_flight: Callable[[], int]) -> None:
        """`bluegreen_reconcile_queue_depth` and `bluegreen_reconcile_in_flight` read the work
        queue at every scrape."""
        self.queue_depth.set_function(lambda: float(depth()))
        self.rounds_in_flight.set_function(lambda: float(in_flight()))

    def count_lb_error(self, operation: str, error: str) -> None:
        self.lb_errors.labels(operation=str(operation), error=str(error)).inc()

    def count_store_error(self, operation: str = "unknown") -> None:
        self.store_errors.labels(operation=str(operation)).inc()

    def count_marathon_auth_failure(self, _reason: str = "") -> None:
        self.marathon_auth_failures.inc()

    def count_deployment(self, outcome: str, duration_s: float | None = None) -> None:
        self.deployments.labels(outcome=str(outcome)).inc()
        if duration_s is not None:
            self.deployment_duration.labels(outcome=str(outcome)).observe(duration_s)

    def observe_reaction(self, trigger: str, seconds: float) -> None:
        self.reaction.labels(trigger=str(trigger)).observe(seconds)

    def count_marathon_request(self, method: str, route: str, status: int | str) -> None:
        """`route` is the template (`/v2/apps/{id}`), never the concrete path (label cardinality)."""
        self.marathon_requests.labels(method=method.upper(), route=route, status=str(status)).inc()

    def count_marathon_event(self, event_type: str) -> None:
        child = self._event_counters.get(event_type)  # labels() per event was a tenth of intake
        if child is None:
            if len(self._event_counters) >= 256:  # types are Marathon's to name: bounded
                self._event_counters.clear()
            child = self._event_counters[event_type] = self.marathon_events.labels(type=event_type)
        child.inc()

    def count_stream_reconnect(self) -> None:
        self.stream_reconnects.inc()

    # Names the engine already uses.
    count_event = count_marathon_event
    count_reconnect = count_stream_reconnect

    def observe_drain(self, outcome: str, seconds: float) -> None:
        self.drain.labels(outcome=str(outcome)).observe(seconds)

    def set_phase(self, group: str, phase: str) -> None:
        """Mark `phase` as the group's current phase; its previous phase series is removed."""
        phase = str(phase)
        with self._phase_lock:
            previous = self._phases.get(group)
            if previous == phase:
                return  # already set (every round reports its phase; most keep it)
            if previous is not None:
                self.phase.remove(group, previous)
            self._phases[group] = phase
            self.phase.labels(group=group, phase=phase).set(1)

    def clear_phase(self, group: str) -> None:
        """Forget a group (e.g. its deployment finished and it has no more apps)."""
        with self._phase_lock:
            previous = self._phases.pop(group, None)
            if previous is not None:
                self.phase.remove(group, previous)

    def count_hook_call(self, hook: str, outcome: str) -> None:
        self.hook_calls.labels(hook=hook, outcome=str(outcome)).inc()

    def count_forced_kill(self, n: int = 1) -> None:
        self.forced_kills.inc(n)

    def count_pool_change(self, kind: str, n: int = 1) -> None:
        self.pool_changes.labels(kind=kind).inc(n)

    def count_fail_open(self, group: str) -> None:
        self.fail_open.labels(group=group).inc()

    def count_lb_restart(self) -> None:
        self.lb_restarts.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (content type: `CONTENT_TYPE`)."""
        return generate_latest(self.registry)

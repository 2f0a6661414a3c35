"""Fault injection and request statistics under `/_localmarathon/` (outside Marathon's API).

Owns: the `fail_next` budget (status + route prefix), the leader-election window of a failover
(first half: no leader known, everything answers 502 "Could not determine the current leader";
second half: elected but not ready, REST still 502 and `/v2/events` an empty 200 stream, reference
§1.5), request counters keyed by "METHOD /route/template", and parsing of
`POST /_localmarathon/faults` bodies. Stream-related faults (drop, delay, reorder, duplicate,
slow-consumer limit, leader change) are applied by the route on the bus.
Must not: answer Marathon's own routes.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any

from reactor.localmarathon import errors

KNOWN_FAULTS = (
    "drop_event_streams",
    "fail_next",
    "event_delay_ms",
    "leader_change",
    "slow_consumer_limit",
    "failover",
    "duplicate_events",
    "reorder_events",
)
NO_LEADER = "Could not determine the current leader"


@dataclass
class FailNext:
    count: int
    status: int
    route_prefix: str


@dataclass
class Faults:
    fail_next: FailNext | None = None
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    election_start_s: float = 0.0  # monotonic; the failover's election window
    election_end_s: float = 0.0
    leader_known_s: float = 0.0  # from here to the end: elected but not ready (empty 200 streams)
    failovers: int = 0

    def start_election(self, election_s: float, leader_unknown_s: float | None = None) -> None:
        self.election_start_s = time.monotonic()
        self.election_end_s = self.election_start_s + election_s
        unknown_s = election_s / 2 if leader_unknown_s is None else min(leader_unknown_s, election_s)
        self.leader_known_s = self.election_start_s + unknown_s
        self.failovers += 1

    def electing(self) -> bool:
        """No ready leader: REST answers 502 (and the health checks of a leader do not run)."""
        return time.monotonic() < self.election_end_s

    def leader_unknown(self) -> bool:
        """First half of the window: even `/v2/events` answers 502 (later: an empty 200)."""
        return time.monotonic() < self.leader_known_s

    def take_failure(self, path: str) -> int | None:
        """Status to fail this request with, consuming one unit of the budget; None to serve it."""
        f = self.fail_next
        if f is None or f.count <= 0 or not path.startswith(f.route_prefix):
            return None
        f.count -= 1
        if f.count <= 0:
            self.fail_next = None
        return f.status


def parse_faults(body: Any) -> dict[str, Any]:
    """Validate a faults body; raises a 422 naming the problem, changes nothing."""
    if not isinstance(body, dict) or not body:
        raise errors.invalid(
            [{"path": "/", "errors": [f"expected a JSON object with one of {KNOWN_FAULTS}"]}]
        )
    details = [{"path": f"/{k}", "errors": ["unknown fault"]} for k in body if k not in KNOWN_FAULTS]
    fn = body.get("fail_next")
    if fn is not None:
        if (
            not isinstance(fn, dict)
            or not isinstance(fn.get("count", 1), int)
            or not isinstance(fn.get("status", 503), int)
            or not isinstance(fn.get("route_prefix", "/"), str)
        ):
            details.append(
                {"path": "/fail_next", "errors": ["expected {count:int, status:int, route_prefix:str}"]}
            )
    fo = body.get("failover")
    if fo is not None and not (
        isinstance(fo, dict)
        and all(
            _number(fo.get(k, 0)) and float(fo.get(k, 0)) >= 0
            for k in ("election_s", "leader_unknown_s")
        )
    ):
        expected = "expected {election_s: number >= 0, leader_unknown_s?: number >= 0}"
        details.append({"path": "/failover", "errors": [expected]})
    if "duplicate_events" in body and not isinstance(body["duplicate_events"], bool):
        details.append({"path": "/duplicate_events", "errors": ["expected true or false"]})
    ro = body.get("reorder_events")
    if ro is not None and not (
        isinstance(ro, dict)
        and _number(ro.get("window_ms"))
        and float(ro["window_ms"]) >= 0
        and isinstance(ro.get("seed", 0), int)
    ):
        expected = "expected {window_ms: number >= 0, seed?: int}"
        details.append({"path": "/reorder_events", "errors": [expected]})
    for key in ("event_delay_ms", "slow_consumer_limit"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            details.append({"path": f"/{key}", "errors": ["expected an integer >= 0"]})
    if details:
        raise errors.invalid(details)
    return body


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)

"""Fault injection and request statistics under `/_localmarathon/` (outside Marathon's API).

Owns: the `fail_next` budget (status + route prefix), request counters keyed by
"METHOD /route/template", and parsing of `POST /_localmarathon/faults` bodies. Stream-related
faults (drop, delay, slow-consumer limit, leader change) are applied by the route on the bus.
Must not: answer Marathon's own routes.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from reactor.localmarathon import errors

KNOWN_FAULTS = ("drop_event_streams", "fail_next", "event_delay_ms", "leader_change", "slow_consumer_limit")


@dataclass
class FailNext:
    count: int
    status: int
    route_prefix: str


@dataclass
class Faults:
    fail_next: FailNext | None = None
    requests: collections.Counter[str] = field(default_factory=collections.Counter)

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
    for key in ("event_delay_ms", "slow_consumer_limit"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            details.append({"path": f"/{key}", "errors": ["expected an integer >= 0"]})
    if details:
        raise errors.invalid(details)
    return body

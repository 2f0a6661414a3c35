"""Applying one drawn fault to the soak's world, and clearing the stream faults afterwards.

Owns: the mapping fault kind → action on the embedded Marathon (`/_localmarathon/faults`), on the
reactor daemon (SIGKILL, then a restart on the same state file) or on HAProxy (restart), and the
window during which HAProxy itself was down (its refusals are not the reactor's failures).
A bad GREEN is not applied here: it is GREEN's own environment (see `green_env`).
Must not: check invariants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.daemon import ReactorDaemon
from tests.e2e.world import World, wait_for
from tests.soak import plan
from tests.soak.plan import Draw

REFILL_TIMEOUT_S = 30.0


@dataclass
class Applied:
    """What a fault did: its answer and, for an HAProxy restart, the wall-clock down window."""

    result: dict[str, Any] = field(default_factory=dict)
    lb_down: tuple[float, float] | None = None


def green_env(draw: Draw) -> dict[str, str]:
    if draw.kind == plan.GREEN_NEVER_HEALTHY:
        return {"SAMPLE_UNHEALTHY": "1"}
    if draw.kind == plan.GREEN_UNHEALTHY_AFTER:
        return {"SAMPLE_UNHEALTHY_AFTER_S": str(draw.params["after_s"])}
    return {}


async def apply(draw: Draw, world: World, daemon: ReactorDaemon) -> Applied:
    p = draw.params
    if draw.kind == plan.STREAM_DROP:
        return Applied(await world.fault({"drop_event_streams": True}))
    if draw.kind == plan.BURST_503:
        return Applied(await world.fault(
            {"fail_next": {"count": p["count"], "status": 503, "route_prefix": "/v2/"}}))
    if draw.kind == plan.FAILOVER:
        return Applied(await world.fault({"failover": {"election_s": p["election_s"]}}))
    if draw.kind == plan.DUPLICATES:
        return Applied(await world.fault({"duplicate_events": True}))
    if draw.kind == plan.REORDER:
        reorder = {"window_ms": p["window_ms"], "seed": p["seed"]}
        return Applied(await world.fault({"reorder_events": reorder}))
    if draw.kind == plan.EVENT_DELAY:
        return Applied(await world.fault({"event_delay_ms": p["delay_ms"]}))
    if draw.kind == plan.REACTOR_KILL:
        daemon.kill()
        await daemon.wait_dead()
        await daemon.start()  # same config, same state file
        return Applied({"restarts": daemon.starts})
    if draw.kind == plan.HAPROXY_RESTART:
        begin = time.time()
        await world.hap.restart()
        up = time.time()
        try:
            await wait_for(lambda: _serving(world), timeout_s=REFILL_TIMEOUT_S, what="HAProxy refilled")
        except AssertionError:  # only HAProxy's own down time is excused; an empty pool is not
            return Applied({"refill_s": None, "fault_error": f"pool not refilled within {REFILL_TIMEOUT_S}s"},
                           lb_down=(begin, up))
        return Applied({"refill_s": round(time.time() - begin, 3)}, lb_down=(begin, time.time()))
    return Applied()  # a bad GREEN: nothing to do at the moment


async def _serving(world: World) -> bool:
    return await world.serving() > 0


async def clear(world: World) -> None:
    """Back to a well-behaved Marathon (the election window, if any, ends by itself)."""
    await world.fault({"duplicate_events": False, "reorder_events": {"window_ms": 0}, "event_delay_ms": 0,
                       "fail_next": {"count": 0}})

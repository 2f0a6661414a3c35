"""Notices a load balancer restart or reload (runtime-added servers lost) within a second.

Owns a short timer that asks the LB adapter which process answers (HAProxy: `show info` Pid and
Uptime_sec on the local socket — one cheap command per tick). A new pid or a smaller uptime is a
restart: counted, logged, and every group is marked so its controller refills the pool. Drivers
without `process_info` (command, none) are not watched. It must not change the pool itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from reactor.adapters.lb.errors import LbError
from reactor.engine.metrics import Metrics

log = structlog.get_logger(__name__)

ProcessInfo = Callable[[], Awaitable[tuple[str, int]]]


async def watch_lb_restarts(process_info: ProcessInfo, on_restart: Callable[[], None], metrics: Metrics,
                            *, interval_s: float = 0.25) -> None:
    """Run until cancelled. The first answer is the baseline; an LB that is down keeps it."""
    last: tuple[str, int] | None = None
    while True:
        try:
            now = await process_info()
        except (LbError, OSError) as exc:
            log.debug("lb process info unavailable", error=str(exc))
        else:
            if last is not None and (now[0] != last[0] or now[1] < last[1]):
                metrics.count_lb_restart()
                log.warning("load balancer restarted or reloaded: refilling every pool",
                            pid=now[0], previous_pid=last[0])
                on_restart()
            last = now
        await asyncio.sleep(interval_s)

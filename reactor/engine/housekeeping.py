"""Housekeeping: the periodic retention of the state backend (`prune_forever`).

Owns when pruning runs (at start, then every `interval_s`) and what a failure means (a log line
and another try next time: retention never stops the reactor). What is pruned is the backend's
business (`StateBackend.prune`, from `[state] history_max` / `history_days`). It must not touch
intents or leases, nor hold a lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from reactor.settings import Settings

log = structlog.get_logger(__name__)

PRUNE_INTERVAL_S = 3600.0


class Prunable(Protocol):
    async def prune(self, *, history_max: int, history_days: float) -> dict[str, int]: ...


async def prune_once(backend: Prunable, settings: Settings) -> dict[str, int] | None:
    """One pruning pass; None when the backend failed (logged)."""
    try:
        counts = await backend.prune(history_max=settings.state.history_max,
                                     history_days=settings.state.history_days)
    except Exception as exc:  # a store problem: the next pass retries; the engine goes on
        log.warning("state pruning failed; retrying at the next pass", error=str(exc))
        return None
    if any(counts.values()):
        log.info("state pruned", **counts)
    return counts


async def prune_forever(backend: Prunable, settings: Settings, clock: Callable[[], float], *,
                        interval_s: float = PRUNE_INTERVAL_S,
                        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Prune at start, then every `interval_s` (measured on `clock`, a monotonic clock)."""
    while True:
        began = clock()
        await prune_once(backend, settings)
        await sleep(max(0.0, interval_s - (clock() - began)))

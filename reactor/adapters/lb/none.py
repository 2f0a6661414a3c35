"""The `none` driver: no load balancer at all.

observe returns an empty pool and every operation does nothing. With it the engine skips the
LB steps (adding GREEN to and draining BLUE from a pool); traffic moves by whatever routes to
Marathon tasks (e.g. service discovery), and a BLUE task is considered drained on its app metric
alone (`[drain] require_lb_idle` has no LB sessions to wait for). Must not fail.
"""

from __future__ import annotations

from reactor.adapters.lb.base import Lifecycle, PoolServer


class NoLoadBalancer(Lifecycle):
    async def observe(self, backend: str) -> dict[str, PoolServer]:
        return {}

    async def add(self, backend: str, task_id: str, address: str, port: int, backup: bool = False) -> None:
        return None

    async def drain(self, backend: str, task_id: str) -> None:
        return None

    async def maint(self, backend: str, task_id: str) -> None:
        return None

    async def remove(self, backend: str, task_id: str) -> None:
        return None

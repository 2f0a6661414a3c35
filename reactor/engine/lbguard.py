"""The `[lb] allowed_backends` guard: a load balancer that refuses every backend not allowed.

Owns one rule at the one place every LB call passes (the pool keeper and the executor both use
`Deps.lb`): anyone who may set Marathon labels can name a backend (BLUEGREEN_LB_BACKEND), so a
backend outside the operator's list is never observed or changed. A refusal is an `LbError`
naming the key, which the callers already treat as "LB steps wait" (logged, counted). It must
not decide anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from reactor.adapters.lb.base import LoadBalancer, PoolServer
from reactor.adapters.lb.errors import LbError
from reactor.core.allowlist import backend_refusal


class BackendNotAllowed(LbError):
    """The backend is not in `[lb] allowed_backends`."""


class GuardedLoadBalancer:
    """Delegates to `inner` for allowed backends only (an empty list allows any)."""

    def __init__(self, inner: LoadBalancer, allowed: Sequence[str]) -> None:
        self.inner = inner
        self.allowed = tuple(allowed)

    def _check(self, backend: str) -> None:
        if (reason := backend_refusal(backend, self.allowed)) is not None:
            raise BackendNotAllowed(reason)

    def __getattr__(self, name: str) -> object:  # driver extras (e.g. restart detection)
        return getattr(self.inner, name)

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)  # type: ignore[arg-type]

    async def observe(self, backend: str) -> dict[str, PoolServer]:
        self._check(backend)
        return await self.inner.observe(backend)

    async def add(self, backend: str, task_id: str, address: str, port: int, backup: bool = False) -> None:
        self._check(backend)
        await self.inner.add(backend, task_id, address, port, backup)

    async def drain(self, backend: str, task_id: str) -> None:
        self._check(backend)
        await self.inner.drain(backend, task_id)

    async def maint(self, backend: str, task_id: str) -> None:
        self._check(backend)
        await self.inner.maint(backend, task_id)

    async def remove(self, backend: str, task_id: str) -> None:
        self._check(backend)
        await self.inner.remove(backend, task_id)

"""The load balancer protocol the engine drives, and the pool model it observes.

Owns `ServerState`, `PoolServer` and the `LoadBalancer` protocol. Every operation is idempotent and
the observed pool is the truth: after a balancer restart the engine re-applies what it wants.
Must not import a driver or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self, runtime_checkable


class ServerState(StrEnum):
    READY = "ready"  # takes new traffic
    DRAIN = "drain"  # keeps its sessions, takes no new ones
    MAINT = "maint"  # administratively out of the pool
    DOWN = "down"  # administratively ready, but its health check is failing


@dataclass(frozen=True, slots=True)
class PoolServer:
    task_id: str
    name: str  # the balancer's own name for the server
    address: str
    port: int
    state: ServerState
    sessions: int  # current sessions attached to the server
    queued: int  # requests waiting for a slot on the server
    backup: bool = False  # a backup server: takes traffic only while no normal server is up


@runtime_checkable
class LoadBalancer(Protocol):
    """One balancer driver. Also an async context manager; start/stop are idempotent."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def observe(self, backend: str) -> dict[str, PoolServer]:
        """The pool of `backend`, keyed by task id (only servers this driver manages)."""
        ...

    async def add(self, backend: str, task_id: str, address: str, port: int, backup: bool = False) -> None:
        """Put the task in the pool; ends READY (also re-enables a drained or maintained one).
        `backup`: a new server is added as a backup server (an existing one keeps its flag;
        drivers without backup servers raise LbUnsupported)."""
        ...

    async def drain(self, backend: str, task_id: str) -> None:
        """No new traffic, in-flight sessions continue. Absent task: nothing to do."""
        ...

    async def maint(self, backend: str, task_id: str) -> None:
        """Out of the pool administratively. Absent task: nothing to do."""
        ...

    async def remove(self, backend: str, task_id: str) -> None:
        """Maintenance, then delete once no connection is attached. Absent task: nothing to do."""
        ...


class Lifecycle:
    """Idempotent start/stop and the async context manager protocol, shared by the drivers."""

    _started: bool = False

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

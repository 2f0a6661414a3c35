"""The two contracts the engine relies on for state: one actor per group, and durable records.

Owns the interfaces only (typing.Protocol); implementations live beside it: `sqlite_backend`
(one reactor, or the CLI and a daemon on one host) and a ZooKeeper backend (replicas). The
engine never learns which one it has. It must not import an implementation.

Fencing contract: `may_act(group)` is cheap, synchronous and conservative. It answers True only
while this process certainly holds the group's lease *now* (never after a suspended/lost
session, never after a renewal deadline passed unseen, e.g. a process frozen by SIGSTOP).
The engine calls it right before every batch of writes (Marathon, LB, hooks) and sends nothing
when it answers False. `confirm(group)` is the slower, authoritative check (one round trip to
the backend) for the moment before the first write of a batch.

Store contract: every method may raise `StoreError` (locked, full, corrupt, backend away).
A caller that could not save an intent must not act on it (write-ahead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Coordination(Protocol):
    """Per-group leases with fencing."""

    kind: str  # "sqlite" | "zookeeper"
    owner: str  # this process's identity, e.g. "host:pid:8hex"

    async def acquire(self, group: str) -> bool:
        """Take (or keep) the group's lease without blocking; False if another owner holds it."""
        ...

    async def release(self, group: str) -> None:
        """Give the lease back (idempotent)."""
        ...

    async def holder(self, group: str) -> str | None:
        """Who holds the group's lease now (None: nobody)."""
        ...

    def may_act(self, group: str) -> bool:
        """Fencing, local and cheap: True only while the lease is certainly ours right now."""
        ...

    async def confirm(self, group: str) -> bool:
        """Fencing, authoritative: one round trip proving the lease is still ours."""
        ...

    def acting_for(self) -> set[str]:
        """Groups whose lease this process holds (as far as `may_act` is concerned)."""
        ...

    def on_lost(self, callback: Callable[[set[str]], None]) -> None:
        """Register a callback for groups whose lease was lost (suspended, expired, taken)."""
        ...

    async def run(self) -> None:
        """Keep leases alive (renewals, session upkeep) until cancelled."""
        ...


@runtime_checkable
class StateBackend(Protocol):
    """Intents (write-ahead), history, hook delivery claims and the operator audit log."""

    ok: bool  # False after the last call failed, until one succeeds (for /readyz)
    problem: str | None  # the last failure, one line

    async def load_intent(self, group: str) -> dict[str, Any] | None: ...

    async def save_intent(self, group: str, record: dict[str, Any], *, finished: bool) -> None: ...

    async def active_intents(self) -> dict[str, dict[str, Any]]: ...

    async def append_history(self, record: dict[str, Any]) -> bool: ...

    async def list_history(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    async def claim_delivery(self, event_id: str, hook: str) -> bool: ...

    async def record_command(self, group: str, command: str, *, source: str) -> None: ...

    async def list_commands(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    async def prune(self, *, history_max: int, history_days: float) -> dict[str, int]:
        """Retention, called periodically (engine/housekeeping.py). Deletes the history records
        beyond the newest `history_max` of each group and those finished more than
        `history_days` ago (0 = no limit for either), each with the hook delivery claims of its
        deployment (event ids start with `<deployment_id>:`), and delivery claims and operator
        commands older than `history_days`. Never touches intents or leases; idempotent; safe
        to call from any replica (no lease needed). Returns counts deleted, e.g.
        `{"history": 3, "deliveries": 12, "commands": 0}`."""
        ...

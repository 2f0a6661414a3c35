"""Builds the state/coordination backend named by the settings (the engine's one entry point).

Owns the choice of implementation only. The returned object satisfies both `Coordination` and
`StateBackend` (reactor.adapters.store.backend) and is an async context manager.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from reactor.adapters.store.backend import Coordination, StateBackend
from reactor.adapters.store.sqlite_backend import SqliteBackend
from reactor.adapters.store.zookeeper_backend import ZooKeeperBackend


class Backend(Coordination, StateBackend, Protocol):
    async def claim(self, group: str) -> tuple[bool, dict[str, Any] | None]:
        """`acquire` and, if the lease is ours, `load_intent`, in as few trips to the store as it
        allows: (held, the stored record or None). What a round needs first for a group whose
        lease it does not hold; a `StoreError` means neither is known."""
        ...

    async def __aenter__(self) -> Backend: ...

    async def __aexit__(self, *exc: object) -> None: ...


def build_backend(kind: str, *, owner: str, state_path: str | Path, lease_ttl_s: float,
                  zk_hosts: str = "127.0.0.1:2181", zk_root: str = "/bluegreen",
                  session_timeout_s: float = 10.0) -> Backend:
    """`kind` is "sqlite" or "zookeeper" (settings.coordination.backend)."""
    if kind == "sqlite":
        return SqliteBackend(state_path, owner=owner, lease_ttl_s=lease_ttl_s)
    if kind == "zookeeper":
        return ZooKeeperBackend(zk_hosts, owner=owner, root=zk_root, session_timeout_s=session_timeout_s)
    raise ValueError(f"unknown coordination backend {kind!r}")

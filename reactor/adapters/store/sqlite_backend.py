"""SQLite behind the async `Coordination` and `StateBackend` contracts (one host).

Owns moving every SQLite call off the event loop (one worker thread, so calls keep their order;
intent saves waiting together share one transaction, and so do lease claims and releases:
`sqlite_worker`)
and the lease bookkeeping that fencing needs: a lease counts as ours only until the last
successful acquire/renew plus the TTL minus a safety margin, measured on the monotonic clock,
so a process frozen past its lease (SIGSTOP) wakes up with `may_act` False before its first
renewal. It must not interpret intents and must not decide anything about deployments.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.lease_clock import lease_clock
from reactor.adapters.store.sqlite import StateStore
from reactor.adapters.store.sqlite_worker import StoreWorker

T = TypeVar("T")

#: a lease is trusted for ttl * TRUST_FRACTION after it was last confirmed
TRUST_FRACTION = 0.8


class SqliteBackend:
    """Leases, intents, history, deliveries and commands in one SQLite file, async."""

    kind = "sqlite"

    def __init__(self, path: str | Path, *, owner: str, lease_ttl_s: float,
                 busy_timeout_s: float = 5.0,
                 monotonic: Callable[[], float] = lease_clock,
                 wall: Callable[[], float] = time.time) -> None:
        self.owner = owner
        self.path = Path(path)
        self.store = StateStore(path, owner=owner, busy_timeout_s=busy_timeout_s)
        self._ttl_s = lease_ttl_s
        self._monotonic = monotonic
        self._wall = wall
        self._trusted_until: dict[str, float] = {}
        self._lost_callbacks: list[Callable[[set[str]], None]] = []
        self.ok = True
        self.problem: str | None = None
        self._worker = StoreWorker("sqlite", report=self._report)
        self.saves = self._worker.kind(self._write_rows, "store-group-commit")
        self.claims = self._worker.kind(self._claim_rows, "store-lease-claims")
        self.releases = self._worker.kind(self.store.release_leases, "store-lease-releases")

    # lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> SqliteBackend:
        await self._call(self.store.open)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        try:
            await self._call(self.store.release_all_leases)
        except StoreError:
            pass
        finally:
            self._trusted_until.clear()
            await self._call(self.store.close)
            self._worker.stop()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._worker.call(fn, *args, **kwargs)

    def _report(self, failed: BaseException | None) -> None:
        """Each call's or batch's outcome, on the loop: a StoreError makes the store not ok."""
        if isinstance(failed, StoreError):
            self.ok, self.problem = False, str(failed)
        elif failed is None:
            self.ok, self.problem = True, None

    # Coordination --------------------------------------------------------------------------------
    async def acquire(self, group: str) -> bool:
        started = self._monotonic()
        got = await self._call(self.store.acquire_lease, group, ttl_s=self._ttl_s, now_s=self._wall())
        self._trust(group, got, started)
        return got

    async def claim(self, group: str) -> tuple[bool, dict[str, Any] | None]:
        started = self._monotonic()
        held, record = await self.claims.call(group)
        self._trust(group, held, started)
        return held, record

    def _trust(self, group: str, held: bool, asked_at: float) -> None:
        """After an acquire or claim asked at `asked_at` (monotonic): trusted for the TTL's safe
        fraction from then, or dropped."""
        if held:
            self._trusted_until[group] = asked_at + self._ttl_s * TRUST_FRACTION
        else:
            self._drop({group})

    def _claim_rows(self, groups: list[str]) -> list[tuple[bool, dict[str, Any] | None] | Exception]:
        """In the worker thread: one transaction for the claims waiting together."""
        return list(self.store.claim_leases(groups, ttl_s=self._ttl_s, now_s=self._wall()))

    async def release(self, group: str) -> None:
        self._trusted_until.pop(group, None)
        await self.releases.call(group)

    async def holder(self, group: str) -> str | None:
        return await self._call(self.store.lease_holder, group, now_s=self._wall())

    def may_act(self, group: str) -> bool:
        until = self._trusted_until.get(group)
        return until is not None and self._monotonic() < until

    async def confirm(self, group: str) -> bool:
        if not self.may_act(group):
            return False
        try:
            return await self.holder(group) == self.owner
        except StoreError:
            return False

    def acting_for(self) -> set[str]:
        return {g for g in self._trusted_until if self.may_act(g)}

    def on_lost(self, callback: Callable[[set[str]], None]) -> None:
        self._lost_callbacks.append(callback)

    async def run(self) -> None:
        """Renew every held lease each third of the TTL; a failed renewal fences at its deadline."""
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            await self.renew_once()

    async def renew_once(self) -> None:
        if not self._trusted_until:
            return
        started = self._monotonic()
        try:
            held = set(await self._call(self.store.renew_leases, ttl_s=self._ttl_s, now_s=self._wall()))
        except StoreError:
            expired = {g for g, t in self._trusted_until.items() if self._monotonic() >= t}
            self._drop(expired)
            return
        lost = set(self._trusted_until) - held
        for group in held & set(self._trusted_until):
            self._trusted_until[group] = started + self._ttl_s * TRUST_FRACTION
        self._drop(lost)

    def _drop(self, groups: set[str]) -> None:
        groups = {g for g in groups if self._trusted_until.pop(g, None) is not None}
        if groups:
            for cb in self._lost_callbacks:
                cb(groups)

    # StateBackend ----------------------------------------------------------------------------------
    async def load_intent(self, group: str) -> dict[str, Any] | None:
        return await self._call(self.store.load_intent, group)

    async def save_intent(self, group: str, record: dict[str, Any], *, finished: bool) -> None:
        row = self.store.prepare_intent(group, record, finished)  # JSON on the loop, not the thread
        await self.saves.call((group, row))

    def _write_rows(self, rows: list[tuple[str, str]]) -> list[Exception | None]:
        """In the worker thread: one transaction for the saves waiting together."""
        return self.store.write_intent_rows(rows, now_s=self._wall())

    async def active_intents(self) -> dict[str, dict[str, Any]]:
        return await self._call(self.store.active_intents)

    async def append_history(self, record: dict[str, Any]) -> bool:
        return await self._call(self.store.append_history, record)

    async def list_history(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return await self._call(self.store.list_history, group, limit)

    async def claim_delivery(self, event_id: str, hook: str) -> bool:
        return await self._call(self.store.claim_delivery, event_id, hook, now_s=self._wall())

    async def record_command(self, group: str, command: str, *, source: str) -> None:
        await self._call(self.store.record_command, group, command, source=source, now_s=self._wall())

    async def list_commands(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return await self._call(self.store.list_commands, group, limit)

    async def prune(self, *, history_max: int, history_days: float) -> dict[str, int]:
        """Retention (see StateBackend.prune): history beyond `history_max` per group or older
        than `history_days` (0 = no limit), with its delivery records; old claims and commands."""
        now = self._wall()
        before = now - history_days * 86400.0 if history_days > 0 else None
        return await self._call(self.store.prune, keep_per_group=history_max, before_s=before, now_s=now)

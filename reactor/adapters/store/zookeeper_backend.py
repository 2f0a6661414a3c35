"""ZooKeeper behind the async `Coordination` and `StateBackend` contracts (any number of replicas).

Owns per-group leases and their fencing; the state half is zookeeper_state (retention in
zookeeper_retention), the session and its trust clock zookeeper_session, the znode layout
zookeeper_layout. It must not decide anything about deployments.

Why per-group leases rather than one elected leader: groups are independent, so replicas share
the work (each acts for the groups it holds), a lost or contested group stops only that group,
and `bluegreen deploy` on a laptop takes exactly the lease of the one group it drives, the same
contract as the SQLite backend, so the engine never learns which backend it has.

A lease is an ephemeral sequential znode `leases/<g>/l-<session>-<seq>`; the lowest sequence
holds the group. Acquiring is one create + one list (no waiting in a queue: a contender that is
not lowest deletes its node and answers False). Being ephemeral, a lease dies with its session,
so a replica SIGKILLed or cut off loses its groups after the session timeout, and the sequence
names are never reused, so an intent write can be fenced atomically with a `check` of our own
lease znode in the same transaction.

Fencing: `may_act` is False at once on SUSPENDED (connection lost, session maybe alive), every
group is dropped on LOST (on_lost callbacks), and it is False whenever the server has not
answered within TRUST_FRACTION of the session timeout (a process frozen by SIGSTOP past its
session wakes up fenced, before kazoo notices). `confirm` proves ownership in one round trip:
our lease znode exists and its ephemeralOwner is our session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import KazooException, NoNodeError

from reactor.adapters.store import zookeeper_layout as zl
from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.group_commit import Batcher
from reactor.adapters.store.lease_clock import lease_clock
from reactor.adapters.store.zookeeper_retention import ZkRetention
from reactor.adapters.store.zookeeper_session import ZkSession

#: housekeeping of hook delivery claims (seconds between sweeps)
SWEEP_EVERY_S = 3600.0
#: a claim's answer: (the lease is held, the stored intent if so)
Claimed = tuple[bool, dict[str, Any] | None]


def _children_of(answer: Any) -> list[str]:
    """A children answer of `ZkSession.call_with_reads`: a missing parent lists nothing."""
    if isinstance(answer, NoNodeError):
        return []
    if isinstance(answer, Exception):
        raise answer
    return list(answer)


def _data_of(answer: Any) -> tuple[bytes, Any] | None:
    """A data answer of `ZkSession.call_with_reads`: (data, stat), None for a missing znode."""
    if isinstance(answer, NoNodeError):
        return None
    if isinstance(answer, Exception):
        raise answer
    return answer[0], answer[1]


class ZooKeeperBackend(ZkRetention):
    """Leases, intents, history, deliveries and commands under one ZooKeeper root, async."""

    kind = "zookeeper"

    def __init__(self, hosts: str, *, owner: str, root: str = "/bluegreen",
                 session_timeout_s: float = 10.0, connect_timeout_s: float | None = None,
                 monotonic: Callable[[], float] = lease_clock,
                 wall: Callable[[], float] = time.time) -> None:
        if not hosts.strip():
            raise ValueError("ZooKeeper hosts must not be empty")
        self.owner = owner
        layout = zl.Layout(root)
        super().__init__(ZkSession(hosts, session_timeout_s=session_timeout_s, monotonic=monotonic),
                         layout, f"zookeeper://{hosts}{layout.root}", wall)
        self._connect_timeout_s = connect_timeout_s if connect_timeout_s is not None else session_timeout_s
        self._held: dict[str, tuple[str, int]] = {}  # group -> (lease znode, session id)
        self._lost_callbacks: list[Callable[[set[str]], None]] = []
        self._beat: asyncio.Task[None] | None = None
        self.claims: Batcher[tuple[str, int], Claimed] = Batcher(self._claim_batch, "zookeeper-claims")

    # lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> ZooKeeperBackend:
        """Connect (kazoo keeps retrying in the background); ok False while not connected."""
        self._session.start(on_lost=self._session_lost, on_suspended=self._suspended)
        self._beat = asyncio.create_task(self._heartbeats(), name="zookeeper_heartbeat")
        if not await self._session.wait_connected(self._connect_timeout_s):
            self.ok, self.problem = False, f"{self.label}: not connected (retrying)"
        else:
            await self._probe_multi_read()
        return self

    async def _probe_multi_read(self) -> None:
        """Whether the server takes multiRead, asked once per connection (`ZkSession`)."""
        if self._session.multi_read is None:
            await self._session.probe_multi_read()

    async def __aexit__(self, *_exc: object) -> None:
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        for group in list(self._held):
            try:
                await self.release(group)
            except Exception:
                pass
        self._held.clear()
        await self._session.stop()

    @property
    def connection(self) -> str:
        """'connected' | 'suspended' | 'lost' (kazoo's view of the session)."""
        return str(self._session.state).lower()

    # Coordination --------------------------------------------------------------------------------
    async def acquire(self, group: str) -> bool:
        if group in self._held:
            if await self.confirm(group):
                return True
            self._drop({group})
        session = self._session.session_id()
        if session is None:
            self.ok, self.problem = False, f"{self.label}: not connected"
            return False
        got: tuple[bool, Any] = await self._op("acquire lease", lambda: self._acquire(group, session))
        return got[0]

    async def _acquire(self, group: str, session: int, read: str | None = None) -> tuple[bool, Any]:
        """Create our lease node, list the lease's nodes and, with `read`, read that znode, all
        sent at once: one session's requests are answered in order, so the listing sees our node
        and the read comes after it (a holder before us was gone by then and, fenced by its
        lease node, wrote nothing more). Returns (held, what `read` read, None if absent)."""
        parent, mine = self._layout.lease_dir(group), f"l-{session:016x}-"
        creating = asyncio.ensure_future(
            self._create(f"{parent}/{mine}", self.owner.encode(), ephemeral=True, sequence=True))
        listing = asyncio.ensure_future(self._children(parent))
        reading = asyncio.ensure_future(self._get(read)) if read is not None else None
        try:
            node = await creating
            children = await listing
        finally:  # whatever failed, the others' outcomes are collected (never left unretrieved)
            await asyncio.gather(listing, *([reading] if reading else []), return_exceptions=True)
        if await self._settle(group, session, node, children):
            return True, await reading if reading is not None else None
        return False, None

    async def _settle(self, group: str, session: int, node: str, children: list[str]) -> bool:
        """After our lease node `node` was created and the lease's nodes listed: held (ours is
        the lowest) and recorded, or given up (our node deleted: a contender never waits)."""
        parent, mine = self._layout.lease_dir(group), f"l-{session:016x}-"
        if node.rsplit("/", 1)[1] not in children:  # listed before the lease's parent was made
            children = await self._children(parent)
        children = sorted(children, key=zl.sequence)
        stale = [c for c in children if c.startswith(mine) and f"{parent}/{c}" != node]
        for child in stale:  # ours from an attempt that failed half-way: never block others
            await self._delete(f"{parent}/{child}")
        children = [c for c in children if c not in stale]
        if children and f"{parent}/{children[0]}" == node and self._session.session_id() == session:
            self._held[group] = (node, session)
            return True
        await self._delete(node)
        return False

    async def claim(self, group: str) -> tuple[bool, dict[str, Any] | None]:
        """The lease and the intent in one pipeline: one round trip's wait instead of three."""
        if group in self._held or (session := self._session.session_id()) is None:
            if not await self.acquire(group):
                return False, None
            return True, await self.load_intent(group)
        return await self.claims.call((group, session))

    async def _claim_one(self, group: str, session: int) -> Claimed:
        path = self._layout.intent(group)
        held, got = await self._op("claim lease", lambda: self._acquire(group, session, read=path))
        return (True, self._intent_read(group, got)) if held else (False, None)

    async def _claim_batch(self, items: list[tuple[str, int]]) -> list[Claimed | Exception]:
        """Group commit of the claims asked for together: their lease nodes are created in ONE
        transaction (one write, and one log sync at ZooKeeper, instead of one per group: with 50
        GREEN apps created at once, 50 claims took 100 ms to complete one by one), sent at once
        with every lease's listing and intent read, themselves one multiRead where the server has
        it (one session's requests are answered in order: the listings see the new nodes): two
        requests for any number of claims. A transaction refused (a lease's parent not made yet:
        a group's first lease ever) is claimed group by group (`_acquire` makes the parents);
        each claim gets its own answer or error."""
        if items:
            settled: list[Claimed | Exception] | None = await self._op(
                "claim leases", lambda: self._claim_together(items))
            if settled is not None:
                return settled
        answers: list[Claimed | Exception] = []
        for group, session in items:
            try:
                answers.append(await self._claim_one(group, session))
            except Exception as exc:  # this claim's own failure (StoreError), not the others'
                answers.append(exc)
        return answers

    async def _claim_together(self, items: list[tuple[str, int]]) -> list[Claimed | Exception] | None:
        """None if the transaction was refused (then nothing of it was created)."""
        tx = self._session.client.transaction()
        for group, session in items:
            tx.create(f"{self._layout.lease_dir(group)}/l-{session:016x}-", self.owner.encode(),
                      ephemeral=True, sequence=True)
        n = len(items)
        (nodes,), got = await self._session.call_with_reads([tx.commit_async], [
            *(("children", self._layout.lease_dir(g)) for g, _ in items),
            *(("data", self._layout.intent(g)) for g, _ in items)])
        listings, readings = got[:n], got[n:]
        if isinstance(nodes, Exception):
            raise nodes  # the transaction itself failed (connection): every claim fails
        if any(isinstance(r, Exception) for r in nodes):
            return None  # rolled back as a whole: nothing was created
        out: list[Claimed | Exception] = []
        for (group, session), node, listing, reading in zip(items, nodes, listings, readings, strict=True):
            try:
                held = await self._settle(group, session, str(node), _children_of(listing))
                out.append((True, self._intent_read(group, _data_of(reading))) if held else (False, None))
            except (KazooException, TimeoutError) as exc:  # this claim fails alone (its round
                # reports the store problem); its node, if left, is deleted by our next claim
                out.append(StoreError(self.label, f"claim lease: {type(exc).__name__} {exc}".strip()))
            except StoreError as exc:  # e.g. a corrupt intent znode
                out.append(exc)
        return out

    async def release(self, group: str) -> None:
        held = self._held.pop(group, None)
        if held is not None:
            await self._op("release lease", lambda: self._delete(held[0]))

    async def holder(self, group: str) -> str | None:
        async def read() -> str | None:
            parent = self._layout.lease_dir(group)
            for child in sorted(await self._children(parent), key=zl.sequence):
                got = await self._get(f"{parent}/{child}")
                if got is not None:
                    return got[0].decode()
            return None
        result: str | None = await self._op("read lease holder", read)
        return result

    def may_act(self, group: str) -> bool:
        held = self._held.get(group)
        return held is not None and self._session.trusted(held[1])

    async def confirm(self, group: str) -> bool:
        held = self._held.get(group)
        if held is None or not self.may_act(group):
            return False
        zk = self._session.client
        try:
            stat = await self._op("confirm lease", lambda: self._kz(lambda: zk.exists_async(held[0])))
        except Exception:
            return False
        return stat is not None and stat.ephemeralOwner == held[1] and self.may_act(group)

    def acting_for(self) -> set[str]:
        return {g for g in self._held if self.may_act(g)}

    def on_lost(self, callback: Callable[[set[str]], None]) -> None:
        self._lost_callbacks.append(callback)

    async def run(self) -> None:
        """Housekeeping until cancelled: sweep old delivery claims. (Heartbeats, which keep the
        fencing trust fresh, run from __aenter__ on, so a CLI that never calls run() is fenced
        correctly too.)"""
        while True:
            try:
                await self.forget_deliveries(before_s=self._wall() - zl.DELIVERY_RETENTION_S)
            except Exception:
                pass
            await asyncio.sleep(SWEEP_EVERY_S)

    async def _heartbeats(self) -> None:
        """Every quarter of the session timeout: one round trip (keeps `may_act` trust fresh);
        the multiRead question too, after a reconnect."""
        while True:
            await asyncio.sleep(self._session.timeout_s / 4)
            if await self.heartbeat_once():
                await self._probe_multi_read()

    async def heartbeat_once(self) -> bool:
        """One round trip; False (ok False, problem set) when the server did not answer."""
        if self._session.session_id() is None:
            self.ok, self.problem = False, f"{self.label}: not connected ({self.connection})"
            return False
        try:
            await self._op("heartbeat", self._session.heartbeat)
        except Exception:
            return False
        lost = {g for g, (_, s) in self._held.items() if s != self._session.session_id()}
        self._drop(lost)
        return True

    # session events (on the event loop) ------------------------------------------------------------
    def _suspended(self) -> None:
        self.ok, self.problem = False, f"{self.label}: connection suspended"

    def _session_lost(self) -> None:
        self.ok, self.problem = False, f"{self.label}: session lost"
        self._drop(set(self._held))

    def _fenced_out(self, group: str) -> None:
        self._drop({group})

    def _lease_node(self, group: str) -> str | None:
        held = self._held.get(group)
        return held[0] if held is not None else None

    def _drop(self, groups: set[str]) -> None:
        groups = {g for g in groups if self._held.pop(g, None) is not None}
        if groups:
            for cb in self._lost_callbacks:
                cb(groups)


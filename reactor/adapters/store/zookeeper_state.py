"""Intents, history, hook delivery claims and the command audit log in ZooKeeper.

Owns the StateBackend half of the ZooKeeper backend (layout: zookeeper_layout) and the mapping
of every kazoo failure to StoreError with `ok`/`problem` for /readyz. An intent of a group this
process holds is written in one transaction with a check of its lease znode, so a replica that
lost its lease cannot overwrite the new holder's intent (LeaseLost). History and commands are
bounded per group (newest kept). It must not manage sessions or leases (zookeeper_backend does).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

from reactor.adapters.store import zookeeper_layout as zl
from reactor.adapters.store.errors import InvalidRecord, LeaseLost, StoreError
from reactor.adapters.store.group_commit import GroupCommit, Item
from reactor.adapters.store.records import complete_history
from reactor.adapters.store.zookeeper_session import ZkSession


class ZkState:
    """The StateBackend methods; subclasses provide the lease bookkeeping hooks."""

    owner: str

    def __init__(self, session: ZkSession, layout: zl.Layout, label: str,
                 wall: Callable[[], float] = time.time) -> None:
        self._session = session
        self._layout = layout
        self.label = label
        self._wall = wall
        self.ok = True
        self.problem: str | None = None
        self.history_keep = zl.HISTORY_KEEP  # newest records kept per group
        # whether a group's intent znode exists, as last read or written by this process: a
        # first save then creates it in one round trip instead of set (fails), parent, create
        self._intent_exists: dict[str, bool] = {}
        self._intents_dir_made = False
        self.saves = GroupCommit(self._write_batch)  # intent saves asked for together: one multi
        self.commands_keep = zl.COMMANDS_KEEP

    # hooks of the coordination half --------------------------------------------------------------
    def _lease_node(self, group: str) -> str | None:
        return None

    def _fenced_out(self, group: str) -> None:
        pass

    async def holder(self, group: str) -> str | None:
        raise NotImplementedError

    # plumbing ------------------------------------------------------------------------------------
    async def _op(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one backend step; kazoo failures and timeouts become StoreError (ok False)."""
        try:
            result = await call()
        except StoreError as exc:
            self.ok, self.problem = False, str(exc)
            raise
        except (KazooException, TimeoutError) as exc:
            err = StoreError(self.label, f"{what}: {type(exc).__name__} {exc}".strip())
            self.ok, self.problem = False, str(err)
            raise err from exc
        self.ok, self.problem = True, None
        return result

    def _kz(self, start: Callable[[], Any]) -> Awaitable[Any]:
        return self._session.call(start)

    async def _create(self, path: str, data: bytes = b"", **kw: Any) -> str:
        zk = self._session.client
        return str(await self._kz(lambda: zk.create_async(path, data, makepath=True, **kw)))

    async def _children(self, path: str) -> list[str]:
        zk = self._session.client
        try:
            return list(await self._kz(lambda: zk.get_children_async(path)))
        except NoNodeError:
            return []

    async def _get(self, path: str) -> tuple[bytes, Any] | None:
        zk = self._session.client
        try:
            data, stat = await self._kz(lambda: zk.get_async(path))
        except NoNodeError:
            return None
        return data, stat

    async def _delete(self, path: str) -> None:
        zk = self._session.client
        try:
            await self._kz(lambda: zk.delete_async(path))
        except NoNodeError:
            pass

    # intents -------------------------------------------------------------------------------------
    async def load_intent(self, group: str) -> dict[str, Any] | None:
        got = await self._op("load intent", lambda: self._get(self._layout.intent(group)))
        return self._intent_read(group, got)

    def _intent_read(self, group: str, got: tuple[bytes, Any] | None) -> dict[str, Any] | None:
        """The intent in a read of its znode (None: absent), remembered as existing or not."""
        self._known_intent(group, got is not None)
        if got is None:
            return None
        try:
            return zl.decode(got[0], self._layout.intent(group)).get("intent")
        except StoreError as exc:  # read outside `_op`: report it the same way
            self.ok, self.problem = False, str(exc)
            raise

    def _known_intent(self, group: str, exists: bool | None) -> None:
        if exists is None:
            self._intent_exists.pop(group, None)
            return
        if len(self._intent_exists) >= zl.KNOWN_INTENTS_MAX and group not in self._intent_exists:
            self._intent_exists.clear()  # bounded; forgetting only costs a round trip
        self._intent_exists[group] = exists

    async def save_intent(self, group: str, record: dict[str, Any], *, finished: bool) -> None:
        if not isinstance(record, dict):
            raise InvalidRecord(self.label, f"intent must be a dict, got {type(record).__name__}")
        await self.saves.save(group, record, finished)

    async def _write_batch(self, batch: list[Item]) -> list[Exception | None]:
        """Group commit: the saves of groups whose lease znode this process holds and whose
        intent znode it knows (read or written before) go in ONE transaction, each with the
        check of its lease (fencing unchanged); with 50 groups deploying, one request instead
        of 50 through kazoo (about 0.5 ms of client CPU each). If that transaction fails, or
        for the other saves, each is saved alone, which tells what refused it (LeaseLost, a
        vanished node). Per item None or the error that refused it."""
        results: list[Exception | None] = [None] * len(batch)
        prepared: list[tuple[int, str, bytes]] = []
        for k, (group, record, finished) in enumerate(batch):
            body = {"group": group, "intent": record, "finished": finished,
                    "updated_at": self._wall(), "updated_by": self.owner}
            try:
                prepared.append((k, group, zl.encode(self.label, f"intent of group {group!r}", body)))
            except StoreError as exc:
                results[k] = exc
        together = [p for p in prepared if self._lease_node(p[1]) is not None and p[1] in self._intent_exists]
        written: set[int] = set()
        for chunk in _chunks(together, zl.MULTI_BYTES):
            if len(chunk) > 1 and await self._save_chunk(chunk):
                written.update(k for k, _, _ in chunk)
        for k, group, data in prepared:
            if k not in written:
                try:
                    await self._save_one(group, data)
                except (StoreError, LeaseLost) as exc:
                    results[k] = exc
        return results

    async def _save_chunk(self, chunk: list[tuple[int, str, bytes]]) -> bool:
        try:
            saved: bool = await self._op("save intents", lambda: self._save_together(chunk))
        except BaseException:
            self._forget_known([group for _, group, _ in chunk])
            raise
        return saved

    async def _save_together(self, chunk: list[tuple[int, str, bytes]]) -> bool:
        zk = self._session.client
        if not self._intents_dir_made and not all(self._intent_exists.get(g) for _, g, _ in chunk):
            await self._kz(lambda: zk.ensure_path_async(self._layout.intents()))
            self._intents_dir_made = True
        tx = zk.transaction()
        for _, group, data in chunk:
            lease = self._lease_node(group)
            if lease is None:
                return False
            tx.check(lease, 0)
            if self._intent_exists.get(group):
                tx.set_data(self._layout.intent(group), data)
            else:
                tx.create(self._layout.intent(group), data)
        results = await self._kz(tx.commit_async)
        if any(isinstance(r, Exception) for r in results):
            return False  # rolled back as a whole: saved one by one, which says what refused each
        for _, group, _ in chunk:
            self._known_intent(group, True)
        return True

    async def _save_one(self, group: str, data: bytes) -> None:
        try:
            await self._op("save intent", lambda: self._save_intent(group, data))
        except BaseException:
            self._forget_known([group])
            raise
        self._known_intent(group, True)

    def _forget_known(self, groups: list[str]) -> None:
        """After a failed save: its outcome is unknown, and the root may have been removed."""
        for group in groups:
            self._known_intent(group, None)
        self._intents_dir_made = False  # made again by the next create

    async def _save_intent(self, group: str, data: bytes) -> None:
        lease = self._lease_node(group)
        if lease is None:
            # only a holder saves: every save checks its own lease znode in the same transaction.
            # (A save after reading "nobody holds it" would be two steps, and a replica that took
            # the lease between them would have its newer intent overwritten.)
            raise LeaseLost(group, await self.holder(group))
        path, zk = self._layout.intent(group), self._session.client
        # the intent may not exist yet, or appear meanwhile; known absent, try creating first
        absent = self._intent_exists.get(group) is False
        modes = ("create", "set", "create") if absent else ("set", "create", "set")
        for mode in modes:
            if mode == "create" and not self._intents_dir_made:
                await self._kz(lambda: zk.ensure_path_async(self._layout.intents()))
                self._intents_dir_made = True
            tx = zk.transaction()
            tx.check(lease, 0)
            tx.create(path, data) if mode == "create" else tx.set_data(path, data)
            results = await self._kz(tx.commit_async)
            if not any(isinstance(r, Exception) for r in results):
                return
            if isinstance(results[0], NoNodeError):
                self._fenced_out(group)
                raise LeaseLost(group, await self.holder(group))
            failed = results[-1]
            if isinstance(failed, NoNodeError if mode == "set" else NodeExistsError):
                continue
            raise failed if isinstance(failed, Exception) else StoreError(self.label, str(results))
        raise StoreError(self.label, f"intent of group {group!r}: created and removed concurrently")

    async def active_intents(self) -> dict[str, dict[str, Any]]:
        async def read() -> dict[str, dict[str, Any]]:
            children = await self._children(self._layout.intents())
            paths = [f"{self._layout.intents()}/{c}" for c in children]
            got = await asyncio.gather(*(self._get(p) for p in paths))
            bodies = [zl.decode(g[0], p) for p, g in zip(paths, got, strict=True) if g is not None]
            return {b["group"]: b["intent"] for b in sorted(bodies, key=lambda b: str(b.get("group")))
                    if not b.get("finished") and "group" in b}
        result: dict[str, dict[str, Any]] = await self._op("read intents", read)
        return result

    # history -------------------------------------------------------------------------------------
    async def append_history(self, record: dict[str, Any]) -> bool:
        try:
            rec = complete_history(self.label, record)  # type: ignore[arg-type]
        except InvalidRecord as exc:
            raise InvalidRecord(self.label, exc.problem) from exc
        group, dep = str(rec["group"]), str(rec["deployment_id"])
        data = zl.encode(self.label, "history record", rec)
        added: bool = await self._op("append history", lambda: self._append_history(group, dep, data))
        return added

    async def _append_history(self, group: str, dep: str, data: bytes) -> bool:
        zk, lay = self._session.client, self._layout
        await self._kz(lambda: zk.ensure_path_async(lay.history_dir(group)))
        await self._kz(lambda: zk.ensure_path_async(lay.history_ids_dir(group)))
        tx = zk.transaction()
        tx.create(lay.history_id(group, dep), b"")
        tx.create(lay.history_dir(group) + "/h-", data, sequence=True)
        results = await self._kz(tx.commit_async)
        if isinstance(results[0], NodeExistsError):
            return False
        if any(isinstance(r, Exception) for r in results):
            raise next(r for r in results if isinstance(r, Exception))
        await self._prune(lay.history_dir(group), self.history_keep,
                          lambda body: lay.history_id(group, str(body.get("deployment_id"))))
        return True

    async def _prune(self, parent: str, keep: int,
                     companion: Callable[[dict[str, Any]], str] | None = None) -> None:
        children = sorted(await self._children(parent), key=zl.sequence)
        for child in children[:max(0, len(children) - keep)]:
            path = f"{parent}/{child}"
            if companion is not None and (got := await self._get(path)) is not None:
                with contextlib.suppress(StoreError):  # a corrupt record goes all the same
                    await self._delete(companion(zl.decode(got[0], path)))
            await self._delete(path)

    async def _newest(self, parent: str, group: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` records of one group, or of every group (merged by creation)."""
        if limit <= 0:
            raise ValueError(f"limit must be > 0, got {limit!r}")
        parents = [f"{parent}/{zl.name(group)}"] if group is not None else [
            f"{parent}/{c}" for c in await self._children(parent)]
        paths: list[str] = []
        for p in parents:
            children = sorted(await self._children(p), key=zl.sequence, reverse=True)[:limit]
            paths += [f"{p}/{c}" for c in children]
        read = await asyncio.gather(*(self._get(p) for p in paths))
        got = [(p, g) for p, g in zip(paths, read, strict=True) if g is not None]
        got.sort(key=lambda pg: pg[1][1].czxid, reverse=True)
        return [zl.decode(g[0], p) for p, g in got[:limit]]

    async def list_history(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._op(
            "list history", lambda: self._newest(self._layout.history_dir(), group, limit))
        return result

    # deliveries and commands -----------------------------------------------------------------------
    async def claim_delivery(self, event_id: str, hook: str) -> bool:
        data = zl.encode(self.label, "delivery", {"claimed_at": self._wall(), "claimed_by": self.owner})

        async def claim() -> bool:
            try:
                await self._create(self._layout.delivery(event_id, hook), data)
            except NodeExistsError:
                return False
            return True
        claimed: bool = await self._op("claim delivery", claim)
        return claimed

    async def record_command(self, group: str, command: str, *, source: str) -> None:
        body = {"group": group, "command": command, "source": source, "at": self._wall(),
                "owner": self.owner}
        data = zl.encode(self.label, "command", body)
        parent = self._layout.commands_dir(group)

        async def record() -> None:
            await self._create(parent + "/c-", data, sequence=True)
            await self._prune(parent, self.commands_keep)
        await self._op("record command", record)

    async def list_commands(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._op(
            "list commands", lambda: self._newest(self._layout.commands_dir(), group, limit))
        return result


def _chunks(items: list[tuple[int, str, bytes]], max_bytes: int) -> list[list[tuple[int, str, bytes]]]:
    """Consecutive runs of `items` whose data stays under `max_bytes` together (one multi each)."""
    out: list[list[tuple[int, str, bytes]]] = []
    size = 0
    for item in items:
        if not out or size + len(item[2]) > max_bytes:
            out.append([])
            size = 0
        out[-1].append(item)
        size += len(item[2])
    return out

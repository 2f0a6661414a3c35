"""Retention of the ZooKeeper backend's records: what `prune()` (StateBackend) and the delivery
sweep delete.

Owns walking history, delivery and command znodes and deleting the doomed ones (with their id
markers and their deployment's delivery claims). It must not touch intents or leases.
"""

from __future__ import annotations

from reactor.adapters.store import zookeeper_layout as zl
from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.zookeeper_state import ZkState


class ZkRetention(ZkState):
    """`prune()` and `forget_deliveries()` on top of the state half."""

    async def forget_deliveries(self, *, before_s: float) -> int:
        """Drop delivery claims made before `before_s` (housekeeping); returns how many."""
        async def forget() -> int:
            parent, dropped = self._layout.deliveries(), 0
            for child in await self._children(parent):
                got = await self._get(f"{parent}/{child}")
                if got is not None and got[1].ctime / 1000.0 < before_s:
                    await self._delete(f"{parent}/{child}")
                    dropped += 1
            return dropped
        count: int = await self._op("forget deliveries", forget)
        return count

    # retention -------------------------------------------------------------------------------------
    async def prune(self, *, history_max: int, history_days: float) -> dict[str, int]:
        """Retention (StateBackend.prune): history beyond the newest `history_max` per group or
        created more than `history_days` ago, with its id marker and the delivery claims of its
        deployment; older delivery claims and commands. Creation time (ctime) stands for
        finished_at (a record is written at the end); sequence order is creation order, so only
        the doomed records and the oldest kept one are read."""
        cutoff = self._wall() - history_days * 86400.0 if history_days > 0 else None

        async def prune() -> dict[str, int]:
            counts = {"history": 0, "deliveries": 0, "commands": 0}
            hist, doomed_deployments = self._layout.history_dir(), []
            for gdir in await self._children(hist):
                doomed_deployments += await self._prune_group(gdir, history_max, cutoff)
            counts["history"] = len(doomed_deployments)
            counts["deliveries"] = await self._forget_claims(doomed_deployments, cutoff)
            if cutoff is not None:
                cmds = self._layout.commands_dir()
                for gdir in await self._children(cmds):
                    counts["commands"] += await self._older_than(f"{cmds}/{gdir}", cutoff)
            return counts
        result: dict[str, int] = await self._op("prune", prune)
        return result

    async def _prune_group(self, gdir: str, history_max: int, cutoff: float | None) -> list[str]:
        """Delete one group's doomed history records (oldest first); their deployment ids."""
        group, parent = zl.unname(gdir), f"{self._layout.history_dir()}/{gdir}"
        children = sorted((c for c in await self._children(parent) if c.startswith("h-")), key=zl.sequence)
        excess = max(0, len(children) - history_max) if history_max > 0 else 0
        doomed: list[str] = []
        for rank, child in enumerate(children):
            got = await self._get(f"{parent}/{child}")
            if got is None:
                continue
            if rank >= excess and (cutoff is None or got[1].ctime / 1000.0 >= cutoff):
                break  # this one and every newer one stay
            try:
                deployment: str | None = str(zl.decode(got[0], f"{parent}/{child}").get("deployment_id"))
            except StoreError:
                deployment = None  # a corrupt record: deleted, it names no marker or claims
            if deployment is not None:
                await self._delete(self._layout.history_id(group, deployment))
            await self._delete(f"{parent}/{child}")
            if deployment is not None:
                doomed.append(deployment)
        return doomed

    async def _forget_claims(self, deployments: list[str], cutoff: float | None) -> int:
        """Delivery claims of pruned deployments (event ids `<deployment>:...`) and, with a
        cutoff, every claim made before it."""
        parent, dropped = self._layout.deliveries(), 0
        prefixes = tuple(zl.name(f"{d}:") for d in deployments)
        for child in await self._children(parent):
            doomed = bool(prefixes) and child.startswith(prefixes)
            if not doomed and cutoff is not None:
                got = await self._get(f"{parent}/{child}")
                doomed = got is not None and got[1].ctime / 1000.0 < cutoff
            if doomed:
                await self._delete(f"{parent}/{child}")
                dropped += 1
        return dropped

    async def _older_than(self, parent: str, cutoff_s: float) -> int:
        dropped = 0
        for child in await self._children(parent):
            got = await self._get(f"{parent}/{child}")
            if got is not None and got[1].ctime / 1000.0 < cutoff_s:
                await self._delete(f"{parent}/{child}")
                dropped += 1
        return dropped

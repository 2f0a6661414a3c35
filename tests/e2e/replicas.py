"""Two (or more) reactor daemons coordinating on a real ZooKeeper, for the replica e2e tests.

Owns: a `Replica` (a ReactorDaemon with `[coordination] backend = "zookeeper"`, its own state
file and work directory — a separate host — and its own RecordingProxy in front of Marathon, so
every Marathon write is attributed to the replica that sent it), `signal_first_at` (act on the
replica whose deploy-event stream reaches an event first) and the write checks (no doubled
write, nothing from a fenced replica). Must not start Marathon, HAProxy or ZooKeeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.daemon import ReactorDaemon
from tests.engine.proxy import RecordingProxy, Write


class Replica(ReactorDaemon):
    def __init__(self, name: str, workdir: Path, marathon_url: str, socket: Path | str, *,
                 zk_hosts: str, session_timeout_s: float) -> None:
        self.name = name
        self.proxy = RecordingProxy(marathon_url)
        home = workdir / name
        home.mkdir(parents=True, exist_ok=True)
        self._coordination = (f'\n[coordination]\nbackend = "zookeeper"\nhosts = "{zk_hosts}"\n'
                              f'root = "/bluegreen"\nsession_timeout_s = {session_timeout_s}\n')
        self._init = (home, socket)

    async def __aenter__(self) -> Replica:
        await self.proxy.__aenter__()
        home, socket = self._init
        super().__init__(home, [self.proxy.url], socket)
        with self.config.open("a") as fh:
            fh.write(self._coordination)
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGCONT)
        await self.stop()
        await self.proxy.__aexit__(*exc)

    def writes(self) -> list[Write]:
        return list(self.proxy.writes)

    async def replica_info(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{self.api}/v1/replica") as r:
                return dict(await r.json()) if r.status == 200 else None
        except aiohttp.ClientError:
            return None

    def signal(self, sig: int) -> None:
        assert self.proc is not None and self.proc.returncode is None
        os.kill(self.proc.pid, sig)


async def signal_first_at(replicas: list[Replica], event: str, nth: int,
                          act: Callable[[Replica], Any], connected: asyncio.Event) -> Replica:
    """Watch every replica's deploy-event stream; `act(replica)` on the first whose stream shows
    `event` for the `nth` time (that replica is the one acting); returns it."""
    done: asyncio.Future[Replica] = asyncio.get_running_loop().create_future()
    ready = [asyncio.Event() for _ in replicas]

    async def watch(replica: Replica, mine: asyncio.Event) -> None:
        seen = 0
        timeout = aiohttp.ClientTimeout(total=None)
        with contextlib.suppress(aiohttp.ClientError):
            async with aiohttp.ClientSession(timeout=timeout) as s, s.get(f"{replica.api}/v1/events") as r:
                mine.set()
                async for raw in r.content:
                    if raw.decode().strip() == f"event: {event}":
                        seen += 1
                        if seen == nth and not done.done():
                            act(replica)
                            done.set_result(replica)
                            return

    tasks = [asyncio.create_task(watch(r, e)) for r, e in zip(replicas, ready, strict=True)]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 10)
        connected.set()
        return await done
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def doubled_writes(replicas: list[Replica], after_n: dict[str, int]) -> list[tuple[str, str, str]]:
    """Writes (method, path, body) sent more than once, across replicas, after each replica's
    `after_n` first writes (those belong to earlier deployments)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for r in replicas:
        for w in r.proxy.writes[after_n.get(r.name, 0):]:
            seen[(w.method, w.path, json.dumps(w.body, sort_keys=True))] += 1
    return [k for k, n in seen.items() if n > 1]

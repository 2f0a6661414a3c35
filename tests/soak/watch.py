"""An independent reader of Marathon's `/v2/events` that survives the soak's faults.

Owns: reconnecting after drops, failovers (502 / empty 200) and restarts, and recording the task
ids Marathon itself killed for failing health checks (`unhealthy_instance_kill_event`): operations
those tasks abandon are Marathon's doing, not the reactor's, and are counted apart.
Must not: assert anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp


class MarathonWatch:
    def __init__(self, url: str) -> None:
        self.url = url
        self.health_killed: set[str] = set()
        self.connects = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MarathonWatch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        async with aiohttp.ClientSession(timeout=timeout, read_bufsize=2**22) as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    await self._read(session)
                await asyncio.sleep(0.2)  # back-off before reconnecting (a real client's retry delay)

    async def _read(self, session: aiohttp.ClientSession) -> None:
        params = {"event_type": "unhealthy_instance_kill_event"}
        async with session.get(f"{self.url}/v2/events", params=params,
                               headers={"Accept": "text/event-stream"}) as r:
            if r.status != 200:
                return
            self.connects += 1
            async for raw in r.content:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("data:"):
                    with contextlib.suppress(ValueError):
                        event = json.loads(line[5:])
                        for key in ("taskId", "instanceId"):
                            if event.get(key):
                                self.health_killed.add(str(event[key]))

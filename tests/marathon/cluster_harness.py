"""What the engine does with Marathon's stream, without the engine: an EventWatcher feeding a ClusterView.

`Follower` wires `on_resync → view.replace`, `on_event → view.apply` and the engine's targeted
refresh loop (`view.take_needs_refresh()` → `client.get_app` → `replace_app`, `remove_app` on 404).
`converge` waits, with a deadline, until the embedded Marathon is quiet and the followed view equals
a fresh `ClusterView().replace(await client.snapshot())`; on timeout it names the difference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.errors import MarathonError, NotFound
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.core.events import MalformedEvent, MarathonEvent
from reactor.core.models import Snapshot
from reactor.core.view import ClusterView


async def wait_until(
    cond: Callable[[], Awaitable[Any]] | Callable[[], Any], timeout_s: float = 10.0, what: str = "condition"
) -> Any:
    """Poll `cond` (sync or async) until truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


class Follower:
    """`async with Follower(client, idle_timeout_s=...) as f:` then `f.view`, `f.resyncs`, `f.watcher`."""

    def __init__(self, client: MarathonClient, **watcher_kw: Any) -> None:
        self.client = client
        self.view = ClusterView()
        self.resyncs = 0
        self.events = 0
        self.reconnects = 0
        self.refreshes = 0
        self.malformed: list[MalformedEvent] = []
        self._refresher: asyncio.Task[None] | None = None
        kw: dict[str, Any] = {"backoff_initial_s": 0.02, "backoff_max_s": 0.2, **watcher_kw}
        self.watcher = EventWatcher(
            client,
            on_event=self._on_event,
            on_resync=self._on_resync,
            on_reconnect=self._on_reconnect,
            on_malformed=self.malformed.append,
            **kw,
        )

    async def __aenter__(self) -> Follower:
        await self.watcher.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.watcher.stop()
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)

    def _on_reconnect(self) -> None:
        self.reconnects += 1

    def _on_resync(self, snapshot: Snapshot) -> None:
        self.view.replace(snapshot)
        self.resyncs += 1

    def _on_event(self, event: MarathonEvent) -> None:
        self.view.apply(event)
        self.events += 1
        if self.view.needs_refresh and (self._refresher is None or self._refresher.done()):
            self._refresher = asyncio.create_task(self._refresh_apps())

    async def _refresh_apps(self) -> None:
        """The engine's targeted refresh: re-read apps an event could not pin down."""
        while app_ids := self.view.take_needs_refresh():
            for app_id in sorted(app_ids):
                self.refreshes += 1
                try:
                    app = await self.client.get_app(app_id)
                except NotFound:
                    self.view.remove_app(app_id)
                    continue
                except MarathonError:
                    continue  # the next resync repairs it (the engine does the same)
                self.view.replace_app(app)

    @property
    def refreshing(self) -> bool:
        return bool(self.view.needs_refresh) or (self._refresher is not None and not self._refresher.done())


class Faults:
    """The embedded Marathon's `/_localmarathon/` extras over HTTP."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def inject(self, **body: Any) -> dict[str, Any]:
        async with self.http.post(self.url + "/_localmarathon/faults", json=body) as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
            return answer

    async def stats(self) -> dict[str, Any]:
        async with self.http.get(self.url + "/_localmarathon/stats") as r:
            assert r.status == 200
            answer: dict[str, Any] = await r.json()
            return answer


def _diff(a: dict[str, Any], b: dict[str, Any], path: str = "") -> list[str]:
    out = []
    for key in sorted(a.keys() | b.keys(), key=str):
        va, vb = a.get(key, "<missing>"), b.get(key, "<missing>")
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{path}/{key}")
        elif va != vb:
            out.append(f"{path}/{key}: followed={va!r} fresh={vb!r}")
    return out


async def converge(
    f: Follower, fresh_client: MarathonClient, timeout_s: float = 15.0, require_no_deployment: bool = True
) -> dict[str, Any]:
    """Wait until Marathon runs no deployment, no targeted refresh is pending, and the followed view
    equals a fresh snapshot's view on two looks in a row (health checks may keep emitting hint
    events such as `failed_health_check_event`, so "no event at all" is not the criterion)."""
    last: list[str] = []
    streak = [0]

    async def equal() -> bool:
        nonlocal last
        if f.refreshing:
            streak[0] = 0
            return False
        snapshot = await fresh_client.snapshot()
        if snapshot.deployments and require_no_deployment:
            last = [f"deployments still running: {[d.id for d in snapshot.deployments]}"]
            return False
        fresh = ClusterView()
        fresh.replace(snapshot)
        last = _diff(f.view.digest(), fresh.digest())
        streak[0] = 0 if last else streak[0] + 1
        return streak[0] >= 2

    try:
        await wait_until(equal, timeout_s, "the followed view to equal a fresh snapshot")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; differences: {last[:12]}") from None
    return f.view.digest()

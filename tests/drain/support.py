"""Test helpers for the drain watcher: an event recorder and a real HTTP endpoint with a chosen body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from reactor.adapters.drain import DrainEvent, DrainEventKind


@dataclass
class Recorder:
    """Collects DrainEvents (the watcher's on_event) and waits for one matching a predicate."""

    events: list[DrainEvent] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: DrainEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, task_id: str, kind: DrainEventKind | None = None) -> list[DrainEvent]:
        return [e for e in self.events if e.task_id == task_id and (kind is None or e.kind is kind)]

    async def wait_for(self, predicate: Callable[[DrainEvent], bool], *, timeout_s: float = 10.0,
                       what: str = "event") -> DrainEvent:
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout_s}s; got {self.events}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_kind(self, task_id: str, kind: DrainEventKind, timeout_s: float = 10.0) -> DrainEvent:
        return await self.wait_for(lambda e: e.task_id == task_id and e.kind is kind,
                                   timeout_s=timeout_s, what=f"{kind} for {task_id}")


@dataclass
class FixedEndpoint:
    """A real aiohttp server answering GET on any path with `body` (and `status`), or an SSE stream."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain"
    port: int = 0
    hits: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.content_type == "text/event-stream":
            resp = web.StreamResponse(headers={"Content-Type": self.content_type})
            await resp.prepare(request)
            await resp.write(self.body)
            await asyncio.Event().wait()  # hold the stream open until the server stops
        return web.Response(body=self.body, status=self.status, content_type=self.content_type)


@asynccontextmanager
async def fixed_endpoint(body: bytes, *, status: int = 200,
                         content_type: str = "text/plain") -> AsyncIterator[FixedEndpoint]:
    endpoint = FixedEndpoint(body, status, content_type)
    app = web.Application()
    app.router.add_get("/{tail:.*}", endpoint.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.01)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    endpoint.port = runner.addresses[0][1]
    try:
        yield endpoint
    finally:
        await runner.cleanup()

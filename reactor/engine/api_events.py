"""`GET /v1/events`: the SSE stream of deploy events, with its resource limits.

Owns one stream per subscriber and the bounds that keep many or slow clients from hurting the
daemon: at most `max_subscribers` streams at once (more get 503 at once, before any resource is
held), a bounded queue per subscriber (the bus drops one that falls `queue_size` events behind)
and a bounded time per write (a client that stops reading is dropped, not waited for). It must
not filter by anything but `?group=` nor change the events.
"""

from __future__ import annotations

import asyncio
import json

import structlog
from aiohttp import web

from reactor.core.deploy_events import DeployEvent
from reactor.engine.bus import EventBus, Subscription

log = structlog.get_logger(__name__)

QUEUE_SIZE = 256  # events a subscriber may fall behind before it is dropped
WRITE_TIMEOUT_S = 10.0  # a client that does not take a write within this is dropped


class StreamLimits:
    """The active streams and their limits (one per API application)."""

    def __init__(self, max_subscribers: int = 32, *, heartbeat_s: float = 15.0,
                 queue_size: int = QUEUE_SIZE, write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self.max_subscribers = max_subscribers
        self.heartbeat_s = heartbeat_s
        self.queue_size = queue_size
        self.write_timeout_s = write_timeout_s
        self.active: set[Subscription] = set()
        self.refused = 0

    def close_all(self) -> None:
        for sub in tuple(self.active):
            sub.close()


def sse_frame(event: DeployEvent) -> bytes:
    data = json.dumps(event.payload(), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.name.value}\ndata: {data}\n\n".encode()


async def serve_events(request: web.Request, bus: EventBus, limits: StreamLimits) -> web.StreamResponse:
    """SSE of deploy events (`?group=` filters); `Last-Event-ID` replays newer buffered events,
    `?recent=N` the last N buffered ones."""
    if len(limits.active) >= limits.max_subscribers:
        limits.refused += 1
        return web.json_response(
            {"error": "too_many_subscribers",
             "message": f"at most {limits.max_subscribers} event streams at once "
                        "([api] max_event_subscribers)"},
            status=503, headers={"Retry-After": "5"})
    group = request.query.get("group") or None
    raw = request.query.get("recent", "")
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 6):  # before the stream starts
        return web.json_response({"error": "bad_request",
                                  "message": f"recent must be a number of events, got {raw[:40]!r}"},
                                 status=400)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    async with bus.subscribe(queue_size=limits.queue_size) as sub:
        limits.active.add(sub)  # counted before the first await, so the limit cannot be overshot
        try:
            await resp.prepare(request)
            await _write(resp, b": connected\n\n", limits)
            for event in _replay(request, bus, group):
                await _write(resp, sse_frame(event), limits)
            await _stream(resp, sub, group, limits)
        except (ConnectionResetError, TimeoutError):
            pass  # the client went away, or stopped reading: dropped
        finally:
            limits.active.discard(sub)
    return resp


def _replay(request: web.Request, bus: EventBus, group: str | None) -> list[DeployEvent]:
    """Buffered events the client asks for: those after `Last-Event-ID` (a reconnect), or the
    last `?recent=N` (a first connection, e.g. the dashboard once its token is pasted)."""
    recent = bus.recent(group=group)
    last_id = request.headers.get("Last-Event-ID")
    if last_id:
        ids = [e.id for e in recent]
        return recent[ids.index(last_id) + 1:] if last_id in ids else []
    raw = request.query.get("recent", "")
    count = int(raw) if raw else 0  # checked by `serve_events`: ASCII digits, at most 6
    return recent[-count:] if count > 0 else []


async def _write(resp: web.StreamResponse, data: bytes, limits: StreamLimits) -> None:
    async with asyncio.timeout(limits.write_timeout_s):
        await resp.write(data)


async def _stream(resp: web.StreamResponse, sub: Subscription, group: str | None,
                  limits: StreamLimits) -> None:
    while True:
        try:
            event = await sub.next(limits.heartbeat_s)
        except StopAsyncIteration:
            return  # dropped as a slow consumer, or the bus closed
        if event is None:
            await _write(resp, b": heartbeat\n\n", limits)
        elif group is None or event.group == group:
            await _write(resp, sse_frame(event), limits)

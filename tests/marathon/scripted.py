"""A small, real HTTP server speaking the parts of Marathon's API these tests script byte for byte.

Used where the embedded Marathon cannot produce the input on purpose (garbled stream bytes,
canned error bodies, a connection closed after a POST was applied). It is a real aiohttp server
on 127.0.0.1, not a mock: the client and watcher talk HTTP to it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Script:
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    canned: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)  # "METHOD path" -> response
    drop_after_apply: set[str] = field(default_factory=set)  # "METHOD path": apply, then cut the connection
    stream_chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    stream_status: int = 200
    redirect_to: str | None = None
    requests: list[str] = field(default_factory=list)
    stream_headers: list[dict[str, str]] = field(default_factory=list)
    stream_queries: list[str] = field(default_factory=list)


class ScriptedMarathon:
    def __init__(self) -> None:
        self.script = Script()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._queues: list[asyncio.Queue[bytes | None]] = []

    async def __aenter__(self) -> ScriptedMarathon:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for q in [self.script.stream_chunks, *self._queues]:
            q.put_nowait(None)
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        s = self.script
        key = f"{request.method} {request.path}"
        s.requests.append(key)
        if key in s.canned:
            status, body, ctype = s.canned[key]
            return web.Response(status=status, body=body, content_type=ctype)
        if request.path == "/v2/events":
            return await self._events(request)
        if key == "GET /v2/apps":
            return web.json_response({"apps": list(s.apps.values())})
        if key == "GET /v2/deployments":
            return web.json_response(s.deployments)
        if key == "GET /v2/leader":
            return web.json_response({"leader": request.host})
        if key == "POST /v2/apps":
            body = await request.json()
            s.apps[body["id"]] = {**body, "tasks": []}
            return self._maybe_drop(request, key, web.json_response(body, status=201))
        if key == "POST /v2/tasks/delete":
            ids = set((await request.json())["ids"])
            for app in s.apps.values():
                app["tasks"] = [t for t in app.get("tasks", []) if t["id"] not in ids]
            return self._maybe_drop(
                request, key, web.json_response({"deploymentId": "d-kill", "version": "v"})
            )
        if request.method == "GET" and request.path.startswith("/v2/apps/"):
            app_id = request.path[len("/v2/apps") :]
            if app_id in s.apps:
                return web.json_response({"app": s.apps[app_id]})
            return web.json_response({"message": f"App '{app_id}' does not exist"}, status=404)
        return web.json_response({"message": "URI not found"}, status=500)

    def _maybe_drop(self, request: web.Request, key: str, resp: web.StreamResponse) -> web.StreamResponse:
        if key in self.script.drop_after_apply:
            self.script.drop_after_apply.discard(key)
            assert request.transport is not None
            request.transport.close()
        return resp

    async def _events(self, request: web.Request) -> web.StreamResponse:
        s = self.script
        s.stream_headers.append(dict(request.headers))
        s.stream_queries.append(request.query_string)
        if s.redirect_to is not None:
            raise web.HTTPFound(s.redirect_to + "/v2/events?" + request.query_string)
        if request.headers.get("Accept") != "text/event-stream":
            return web.Response(status=405, text="HTTP method GET is not supported by this URL")
        if s.stream_status != 200:
            return web.Response(status=s.stream_status, text="<html><title>Error 502</title></html>")
        queue = s.stream_chunks  # chunks queued before this connection belong to it
        s.stream_chunks = asyncio.Queue()
        self._queues.append(queue)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream;charset=utf-8"})
        await resp.prepare(request)
        while True:
            chunk = await queue.get()
            if chunk is None:
                break
            await resp.write(chunk)
        return resp


def frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['eventType']}\r\ndata: {json.dumps(event)}\r\n\r\n".encode()

"""A recording HTTP proxy in front of the embedded Marathon, for crash tests.

Forwards every request (event streams included) to the real server and records each write with
its JSON body; `on_write(n, when)` is called before forwarding the n-th write (`when="before"`)
and after Marathon answered it (`when="after"`) — a crash test kills the reactor right there.
If the callback returns True for "before", the write is not forwarded (the reactor is dead).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

_PASS_REQ = ("Accept", "Content-Type", "Authorization", "Last-Event-ID")
_PASS_RESP = ("Content-Type", "X-Marathon-Leader", "Location")


@dataclass
class Write:
    n: int
    method: str
    path: str
    body: Any


@dataclass
class RecordingProxy:
    upstream: str
    on_write: Callable[[int, str], bool] | None = None
    # answer `GET /v2/events` with a 307 to the upstream (as a Marathon standby redirects to the
    # leader): the reactor then reads events straight from Marathon, not relayed by this process
    redirect_events: bool = False
    writes: list[Write] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RecordingProxy:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    def kill_ids(self) -> list[str]:
        return [tid for w in self.writes if w.path == "/v2/tasks/delete" for tid in w.body["ids"]]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        raw = await request.read()
        if self.redirect_events and request.method == "GET" and request.path == "/v2/events":
            raise web.HTTPTemporaryRedirect(self.upstream + request.path_qs)
        n = 0
        if request.method != "GET":
            n = len(self.writes) + 1
            with contextlib.suppress(ValueError):
                body = json.loads(raw) if raw else None
            self.writes.append(Write(n, request.method, request.path, body if raw else None))
            if self.on_write is not None and self.on_write(n, "before"):
                self.writes.pop()  # never reached Marathon
                return web.json_response({"message": "proxy: reactor killed before this write"}, status=503)
        headers = {k: v for k, v in request.headers.items() if k in _PASS_REQ}
        async with self._session.request(request.method, self.upstream + request.path_qs, data=raw or None,
                                         headers=headers, allow_redirects=False) as up:
            out = {k: v for k, v in up.headers.items() if k in _PASS_RESP}
            if up.content_type == "text/event-stream":
                resp = web.StreamResponse(status=up.status, headers=out)
                await resp.prepare(request)
                with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                    async for chunk in up.content.iter_any():
                        await resp.write(chunk)
                return resp
            data = await up.read()
        if n and self.on_write is not None:
            self.on_write(n, "after")
        return web.Response(status=up.status, body=data, headers=out)

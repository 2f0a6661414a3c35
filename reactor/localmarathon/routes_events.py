"""`GET /v2/events`: the SSE stream exactly as Jetty's EventSourceServlet writes it (reference §1).

Owns: the exact-Accept rule (405 Jetty page otherwise), the response head (200,
`text/event-stream;charset=utf-8`, `Connection: close`, no chunked encoding: the body is delimited
by the connection's close), CRLF frames, the bare `\\r\\n` heartbeat, `event_type` filtering at
write time, and cutting the connection when the bus closes the subscriber (slow consumer, faults).
Must not: build events (the bus gives ready frames).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from reactor.localmarathon.routes_apps import st

_HTML_405 = (
    '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n'
    "<title>Error 405 </title>\n</head>\n<body>\n<h2>HTTP ERROR: 405</h2>\n"
    "<p>Problem accessing {path}. Reason:\n<pre>    HTTP method GET is not supported by this URL</pre></p>\n"
    '<hr /><a href="http://eclipse.org/jetty">Powered by Jetty:// 9.4.8.v20171121</a><hr/>\n'
    "</body>\n</html>\n"
)
SSE_HEADERS = {
    "Content-Type": "text/event-stream;charset=utf-8",
    "Connection": "close",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Expires": "0",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
}


_PEER_POLL_S = 0.25  # how often an idle stream checks whether its client closed the connection


class _UndelimitedResponse(web.StreamResponse):
    """A streamed body with neither Content-Length nor chunking: it ends when the connection closes."""

    _length_check = False


async def event_stream(request: web.Request) -> web.StreamResponse:
    if "text/event-stream" not in request.headers.getall("Accept", []):
        return web.Response(
            status=405,
            text=_HTML_405.format(path=request.path),
            content_type="text/html",
            charset="ISO-8859-1",
        )
    s = st(request)
    resp = _UndelimitedResponse(status=200, headers=SSE_HEADERS)
    resp.force_close()
    await resp.prepare(request)
    if s.faults.electing():  # elected but not ready: head sent, stream closed at once (§1.5)
        await resp.write_eof()
        return resp
    sub = s.bus.attach(request.remote or "", frozenset(request.query.getall("event_type", [])))
    transport = request.transport
    writing = False

    def cut() -> None:  # the bus closed us while a write may be blocked on a slow reader
        if writing and transport is not None:
            transport.abort()

    sub.on_close = cut
    loop = asyncio.get_running_loop()
    next_heartbeat = loop.time() + s.heartbeat_s
    try:
        while True:
            if sub.queue:
                frames = []
                while sub.queue:
                    event_type, frame = sub.queue.popleft()
                    if sub.wants(event_type):
                        frames.append(frame)
                if frames:
                    writing = True
                    await resp.write(b"".join(frames))
                    writing = False
                continue
            if sub.closed:
                break
            sub.wakeup.clear()
            try:
                await asyncio.wait_for(sub.wakeup.wait(), min(_PEER_POLL_S, s.heartbeat_s))
            except TimeoutError:
                if transport is None or transport.is_closing():
                    break  # the client went away
                if loop.time() >= next_heartbeat:
                    writing = True
                    await resp.write(b"\r\n")
                    writing = False
            if loop.time() >= next_heartbeat:
                next_heartbeat = loop.time() + s.heartbeat_s
    except (ConnectionError, RuntimeError, asyncio.CancelledError):
        pass
    finally:
        s.bus.detach(sub)
        if sub.closed and transport is not None and not transport.is_closing():
            with contextlib.suppress(Exception):
                await resp.write_eof()
            transport.close()
    return resp

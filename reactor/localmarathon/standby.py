"""The standby instance: what a non-leader Marathon does with requests (reference §1.5, §4.6).

Owns: `302` for `/v2/events` to the leader with the same path and query; transparent proxying of
every other call to the leader with `X-Marathon-Via: 1.1 <standby>` on request and response and
`X-Forwarded-For`; loop detection (502 "Detected proxying loop."), 502 "Connection to leader
refused." when the leader cannot be reached. Basic auth is checked here first, like Jetty's.
Must not: serve Marathon state itself.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from reactor.localmarathon.web import CREDENTIALS_KEY, LEADER_KEY, marathon_middleware, strip_prefix

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "upgrade",
    "proxy-connection",
    "te",
    "trailer",
}
SELF_KEY: web.AppKey[str] = web.AppKey("localmarathon_standby_self", str)
SESSION_KEY: web.AppKey[aiohttp.ClientSession] = web.AppKey(
    "localmarathon_standby_session", aiohttp.ClientSession
)


def _jetty_error(status: int, message: str, path: str) -> web.Response:
    html = (
        f"<html>\n<head>\n<title>Error {status} {message}</title>\n</head>\n"
        f"<body><h2>HTTP ERROR {status}</h2>\n"
        f"<p>Problem accessing {path}. Reason:\n<pre>    {message}</pre></p>\n</body>\n</html>\n"
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="ISO-8859-1")


async def standby_handler(request: web.Request) -> web.StreamResponse:
    leader_url = request.app[LEADER_KEY]
    if strip_prefix(request.path) == "/v2/events":
        raise web.HTTPFound(leader_url + request.path_qs)
    me = request.app[SELF_KEY]
    via = f"1.1 {me}"
    if via in request.headers.getall("X-Marathon-Via", []):
        return _jetty_error(502, "Detected proxying loop.", request.path)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    headers["X-Marathon-Via"] = via
    headers["X-Forwarded-For"] = request.remote or ""
    session = request.app[SESSION_KEY]
    try:
        async with session.request(
            request.method,
            leader_url + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(connect=5, sock_read=10),
        ) as upstream:
            body = await upstream.read()
            out = web.Response(status=upstream.status, body=body)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    out.headers.add(key, value)
            out.headers["X-Marathon-Via"] = via
            return out
    except (aiohttp.ClientConnectionError, TimeoutError):
        return _jetty_error(502, "Connection to leader refused.", request.path)


def build_standby_app(leader_url: str, credentials: str) -> web.Application:
    app = web.Application(middlewares=[marathon_middleware])
    app[LEADER_KEY] = leader_url
    app[CREDENTIALS_KEY] = credentials
    app.router.add_route("*", "/{tail:.*}", standby_handler)

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION_KEY] = aiohttp.ClientSession(auto_decompress=False)
        yield
        await app[SESSION_KEY].close()

    app.cleanup_ctx.append(session_ctx)
    return app

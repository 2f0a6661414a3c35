"""HTTP plumbing shared by the leader and the standby: JSON answers, middlewares, route prefixes.

Owns: basic auth (401 with `WWW-Authenticate: Basic realm="Mesosphere"`, Jetty-style HTML, before
anything else), injected failures, request statistics by route template, ApiError → JSON, the
500 "URI not found" for unmatched routes, `X-Marathon-Leader` on every response, and mounting each
route under `/`, `/marathon` and `/service/marathon` (DC/OS). Must not: implement Marathon logic.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from reactor.localmarathon import errors
from reactor.localmarathon.faults import NO_LEADER, Faults
from reactor.localmarathon.timeline import WRITE_METHODS

PREFIXES = ("", "/marathon", "/service/marathon")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATE_KEY: web.AppKey[Any] = web.AppKey("localmarathon_state", object)
FAULTS_KEY: web.AppKey[Faults] = web.AppKey("localmarathon_faults", Faults)
LEADER_KEY: web.AppKey[str] = web.AppKey("localmarathon_leader_url", str)
CREDENTIALS_KEY: web.AppKey[str] = web.AppKey("localmarathon_credentials", str)

_UNAUTHORIZED_HTML = (
    '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n'
    "<title>Error 401 Unauthorized</title>\n</head>\n<body><h2>HTTP ERROR 401</h2>\n"
    "<p>Problem accessing {path}. Reason:\n<pre>    Unauthorized</pre></p>\n</body>\n</html>\n"
)


def jetty_error(status: int, message: str, path: str) -> web.Response:
    """A Jetty `sendError` page (the leader proxy filter's answers are HTML, not JSON)."""
    html = (
        f"<html>\n<head>\n<title>Error {status} {message}</title>\n</head>\n"
        f"<body><h2>HTTP ERROR {status}</h2>\n"
        f"<p>Problem accessing {path}. Reason:\n<pre>    {message}</pre></p>\n</body>\n</html>\n"
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="ISO-8859-1")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json", headers=headers)


def strip_prefix(path: str) -> str:
    for prefix in ("/service/marathon", "/marathon"):
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def route_template(request: web.Request) -> str | None:
    info = request.match_info
    if info.http_exception is not None:
        return None
    resource = info.route.resource
    return strip_prefix(resource.canonical) if resource is not None else None


def add_routes(app: web.Application, routes: list[tuple[str, str, Handler]]) -> None:
    for prefix in PREFIXES:
        for method, path, handler in routes:
            app.router.add_route(method, prefix + path, handler)


def _authorized(request: web.Request, credentials: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        given = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return given == credentials


@web.middleware
async def marathon_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    credentials = app.get(CREDENTIALS_KEY, "")
    if credentials and not _authorized(request, credentials):
        return web.Response(
            status=401,
            text=_UNAUTHORIZED_HTML.format(path=request.path),
            content_type="text/html",
            charset="ISO-8859-1",
            headers={"WWW-Authenticate": 'Basic realm="Mesosphere"'},
        )
    path = strip_prefix(request.path)
    faults = app.get(FAULTS_KEY)
    template = route_template(request)
    internal = path.startswith("/_localmarathon/")
    state = app.get(STATE_KEY)
    if state is not None and state.timeline.recording and not internal and request.method in WRITE_METHODS:
        arrived = time.time()
        state.timeline.on_write(arrived, request.method, path, await request.read())
    if faults is not None and template is not None and not internal:
        faults.requests[f"{request.method} {template}"] += 1
    if faults is not None and not internal and faults.electing():
        if path != "/v2/events" or faults.leader_unknown():
            return jetty_error(502, NO_LEADER, request.path)
    if faults is not None and not internal:
        status = faults.take_failure(path)
        if status is not None:
            return json_response({"message": f"Injected failure (HTTP {status}) by localmarathon"}, status)
    if template is None:
        exc = request.match_info.http_exception
        if isinstance(exc, web.HTTPMethodNotAllowed):
            return json_response({"message": "HTTP 405 Method Not Allowed"}, 405)
        return json_response(errors.uri_not_found().body, 500)
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return json_response(exc.body, exc.status)


async def add_leader_header(request: web.Request, response: web.StreamResponse) -> None:
    leader = request.app.get(LEADER_KEY)
    if leader and "X-Marathon-Leader" not in response.headers:
        response.headers["X-Marathon-Leader"] = leader

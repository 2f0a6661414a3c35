"""The dashboard at `/ui`: static HTML/JS/CSS shipped in `ui_static/`, served by the daemon's API.

Owns only serving those files (no templating, no build step, nothing fetched from elsewhere: the
machines have no internet). The page itself reads `/v1/deployments` and `/v1/events` and posts
control commands with the API token the operator pastes once (kept in the tab's sessionStorage).
It must not read engine state: everything it shows comes through the public API.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}


def _asset(name: str) -> bytes:
    return resources.files("reactor.engine").joinpath("ui_static", name).read_bytes()


async def _index(request: web.Request) -> web.Response:
    return _serve("index.html")


async def _file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return _serve(name)


def _serve(name: str) -> web.Response:
    return web.Response(body=_asset(name), content_type=FILES[name], charset="utf-8",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'self'; connect-src 'self'"})


async def _scope(request: web.Request) -> web.Response:
    """Which groups this process acts for: "all" (the daemon) or the one group of an in-process
    `bluegreen deploy` (which serves the API too). The page shows it; `deploy` hands a deployment
    over only to a process that acts for its group."""
    only = _engine_groups(request.app)
    return web.json_response({"scope": "all" if only is None else sorted(only)})


def _engine_groups(app: web.Application) -> set[str] | None:
    from reactor.engine.api import CONTROL  # (api.py imports this module to register the routes)

    engine = getattr(app[CONTROL], "engine", None)
    return getattr(engine, "only_groups", None)


def add_ui_routes(app: web.Application) -> None:
    """GET /ui (the page), /ui/{file} (its script and style), /ui/scope.json."""
    app.router.add_get("/ui", _index)
    app.router.add_get("/ui/", _index)
    app.router.add_get("/ui/scope.json", _scope)
    app.router.add_get("/ui/{name}", _file)

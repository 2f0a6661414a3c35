"""The daemon's HTTP API (aiohttp): health, readiness, metrics, deployments, control, event stream.

Owns the routes of interface.md and their JSON shapes; talks to the engine only through the
`Control` protocol, the `EventBus` and `Metrics`. It must not plan or act: a control POST records
an operator intent through `Control.command`, the engine does the rest.

Auth: every POST needs `Authorization: Bearer <token>` (compared in constant time). With no
token configured, POSTs are refused (403) whatever the listen address: on Mesos agents with host
networking, loopback is shared by every task on the host, so "loopback only" is no protection.
With a token configured every `/v1/*` request needs it, GETs included (deployments, history and
the event stream say what runs where); `/healthz`, `/readyz` and `/metrics` stay open for probes
and scrapers. A non-loopback `listen` without a token is refused by the settings. Optional TLS
(`tls_cert_file`/`tls_key_file`). The event stream's limits live in `api_events`.
Errors are JSON `{"error": "<code>", "message": "<sentence>"}`.
"""

from __future__ import annotations

import hmac
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from aiohttp import web

from reactor.core import listen as listen_address
from reactor.core.intent import Command
from reactor.engine.api_events import StreamLimits, serve_events
from reactor.engine.bus import EventBus
from reactor.engine.metrics import CONTENT_TYPE, Metrics
from reactor.engine.ui import add_ui_routes

if TYPE_CHECKING:
    from reactor.settings import ApiSettings

log = structlog.get_logger(__name__)

MAX_HISTORY_LIMIT = 1000
#: names the contract gives a command besides its own (`bluegreen pause` is the engine's abort)
COMMAND_ALIASES = {"pause": Command.ABORT}


class UnknownGroup(LookupError):
    """No deployment (and no app) for this group."""

    def __init__(self, group: str) -> None:
        super().__init__(f"no deployment for group {group!r}")
        self.group = group


class CommandRejected(ValueError):
    """The command is not valid in the group's current phase; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Control(Protocol):
    """What the API needs from the engine."""

    def is_ready(self) -> bool: ...

    def not_ready_reason(self) -> str | None: ...

    def replica(self) -> dict[str, Any]:
        """{"id", "coordination", "acting_for": [groups], "store_ok"}."""
        ...

    async def deployments(self) -> list[dict[str, Any]]:
        """Status rows: group, phase, blue_app, green_app, counts, blockers, since."""
        ...

    async def deployment(self, group: str) -> dict[str, Any] | None: ...

    async def history(self, group: str | None, limit: int) -> list[dict[str, Any]]: ...

    async def command(self, group: str, command: str, *, source: str) -> dict[str, Any]:
        """Record an operator command; raises UnknownGroup or CommandRejected."""
        ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTROL: web.AppKey[Control] = web.AppKey("control", Control)  # type: ignore[type-abstract]
BUS: web.AppKey[EventBus] = web.AppKey("bus", EventBus)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
TOKEN: web.AppKey[str | None] = web.AppKey("token", str)  # type: ignore[arg-type]
STREAMS: web.AppKey[StreamLimits] = web.AppKey("streams", StreamLimits)
OWN_NAMES: web.AppKey[frozenset[str]] = web.AppKey("own_names", frozenset)  # type: ignore[arg-type]


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /v1/* request carries the token when one is set (POSTs always: see `command`)."""
    if request.path.startswith("/v1/") and request.app[TOKEN] and request.method != "POST":
        denied = _authorized(request)
        if denied is not None:
            return denied
    return await handler(request)


@web.middleware
async def _local_names_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Without a token the API listens on loopback only, and answers only a `Host` that names
    this machine without DNS: a page that re-points its own domain at 127.0.0.1 (DNS rebinding)
    cannot read deployments, metrics or the dashboard through an operator's browser."""
    if request.app[TOKEN] or listen_address.host_header_is_local(request.host, request.app[OWN_NAMES]):
        return await handler(request)
    return error(403, "host_not_allowed", f"Host {request.host[:80]!r} is not this machine's name or "
                 "address: without [api] token the API answers 127.0.0.1, localhost or its hostname only")


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error(exc.status, code, f"{request.method} {request.path}: {exc.reason}")
    except Exception:
        log.exception("api.internal_error", method=request.method, path=request.path)
        return error(500, "internal_error", "the reactor failed to answer; see its log")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    reason = request.app[CONTROL].not_ready_reason()
    body: dict[str, Any] = {"ready": reason is None} | ({"reason": reason} if reason else {})
    return web.json_response(body, status=200 if reason is None else 503)


async def replica(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONTROL].replica())


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


async def deployments(request: web.Request) -> web.Response:
    return web.json_response({"deployments": await request.app[CONTROL].deployments()})


async def deployment(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    row = await request.app[CONTROL].deployment(group)
    if row is None:
        return error(404, "unknown_group", f"no deployment for group {group!r}")
    return web.json_response(row)


async def history(request: web.Request) -> web.Response:
    group = request.query.get("group") or None
    raw = request.query.get("limit", "50")
    try:
        limit = int(raw)
        if not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise ValueError
    except ValueError:
        return error(400, "bad_request", f"limit must be an integer from 1 to {MAX_HISTORY_LIMIT}, "
                     f"not {raw!r}")
    return web.json_response({"history": await request.app[CONTROL].history(group, limit)})


def _authorized(request: web.Request) -> web.Response | None:
    """None when the bearer token matches; else the 401/403 answer."""
    token = request.app[TOKEN]
    if not token:
        return error(403, "no_token_configured", "control commands are disabled: set [api] token "
                     "or token_file (or BLUEGREEN_API__TOKEN) in the reactor's configuration")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return error(401, "unauthorized", "missing or wrong 'Authorization: Bearer <token>' header")
    return None


async def command(request: web.Request) -> web.Response:
    denied = _authorized(request)
    if denied is not None:
        return denied
    group, asked = request.match_info["group"], request.match_info["command"]
    cmd = COMMAND_ALIASES.get(asked) or Command(asked)
    peer = request.remote or "unknown"
    try:
        result = await request.app[CONTROL].command(group, cmd.value, source=f"api:{peer}")
    except UnknownGroup:
        return error(404, "unknown_group", f"no deployment for group {group!r}")
    except CommandRejected as exc:
        return error(409, "rejected", f"cannot {cmd.value} {group!r}: {exc.reason}")
    log.info("api.command", group=group, command=cmd.value, source=peer)
    return web.json_response({"group": group, "command": cmd.value, "accepted": True, **result},
                             status=202)


async def events(request: web.Request) -> web.StreamResponse:
    return await serve_events(request, request.app[BUS], request.app[STREAMS])


def build_api(control: Control, bus: EventBus, metrics_: Metrics, *, token: str | None,
              heartbeat_s: float = 15.0, max_event_subscribers: int = 32) -> web.Application:
    app = web.Application(middlewares=[_json_errors, _local_names_only, _auth])
    app[CONTROL], app[BUS], app[METRICS], app[TOKEN] = control, bus, metrics_, token
    app[OWN_NAMES] = frozenset({socket.gethostname().lower()})
    app[STREAMS] = StreamLimits(max_event_subscribers, heartbeat_s=heartbeat_s)
    app.on_shutdown.append(_end_streams)
    commands = "|".join([*(c.value for c in Command), *COMMAND_ALIASES])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/deployments", deployments)
    app.router.add_post(f"/v1/deployments/{{group:.+}}/{{command:{commands}}}", command)
    app.router.add_get("/v1/deployments/{group:.+}", deployment)
    app.router.add_get("/v1/history", history)
    app.router.add_get("/v1/events", events)
    app.router.add_get("/v1/replica", replica)
    add_ui_routes(app)  # the dashboard at /ui (reactor/engine/ui.py)
    return app


async def _end_streams(app: web.Application) -> None:
    """End every /v1/events response, so that shutdown does not wait for streaming clients."""
    app[STREAMS].close_all()


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (all interfaces); raises ValueError naming the value."""
    try:
        return listen_address.parse_listen(listen)
    except ValueError as exc:
        raise ValueError(f"[api] {exc}") from None


def tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context (TLS 1.2+); raises OSError/ssl.SSLError naming the files."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise OSError(f"[api] cannot load TLS certificate {cert_file} / key {key_file}: {exc}") from None
    return ctx


def api_server(control: Control, bus: EventBus, metrics_: Metrics, api: ApiSettings, *,
               token: str | None) -> ApiServer:
    """The daemon's API as configured in `[api]` (limits, TLS); the engine serves it."""
    app = build_api(control, bus, metrics_, token=token,
                    max_event_subscribers=api.max_event_subscribers)
    ctx = tls_context(api.tls_cert_file, api.tls_key_file) if api.tls_cert_file and api.tls_key_file \
        else None
    return ApiServer(app, listen=api.listen, ssl_context=ctx)


class ApiServer:
    """Serves an API application on `listen` (port 0 picks a free port: see `.port`)."""

    def __init__(self, app: web.Application, listen: str = "127.0.0.1:9090", *,
                 shutdown_timeout_s: float = 2.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.host, self._port = parse_listen(listen)
        self._runner: web.AppRunner | None = None
        self.shutdown_timeout_s = shutdown_timeout_s
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl_context else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=self.shutdown_timeout_s)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self._port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self._runner = None
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self._port}: {exc.strerror}") from exc
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

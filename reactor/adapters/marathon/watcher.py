"""EventWatcher: keeps a consumer in step with Marathon through `/v2/events` plus REST resyncs.

Owns the stream connection (aiohttp-sse-client 0.2.1, wrapped): its own session without a total
timeout, idle detection through the socket read timeout (no byte, not even the `\\r\\n` heartbeat,
for `idle_timeout_s` → reconnect), manual 302 handling with auth re-attached, and a reconnect
loop with capped, jittered backoff reset after a healthy period. After every (re)connect it
resyncs over REST once the stream is live and delivers `on_resync(snapshot)` before any event
received meanwhile, then events in order. It never crashes on a bad payload: `on_malformed`.
A resync that fails, whether the REST snapshot or the `on_resync` callback raising, drops the
stream and reconnects: a stream that is connected but never synced would be deaf. `live` says
whether events are being delivered right now (for /readyz); `stream_state` says why not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from types import SimpleNamespace, TracebackType
from typing import Any

import aiohttp
import structlog
from aiohttp_sse_client import client as sse  # type: ignore[import-untyped]
from yarl import URL

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.transport import Backoff
from reactor.core.events import MalformedEvent, MarathonEvent, parse_event
from reactor.core.models import Snapshot

log = structlog.get_logger(__name__)
READ_BUFSIZE = 8 * 1024 * 1024  # deployment events can exceed aiohttp's 64 KiB default line limit
_MAX_REDIRECTS = 3
_LIVE_MARKER = "event_stream_attached"


class _StreamEnded(Exception):
    """Clean EOF: the library would reconnect silently (and skip our resync), so we stop it here."""


class _Redirected(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class EventWatcher:
    def __init__(
        self,
        client: MarathonClient,
        *,
        on_event: Callable[[MarathonEvent], None],
        on_resync: Callable[[Snapshot], None],
        event_types: Sequence[str] | None = None,
        idle_timeout_s: float = 30.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 30.0,
        healthy_reset_s: float = 60.0,
        on_reconnect: Callable[[], None] | None = None,
        on_malformed: Callable[[MalformedEvent], None] | None = None,
    ) -> None:
        self._client = client
        self._on_event = on_event
        self._on_resync = on_resync
        types = list(dict.fromkeys(event_types)) if event_types else []
        if types and _LIVE_MARKER not in types:
            types.append(_LIVE_MARKER)  # the "stream is live" marker must never be filtered out
        self._event_types = types
        self._idle_timeout_s = idle_timeout_s
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._healthy_reset_s = healthy_reset_s
        self._on_reconnect = on_reconnect
        self._on_malformed = on_malformed
        self._task: asyncio.Task[None] | None = None
        self._last_redirect: str | None = None
        self.connects = 0  # streams that went live (for tests and metrics)
        self.resync_failures = 0  # resyncs (snapshot or on_resync) that failed: each reconnects
        self.last_error: str | None = None
        self._attached = False  # the current attempt reached the stream (its resync began)
        self._stream_state = "disconnected"
        self._last_status: int = 0  # the last connect's HTTP status (401 = log in again)

    # ---- state for /readyz -------------------------------------------------------------------------
    @property
    def stream_state(self) -> str:
        """'disconnected' (connecting or backing off), 'resyncing' (stream up, base not yet
        delivered: events are buffered) or 'live' (resynced, every event delivered)."""
        return self._stream_state

    @property
    def live(self) -> bool:
        """True only while a resynced stream delivers events (never connected-but-deaf)."""
        return self._stream_state == "live"

    # ---- lifecycle -----------------------------------------------------------------------------------
    async def __aenter__(self) -> EventWatcher:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.watch_marathon(), name="watch_marathon")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- the loop -----------------------------------------------------------------------------------
    async def watch_marathon(self) -> None:
        """Run forever (until cancelled): connect, resync, deliver; on any failure back off and redo."""
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._remember_redirect)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=self._idle_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, trace_configs=[trace]) as session:
            first = True
            while True:
                if not first:
                    await asyncio.sleep(self._backoff.next_s())
                    if self._on_reconnect is not None:
                        self._on_reconnect()
                first = False
                loop = asyncio.get_running_loop()
                started = loop.time()
                self._attached = False
                try:
                    await self._stream_from_any(session)
                    reason = "stream ended"
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any failure means: reconnect and resync
                    reason = f"{type(exc).__name__}: {exc}"
                finally:
                    self._stream_state = "disconnected"
                self.last_error = reason
                if loop.time() - started >= self._healthy_reset_s:
                    self._backoff.reset()
                if self._attached:
                    log.info("marathon event stream lost; reconnecting", reason=reason)
                else:  # never attached this time: Marathon unreachable, refusing, or no leader
                    log.warning("cannot attach to marathon's event stream; retrying", reason=reason)

    async def _stream_from_any(self, session: aiohttp.ClientSession) -> None:
        errors = []
        for url in self._client.event_stream_urls(self._event_types):
            try:
                return await self._stream(session, url)
            except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
                errors.append(f"{url}: {exc}")
        raise ConnectionError("no Marathon URL accepted the event stream: " + "; ".join(errors))

    async def _stream(self, session: aiohttp.ClientSession, url: str) -> None:
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                return await self._consume(session, url)
            except _Redirected as redirect:
                url = str(URL(url).join(URL(redirect.location)))
                log.info("marathon event stream redirected to the leader", location=url)
        raise ConnectionError(f"more than {_MAX_REDIRECTS} redirects for the event stream")

    async def _remember_redirect(self, _s: Any, _ctx: SimpleNamespace, params: Any) -> None:
        resp = params.response
        self._last_status = resp.status
        self._last_redirect = resp.headers.get("Location") if 300 <= resp.status < 400 else None

    async def _consume(self, session: aiohttp.ClientSession, url: str) -> None:
        self._last_redirect = None
        await self._client.transport.ensure_auth()  # DC/OS: log in / refresh before connecting
        source: Any = None
        source = sse.EventSource(
            url,
            session=session,
            max_connect_retry=0,
            headers=self._client.transport.auth_headers(),  # re-attached on every hop (302)
            read_bufsize=READ_BUFSIZE,
            allow_redirects=False,
            ssl=self._client.transport.ssl,
            on_error=lambda: self._on_source_error(source),
        )
        try:
            await source.connect()
        except ConnectionAbortedError:
            if self._last_redirect:
                raise _Redirected(self._last_redirect) from None
            raise
        except ConnectionRefusedError:  # the library's answer to a 401
            if self._last_status == 401:  # expired or revoked: the next connect logs in again
                transport = self._client.transport
                transport.auth_rejected(transport.auth_headers().get("Authorization"))
            raise
        try:
            await self._deliver(source)
        finally:
            await source.close()

    def _on_source_error(self, source: Any) -> None:
        if source.ready_state == sse.READY_STATE_CONNECTING:
            raise _StreamEnded("event stream closed by the server")

    async def _deliver(self, source: Any) -> None:
        buffered: list[MarathonEvent] = []  # events received while the resync is in flight
        resync: asyncio.Task[None] | None = None
        state = SimpleNamespace(synced=False, error=None)
        reader = asyncio.current_task()
        assert reader is not None
        try:
            while True:
                try:
                    message = await source.__anext__()
                except _StreamEnded:
                    return
                except asyncio.CancelledError:
                    # Our own resync's cancel becomes a reconnect, but only if no one else (stop())
                    # cancelled us too: uncancel() says how many requests are left.
                    if state.error is None or reader.uncancel() > 0:
                        raise
                    raise ConnectionError(f"resync after connect failed: {state.error}") from None
                except UnicodeDecodeError as exc:
                    self._malformed(MalformedEvent(f"not UTF-8: {exc.reason}", repr(exc.object[:80])))
                    continue
                if resync is None:
                    self.connects += 1
                    self._stream_state = "resyncing"
                    self._attached = True
                    resync = asyncio.create_task(self._resync_then_flush(buffered, state, reader),
                                                 name="marathon_resync")
                try:
                    event = parse_event(message.data)
                except MalformedEvent as bad:
                    self._malformed(bad)
                    continue
                (self._on_event if state.synced else buffered.append)(event)
        finally:
            if resync is not None and not resync.done():
                resync.cancel()
                await asyncio.wait([resync])  # a cancel of this task while waiting still propagates

    async def _resync_then_flush(self, buffered: list[MarathonEvent], state: SimpleNamespace,
                                 reader: asyncio.Task[Any]) -> None:
        """Resync, then deliver what was buffered meanwhile; any failure cancels the reader (the
        stream is useless without a base: it is dropped and reconnected)."""
        try:
            snapshot = await self._client.snapshot()
            self._on_resync(snapshot)
            for event in buffered:
                self._on_event(event)
        except Exception as exc:
            self.resync_failures += 1
            log.warning("marathon resync failed; reconnecting", error=f"{type(exc).__name__}: {exc}")
            state.error = exc
            reader.cancel()
            return
        buffered.clear()
        state.synced = True
        self._stream_state = "live"

    def _malformed(self, bad: MalformedEvent) -> None:
        log.warning("malformed marathon event skipped", reason=bad.reason, excerpt=bad.raw_excerpt)
        if self._on_malformed is not None:
            self._on_malformed(bad)

"""DrainWatcher: watches the pending-operations metric of the BLUE tasks being drained.

Owns one asyncio task per watched task (polling, or one SSE subscription) over one shared
aiohttp session, and turns what it reads into DrainEvents and DrainObservations. It never
decides anything: a timeout, a gone task or an LB still busy are for the engine's planner.
Invariant: a task is reported drained only after a successful read of 0; every failure to
read makes it unknown (pending None, drained False). The `none` source reads nothing: its task
is drained when `watch()` returns, with no event (the caller that asked sees it in
`observations()` at once and need not wait for an event loop turn).
Bounds (the app's endpoint is not trusted): a metrics body is read in chunks up to
`MAX_BODY_BYTES` whatever its Content-Length says (a chunked body has none), SSE lines and
events are bounded by `sse`, and a stream silent for `stream_idle_timeout_s` is reconnected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp
import structlog

from reactor.adapters.drain.models import (
    DrainEvent,
    DrainEventKind,
    DrainObservation,
    DrainSource,
    DrainSpec,
)
from reactor.adapters.drain.payloads import MetricUnreadable, count_from_json, count_from_prometheus
from reactor.adapters.drain.sse import EventTooLarge, iter_sse_data

log = structlog.get_logger(__name__)

STREAM_BACKOFF_MIN_S = 0.1
STREAM_BACKOFF_MAX_S = 5.0
MAX_BODY_BYTES = 4 * 1024 * 1024


class _Idle(Exception):
    """The stream sent nothing for its idle timeout: reconnect at once (not a failure to read)."""


class _Refused(Exception):
    """The endpoint's port refused the connection (nothing listens: the process may be gone)."""


@dataclass(eq=False)
class _Watch:
    task_id: str
    spec: DrainSpec
    started: float
    last_change: float
    pending: int | None = None
    drained: bool = False
    gone: bool = False
    timed_out: bool = False
    polls: int = 0
    refusals: int = 0
    detail: str = ""
    unknown_reported: str | None = None
    runner: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def observation(self) -> DrainObservation:
        return DrainObservation(self.task_id, self.pending, self.drained, self.gone, self.timed_out,
                                self.started, self.last_change, self.polls, self.detail)


class DrainWatcher:
    """Async context manager; `start`/`stop` are idempotent, `watch`/`unwatch` too.

    A session passed in is used as is (its connector must allow one connection per streamed
    task); otherwise the watcher owns one with no connection limit.
    """

    def __init__(self, on_event: Callable[[DrainEvent], None], *,
                 session: aiohttp.ClientSession | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._on_event = on_event
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._watches: dict[str, _Watch] = {}
        self._runners: set[asyncio.Task[None]] = set()
        self._started = False
        self._requests_made = 0

    @property
    def requests_made(self) -> int:
        """HTTP requests performed: one per poll, one per stream connection."""
        return self._requests_made

    async def start(self) -> None:
        if self._started:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for task_id in list(self._watches):
            self.unwatch(task_id)
        runners = list(self._runners)
        await asyncio.gather(*runners, return_exceptions=True)
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> DrainWatcher:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def watch(self, task_id: str, spec: DrainSpec) -> None:
        """Start watching; a second call with the same spec changes nothing, another spec restarts."""
        if not self._started:
            raise RuntimeError("DrainWatcher.watch() before start()")
        current = self._watches.get(task_id)
        if current is not None and current.spec == spec:
            return
        if current is not None:
            self.unwatch(task_id)
        now = self._clock()
        w = _Watch(task_id, spec, started=now, last_change=now)
        if spec.source is DrainSource.NONE:  # nothing to read, nothing to time out
            w.pending, w.drained = 0, True
            self._watches[task_id] = w
            log.debug("drain watch started", task=task_id, source=str(spec.source))
            return
        loop = asyncio.get_running_loop()
        w.runner = loop.create_task(self._run(w), name=f"drain-watch:{task_id}")
        self._runners.add(w.runner)
        w.runner.add_done_callback(self._runners.discard)
        w.timer = loop.call_later(spec.timeout_s, self._on_timeout, w)
        self._watches[task_id] = w
        log.debug("drain watch started", task=task_id, source=str(spec.source), url=spec.url)

    def unwatch(self, task_id: str) -> None:
        w = self._watches.pop(task_id, None)
        if w is None:
            return
        if w.timer is not None:
            w.timer.cancel()
        if w.runner is not None:
            w.runner.cancel()

    def observations(self) -> dict[str, DrainObservation]:
        return {task_id: w.observation() for task_id, w in self._watches.items()}

    def observations_of(self, task_ids: Iterable[str]) -> dict[str, DrainObservation]:
        """As `observations`, for these tasks only (those watched): a round asks for its own
        group's, not every group's."""
        return {t: w.observation() for t in task_ids if (w := self._watches.get(t)) is not None}

    # --- per-task loops -------------------------------------------------------------------

    async def _run(self, w: _Watch) -> None:
        try:
            if w.spec.source is DrainSource.STREAM:
                await self._stream_forever(w)
            else:
                await self._poll_forever(w)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not leave a task silently "watched"
            log.exception("drain watch crashed", task=w.task_id)
            self._record_failure(w, f"drain watch crashed: {exc!r}", refused=False)

    async def _poll_forever(self, w: _Watch) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await self._poll_once(w)
            await asyncio.sleep(max(0.0, w.spec.interval_s - (loop.time() - began)))

    async def _poll_once(self, w: _Watch) -> None:
        spec = w.spec
        w.polls += 1
        try:
            body = await self._fetch(spec)
            if spec.source is DrainSource.JSON:
                count = count_from_json(body, spec.metric)
            else:
                count = count_from_prometheus(body.decode("utf-8", errors="replace"), spec.metric,
                                              spec.labels)
        except _Refused as exc:
            self._record_failure(w, str(exc), refused=True)
        except MetricUnreadable as exc:
            self._record_failure(w, f"{spec.url}: {exc}", refused=False)
        else:
            self._record_count(w, count)

    async def _fetch(self, spec: DrainSpec) -> bytes:
        assert self._session is not None
        self._requests_made += 1
        timeout = aiohttp.ClientTimeout(total=spec.request_timeout_s)
        try:
            async with self._session.get(spec.url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise MetricUnreadable(f"HTTP {resp.status}")
                if (resp.content_length or 0) > MAX_BODY_BYTES:
                    raise MetricUnreadable(f"payload larger than {MAX_BODY_BYTES} bytes")
                return await _read_capped(resp)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                raise _Refused(f"{spec.url}: connection refused") from None
            raise MetricUnreadable(f"cannot connect: {exc.os_error}") from None
        except TimeoutError:
            raise MetricUnreadable(f"no answer within {spec.request_timeout_s}s") from None
        except aiohttp.ClientError as exc:
            raise MetricUnreadable(f"request failed: {type(exc).__name__}: {exc}") from None

    async def _stream_forever(self, w: _Watch) -> None:
        delay_s = STREAM_BACKOFF_MIN_S
        while True:
            received = 0
            try:
                received = await self._stream_once(w)
                self._record_failure(w, f"{w.spec.url}: stream closed by the app", refused=False)
            except _Idle:
                log.debug("drain stream idle; reconnecting", task=w.task_id)
                delay_s = STREAM_BACKOFF_MIN_S
                continue
            except _Refused as exc:
                self._record_failure(w, str(exc), refused=True)
            except MetricUnreadable as exc:
                self._record_failure(w, f"{w.spec.url}: {exc}", refused=False)
            # after a connection that delivered events retry soon; otherwise back off exponentially
            if received:
                delay_s = STREAM_BACKOFF_MIN_S
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, STREAM_BACKOFF_MAX_S)

    async def _stream_once(self, w: _Watch) -> int:
        """One SSE connection; returns the number of events read before the stream ended."""
        assert self._session is not None
        spec = w.spec
        self._requests_made += 1
        received = 0
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=spec.request_timeout_s,
                                        sock_read=spec.stream_idle_timeout_s)
        try:
            async with asyncio.timeout(spec.request_timeout_s):
                resp = await self._session.get(spec.url, timeout=timeout,
                                               headers={"Accept": "text/event-stream"})
            async with resp:
                if resp.status != 200:
                    raise MetricUnreadable(f"HTTP {resp.status}")
                try:
                    async for data in iter_sse_data(resp):
                        received += 1
                        w.polls += 1
                        try:
                            self._record_count(w, count_from_json(data, spec.metric))
                        except MetricUnreadable as exc:
                            self._record_failure(w, f"{spec.url}: event {exc}", refused=False)
                except TimeoutError:  # sock_read: silent for stream_idle_timeout_s
                    raise _Idle from None
                except EventTooLarge as exc:
                    raise MetricUnreadable(str(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                raise _Refused(f"{spec.url}: connection refused") from None
            raise MetricUnreadable(f"cannot connect: {exc.os_error}") from None
        except TimeoutError:
            raise MetricUnreadable(f"no answer within {spec.request_timeout_s}s") from None
        except aiohttp.ClientError as exc:
            raise MetricUnreadable(f"stream failed: {type(exc).__name__}: {exc}") from None
        return received

    # --- state transitions ----------------------------------------------------------------

    def _record_count(self, w: _Watch, count: int) -> None:
        was_drained, changed = w.drained, count != w.pending
        w.pending, w.drained, w.gone, w.refusals = count, count == 0, False, 0
        w.detail, w.unknown_reported = "", None
        if changed:
            w.last_change = self._clock()
        if count == 0 and not was_drained:
            self._emit(w, DrainEventKind.DRAINED)
        elif count > 0 and changed:
            self._emit(w, DrainEventKind.PROGRESS)

    def _record_failure(self, w: _Watch, detail: str, *, refused: bool) -> None:
        w.refusals = w.refusals + 1 if refused else 0
        if w.pending is not None or w.drained:
            w.last_change = self._clock()
        w.pending, w.drained, w.detail = None, False, detail
        if refused and w.refusals >= w.spec.gone_after_refusals:
            if not w.gone:
                w.gone = True
                self._emit(w, DrainEventKind.GONE, detail)
        elif detail != w.unknown_reported:
            self._emit(w, DrainEventKind.UNKNOWN, detail)
        w.unknown_reported = detail

    def _on_timeout(self, w: _Watch) -> None:
        if self._watches.get(w.task_id) is not w or w.drained:
            return
        w.timed_out = True
        self._emit(w, DrainEventKind.TIMEOUT, f"not drained after {w.spec.timeout_s}s")

    def _emit(self, w: _Watch, kind: DrainEventKind, detail: str = "") -> None:
        event = DrainEvent(kind, w.task_id, w.pending, self._clock(), detail)
        log.debug("drain event", task=w.task_id, kind=str(kind), pending=w.pending, detail=detail)
        try:
            self._on_event(event)
        except Exception:  # the consumer's bug must not stop the watch
            log.exception("drain event handler failed", task=w.task_id, kind=str(kind))


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    """The body, read in chunks; more than MAX_BODY_BYTES is refused as soon as it is seen
    (never buffered whole: a chunked body announces no length)."""
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MetricUnreadable(f"payload larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

"""Steady HTTP load through the load balancer, with a record of every request.

Owns: sending an open-loop stream of requests (fast `GET /` and slow `GET /work?ms=N`, so that
drained tasks have pending operations), recording each one (times, status, error, the
`version` the answer names) and summarising: failures with reasons, counts per version and the
switch timeline. A failed request is a connection error, a timeout or a non-2xx answer; it is
recorded, never raised. Bounded: stops at `stop()`, at `max_duration_s` or after
`max_requests`. Must not know anything about Marathon or HAProxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any

import aiohttp
import structlog

log = structlog.get_logger(__name__)


class RequestKind(StrEnum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class RequestRecord:
    kind: RequestKind
    start_s: float  # seconds since the load started
    end_s: float | None = None
    status: int | None = None
    error: str | None = None  # failure reason; None for a 2xx answer
    version: str | None = None
    task: str | None = None

    @property
    def ok(self) -> bool:
        return self.end_s is not None and self.error is None


@dataclass
class LoadSummary:
    sent: int
    ok: int
    failed: int
    in_flight: int
    failure_reasons: dict[str, int]
    by_version: dict[str, int]
    first_seen_s: dict[str, float]
    last_seen_s: dict[str, float]
    duration_s: float
    failures: list[dict[str, Any]] = field(default_factory=list)  # first few, for the report

    @property
    def versions(self) -> list[str]:
        """Versions in the order they were first seen."""
        return sorted(self.first_seen_s, key=self.first_seen_s.__getitem__)

    def mixed_window_s(self, old: str, new: str) -> float:
        """How long both versions answered (0 when the switch was clean or did not happen)."""
        if old not in self.last_seen_s or new not in self.first_seen_s:
            return 0.0
        return max(0.0, self.last_seen_s[old] - self.first_seen_s[new])

    def to_dict(self) -> dict[str, Any]:
        versions = self.versions
        timeline: dict[str, Any] = {"versions": versions, "first_seen_s": self.first_seen_s,
                                    "last_seen_s": self.last_seen_s}
        if len(versions) >= 2:
            timeline["mixed_s"] = round(self.mixed_window_s(versions[0], versions[-1]), 3)
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed, "in_flight": self.in_flight,
                "failure_reasons": self.failure_reasons, "by_version": self.by_version,
                "timeline": timeline, "duration_s": round(self.duration_s, 3),
                "failures": self.failures}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


class LoadGenerator:
    """Open-loop load at `rate_per_s`; an async context manager with idempotent start/stop.

    At most `max_concurrency` requests are in flight; when the cap is reached the next request
    waits (its lateness shows in `start_s`). `wait_for(predicate)` lets callers wait on the
    summary (e.g. "100 answers from v1") with a deadline instead of sleeping.
    """

    def __init__(self, url: str, *, rate_per_s: float = 50.0, slow_fraction: float = 0.2,
                 slow_ms: tuple[int, int] = (200, 800), max_concurrency: int = 200,
                 max_requests: int = 100_000, max_duration_s: float = 300.0,
                 request_timeout_s: float = 10.0, seed: int | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        if not 0.0 <= slow_fraction <= 1.0:
            raise ValueError(f"slow_fraction must be within 0..1, got {slow_fraction}")
        if not 0 <= slow_ms[0] <= slow_ms[1]:
            raise ValueError(f"slow_ms must be (low, high) with 0 <= low <= high, got {slow_ms}")
        self.url = url.rstrip("/")
        self.rate_per_s = rate_per_s
        self.slow_fraction = slow_fraction
        self.slow_ms = slow_ms
        self.max_concurrency = max_concurrency
        self.max_requests = max_requests
        self.max_duration_s = max_duration_s
        self.request_timeout_s = request_timeout_s
        self.records: list[RequestRecord] = []
        self._rng = random.Random(seed)
        self._t0 = 0.0
        self._stopped_at: float | None = None
        self._runner: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    def _now_s(self) -> float:
        return time.monotonic() - self._t0

    async def start(self) -> None:
        if self._runner is not None:
            return
        connector = aiohttp.TCPConnector(limit=self.max_concurrency)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.request_timeout_s))
        self._t0 = time.monotonic()
        self._runner = asyncio.create_task(self._run(), name="load-generator")

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.max_concurrency)
        interval_s = 1.0 / self.rate_per_s
        for i in range(self.max_requests):
            due_s = i * interval_s
            if due_s > self.max_duration_s:
                break
            delay_s = due_s - self._now_s()
            if delay_s > 0:
                await asyncio.sleep(delay_s)  # pacing of an open-loop generator, not synchronization
            await slots.acquire()
            task = asyncio.create_task(self._one(slots))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
        self._stopped_at = self._now_s()

    def _pick(self) -> tuple[RequestKind, str]:
        if self._rng.random() < self.slow_fraction:
            ms = self._rng.randint(*self.slow_ms)
            return RequestKind.SLOW, f"{self.url}/work?ms={ms}"
        return RequestKind.FAST, f"{self.url}/"

    async def _one(self, slots: asyncio.Semaphore) -> None:
        kind, url = self._pick()
        record = RequestRecord(kind=kind, start_s=self._now_s())
        self.records.append(record)
        assert self._session is not None
        try:
            async with self._session.get(url) as resp:
                record.status = resp.status
                body = await resp.json(content_type=None) if resp.status < 300 else None
                if not 200 <= resp.status < 300:
                    record.error = f"status {resp.status}"
                elif isinstance(body, dict):
                    record.version = None if body.get("version") is None else str(body["version"])
                    record.task = None if body.get("task") is None else str(body["task"])
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            record.error = _reason(exc)
        finally:
            record.end_s = self._now_s()
            slots.release()
            self._changed.set()

    async def wait_for(self, predicate: Any, timeout_s: float) -> LoadSummary:
        """Wait until `predicate(summary)` is true; TimeoutError (with the summary) otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            summary = self.summary()
            if predicate(summary):
                return summary
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                raise TimeoutError(f"load condition not reached in {timeout_s}s: {summary.to_dict()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left_s)

    async def stop(self) -> None:
        """Stop sending; wait for requests in flight (each is bounded by request_timeout_s)."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        if self._stopped_at is None:
            self._stopped_at = self._now_s()
        if self._requests:
            await asyncio.gather(*list(self._requests), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        log.info("load.stopped", **{k: v for k, v in self.summary().to_dict().items() if k != "failures"})

    def summary(self) -> LoadSummary:
        done = [r for r in self.records if r.end_s is not None]
        failed = [r for r in done if r.error is not None]
        by_version: Counter[str] = Counter()
        first: dict[str, float] = {}
        last: dict[str, float] = {}
        for r in done:
            if r.error is None and r.version is not None and r.end_s is not None:
                by_version[r.version] += 1
                first[r.version] = min(first.get(r.version, r.end_s), r.end_s)
                last[r.version] = max(last.get(r.version, r.end_s), r.end_s)
        end_s = self._stopped_at if self._stopped_at is not None else (self._now_s() if self._t0 else 0.0)
        return LoadSummary(
            sent=len(self.records), ok=len(done) - len(failed), failed=len(failed),
            in_flight=len(self.records) - len(done),
            failure_reasons=dict(Counter(str(r.error) for r in failed)), by_version=dict(by_version),
            first_seen_s={k: round(v, 3) for k, v in first.items()},
            last_seen_s={k: round(v, 3) for k, v in last.items()}, duration_s=end_s,
            failures=[{"kind": str(r.kind), "start_s": round(r.start_s, 3), "error": r.error}
                      for r in failed[:20]])

    async def __aenter__(self) -> LoadGenerator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

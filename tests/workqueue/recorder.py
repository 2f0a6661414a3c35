"""A scriptable handler for WorkQueue tests: records runs, holds them on gates, counts overlap."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

from reactor.engine.workqueue import Trigger

DEADLINE_S = 5.0


async def eventually(predicate: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    """Wait for a condition with a deadline (a failing test fails here, it does not hang)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.001)


class Recorder:
    """handler(key, trigger): runs `script[key](run_number)` if given, else returns None."""

    def __init__(self) -> None:
        self.runs: dict[str, int] = defaultdict(int)
        self.finished: dict[str, int] = defaultdict(int)
        self.active: dict[str, int] = defaultdict(int)
        self.max_active: dict[str, int] = defaultdict(int)
        self.total_active = 0
        self.peak_total_active = 0
        self.log: list[tuple[str, str]] = []  # ("start" | "end" | "cancelled", key)
        self.triggers: dict[str, list[Trigger | None]] = defaultdict(list)
        self.gates: dict[str, asyncio.Event] = {}  # a run of a gated key waits for its gate
        self.results: dict[str, list[object]] = {}  # per key: values returned (or raised) run by run

    def gate(self, key: str) -> asyncio.Event:
        return self.gates.setdefault(key, asyncio.Event())

    async def __call__(self, key: str, trigger: Trigger | None) -> float | None:
        self.runs[key] += 1
        run = self.runs[key]
        self.triggers[key].append(trigger)
        self.active[key] += 1
        self.max_active[key] = max(self.max_active[key], self.active[key])
        self.total_active += 1
        self.peak_total_active = max(self.peak_total_active, self.total_active)
        self.log.append(("start", key))
        try:
            if key in self.gates:
                await self.gates[key].wait()
            planned = self.results.get(key, [])
            outcome = planned[run - 1] if run <= len(planned) else None
            if isinstance(outcome, BaseException):
                raise outcome
            self.log.append(("end", key))
            return outcome  # type: ignore[return-value]
        except asyncio.CancelledError:
            self.log.append(("cancelled", key))
            raise
        finally:
            self.active[key] -= 1
            self.total_active -= 1
            self.finished[key] += 1

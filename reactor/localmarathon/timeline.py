"""`/_localmarathon/timeline`: an opt-in record of when each event was published and each write
arrived, by this server's own wall clock (outside Marathon's API).

Owns: switching the record on (cleared) and off, and what it holds: every event as published on
the bus (before fan-out) and every write request (POST, PUT, PATCH, DELETE outside
`/_localmarathon/`) as it reached the middleware, with its method, path and JSON body. Benchmarks
read it to time "Marathon event -> reactor write" at Marathon itself, with no proxy or client of
their own in the path. Event timestamps cannot serve: Marathon's are milliseconds, and this
server's are made strictly increasing, so a burst pushes them ahead of the clock.
Must not: change what is served, or cost anything while off.
"""

from __future__ import annotations

import json
import time
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Timeline:
    def __init__(self) -> None:
        self.recording = False
        self._events: list[tuple[float, dict[str, Any]]] = []
        self._writes: list[tuple[float, str, str, bytes]] = []

    def record(self, on: bool) -> None:
        """Start a new record (the old one is dropped) or stop recording (kept for reading)."""
        if on:
            self._events, self._writes = [], []
        self.recording = on

    def on_event(self, event: dict[str, Any]) -> None:
        if self.recording:
            self._events.append((time.time(), event))

    def on_write(self, at: float, method: str, path: str, raw: bytes) -> None:
        if self.recording:
            self._writes.append((at, method, path, raw))

    def to_json(self) -> dict[str, Any]:
        def body(raw: bytes) -> Any:
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return raw.decode("utf-8", "replace")

        return {
            "recording": self.recording,
            "events": [{"at": at, "event": e} for at, e in self._events],
            "writes": [{"at": at, "method": m, "path": p, "body": body(raw)}
                       for at, m, p, raw in self._writes],
        }

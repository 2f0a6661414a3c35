"""Repeated identical warnings and errors are logged once, then once per window with a count.

Owns one structlog processor (`Dedup`) and `install()`, which puts it in front of the processors
`reactor.logs.configure` set up (that module stays the owner of the log format and redaction).
"Identical" = same level, event text and `error`/`app`/`group` fields. The first occurrence is
logged; the next ones within `window_s` are dropped and counted; the first one after the window
is logged with `repeated=N` (how many were dropped). Info and debug lines pass untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

KEY_FIELDS = ("error", "app", "group", "url")
LEVELS = ("warning", "error", "critical", "exception")


class Dedup:
    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple[Any, ...], tuple[float, int]] = {}  # key -> (window start, dropped)

    def __call__(self, _logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if name not in LEVELS:
            return event
        key = (name, str(event.get("event")), *(str(event.get(k)) for k in KEY_FIELDS))
        now = self.clock()
        started, dropped = self._seen.get(key, (None, 0))
        if started is not None and now - started < self.window_s:
            self._seen[key] = (started, dropped + 1)
            raise structlog.DropEvent
        if len(self._seen) > 1000:  # bounded: forget windows that are over
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window_s}
        self._seen[key] = (now, 0)
        if dropped:
            event["repeated"] = dropped
        return event


def install(window_s: float = 60.0) -> Dedup:
    """Put a Dedup in front of the configured processors (after `reactor.logs.configure`)."""
    dedup = Dedup(window_s)
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[dedup, *processors])
    return dedup

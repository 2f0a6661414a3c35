"""structlog configuration, done once at an entry point, and the redaction of secrets.

Console rendering on a terminal, JSON lines otherwise (containers, CI). Secrets never reach a
log line: `redact` masks values of keys that look like credentials, the values of an app's `env`,
credentials written in URLs (`http://user:pass@host`), bearer/`token=` values and JSON secrets
inside strings. Library loggers (aiohttp, aiohttp_sse_client, asyncio, any stdlib logger) go
through the same processors, so a debug line of a library cannot leak an event payload either;
their identical lines repeated in a burst (e.g. "Too many open files" on every accept) are
rate-limited. It must not decide log levels per module nor drop a first occurrence.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import structlog

MASK = "***"
_SECRET_KEYS = ("password", "passwd", "token", "secret", "authorization", "credentials",
                "private_key", "api_key", "apikey", "cookie")
_ENV_KEYS = ("env", "environment")  # an app's environment: every value may be a secret
_MAX_DEPTH = 6

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@'\"]+(?::[^/\s@'\"]*)?@")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token=)\s*[A-Za-z0-9._~+/=-]{4,}")
_JSON_SECRET = re.compile(
    r"(?i)(\"[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_?key|private_key)[A-Za-z0-9_.-]*\"\s*:\s*)"
    r"\"(?:[^\"\\]|\\.)*\"")
_JSON_ENV = re.compile(r"(\"env\"\s*:\s*\{)([^{}]*)(\})")
_JSON_STRING_VALUE = re.compile(r"(:\s*)\"(?:[^\"\\]|\\.)*\"")
# a URL's long query string (the event stream's 17 event_type filters) says nothing to a reader
_LONG_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?'\"]+)\?[^\s'\"]{80,}")


def redact_text(text: str) -> str:
    """A string with credentials in URLs, bearer/basic/token= values and JSON secrets masked."""
    if "?" in text:
        text = _LONG_QUERY.sub(lambda m: m.group(1) + "?...", text)
    if "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK + "@", text)
    text = _BEARER.sub(lambda m: m.group(1) + ("" if m.group(1).endswith("=") else " ") + MASK, text)
    if '"' in text:
        text = _JSON_SECRET.sub(lambda m: m.group(1) + f'"{MASK}"', text)
        text = _JSON_ENV.sub(lambda m: m.group(1) + _JSON_STRING_VALUE.sub(
            lambda v: v.group(1) + f'"{MASK}"', m.group(2)) + m.group(3), text)
    return text


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and any(s in key.lower() for s in _SECRET_KEYS)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with secrets masked (dicts, lists and strings, `_MAX_DEPTH` deep)."""
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool | None) else MASK
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if _is_secret_key(k):
                out[k] = MASK
            elif isinstance(k, str) and k.lower() in _ENV_KEYS and isinstance(v, dict):
                out[k] = {name: MASK for name in v}
            else:
                out[k] = redact_value(v, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [redact_value(v, depth + 1) for v in value]
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _is_secret_key(key):
            event[key] = MASK
        elif key in _ENV_KEYS and isinstance(event[key], dict):
            event[key] = {name: MASK for name in event[key]}
        elif key != "exc_info":
            event[key] = redact_value(event[key])
    return event


def _redact_rendered(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """After format_exc_info: a traceback's text may quote a URL with credentials."""
    if isinstance(event.get("exception"), str):
        event["exception"] = redact_text(event["exception"])
    return event


class ClientErrors(logging.Filter):
    """A malformed request from a client (a header or URL over aiohttp's limits, a line that is
    not HTTP) is that client's error, answered 400: one warning line naming it, not an error
    with the parser's traceback in the daemon's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.name == "aiohttp.server" and _is_bad_http(exc):
            detail = " ".join(str(exc).split())  # one line, whatever the parser wrote
            record.msg, record.args = f"{record.getMessage()} (answered 400): {detail}", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _is_bad_http(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    from aiohttp.http_exceptions import BadHttpMessage  # only once aiohttp logged something

    return isinstance(exc, BadHttpMessage)


class BurstLimit(logging.Filter):
    """Lets through at most `burst` records with the same (logger, message template) per
    `window_s`; the next one let through says how many were suppressed."""

    def __init__(self, burst: int = 5, window_s: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.burst, self.window_s, self._clock = burst, window_s, clock
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count, suppressed]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg)[:200])
        now = self._clock()
        state = self._seen.get(key)
        if state is None or now - state[0] >= self.window_s:
            if len(self._seen) > 1000:
                self._seen.clear()  # bounded: many distinct messages are not a burst of one
            suppressed = int(state[2]) if state else 0
            self._seen[key] = [now, 1, 0]
            if suppressed:
                record.msg = f"{record.msg} ({suppressed} similar lines suppressed)"
            return True
        state[1] += 1
        if state[1] > self.burst:
            state[2] += 1
            return False
        return True


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
        structlog.processors.format_exc_info,
        _redact_rendered,
    ]


def configure(fmt: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog and stdlib logging (library loggers) for the whole process."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and hasattr(out, "isatty") and out.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    lvl = logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        lvl = logging.INFO
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_processors()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    handler.addFilter(ClientErrors())
    handler.addFilter(BurstLimit())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lvl)
    structlog.configure(
        processors=[*_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


"""Typed errors of the Marathon adapter, and the mapping from an HTTP error response to them.

Owns turning Marathon's error bodies (JSON per reference §4.5, or Jetty HTML pages) into one
exception with a clear message. Never includes request headers or credentials in a message.
"""

from __future__ import annotations

import html
import re

from pydantic import ValidationError

from reactor.core.models import ErrorDetail, MarathonErrorBody

_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


class MarathonError(Exception):
    """Any failure talking to Marathon; `status` is the HTTP status (0 when there was no response)."""

    def __init__(self, message: str, *, status: int = 0, method: str = "", route: str = "") -> None:
        where = f"{method} {route} " if method else ""
        super().__init__(f"Marathon {where}failed ({status or 'no response'}): {message}")
        self.status = status
        self.message = message
        self.method = method
        self.route = route


class AppLocked(MarathonError):
    def __init__(self, message: str, deployment_ids: tuple[str, ...], **kw: object) -> None:
        ids = ", ".join(deployment_ids) or "unknown"
        super().__init__(f"app is locked by deployment(s) {ids}: {message}", **kw)  # type: ignore[arg-type]
        self.deployment_ids = deployment_ids


class AppExists(MarathonError):
    pass


class ValidationFailed(MarathonError):
    def __init__(self, message: str, details: tuple[ErrorDetail, ...] | str | None, **kw: object) -> None:
        if isinstance(details, tuple):
            text = "; ".join(f"{d.path}: {', '.join(d.errors)}" for d in details)
        else:
            text = details or ""
        super().__init__(f"{message}{' - ' + text if text else ''}", **kw)  # type: ignore[arg-type]
        self.details = details


class NotFound(MarathonError):
    pass


class Unauthorized(MarathonError):
    pass


class Forbidden(MarathonError):
    pass


class LeaderUnavailable(MarathonError):
    """502/503 from Jetty (no leader, leader proxy failure, too many requests)."""


class MarathonUnreachable(MarathonError):
    """No configured URL answered."""


class AmbiguousOutcome(MarathonError):
    """A non-idempotent call failed after it was sent and reading state could not settle whether it ran."""


class Fenced(MarathonError):
    """A write was not sent (first attempt or retry): its caller's guard said the lease that
    allows it is no longer certainly held."""


def _text_of(body: bytes) -> str:
    title = _TITLE.search(body)
    if title:
        return html.unescape(title.group(1).decode("utf-8", "replace")).strip()
    text = _TAGS.sub(" ", body.decode("utf-8", "replace"))
    return " ".join(text.split())[:300] or "(empty body)"


def error_from_response(status: int, body: bytes, *, method: str, route: str) -> MarathonError:
    """The typed error for one non-2xx response."""
    kw: dict[str, object] = {"status": status, "method": method, "route": route}
    parsed: MarathonErrorBody | None = None
    try:
        parsed = MarathonErrorBody.model_validate_json(body)
    except (ValidationError, ValueError):
        parsed = None
    message = parsed.message if parsed is not None and parsed.message else _text_of(body)
    if status == 409 and parsed is not None and (parsed.deployments or "locked" in message):
        return AppLocked(message, tuple(d.id for d in parsed.deployments), **kw)
    if status == 409 and "already exists" in message:
        return AppExists(message, **kw)  # type: ignore[arg-type]
    if status in (400, 422) and parsed is not None and parsed.details:
        return ValidationFailed(message, parsed.details, **kw)
    if status == 422:
        return ValidationFailed(message, None, **kw)
    cls: type[MarathonError] = {
        404: NotFound,
        401: Unauthorized,
        403: Forbidden,
        502: LeaderUnavailable,
        503: LeaderUnavailable,
        504: LeaderUnavailable,
    }.get(status, MarathonError)
    return cls(message, **kw)  # type: ignore[arg-type]

"""Webhook transport: POST a deploy event as JSON, signed, with retries; read a gate's answer.

Owns the wire format of webhooks: the body is `event.payload()` as compact JSON; headers
`X-Bluegreen-Event` (event name), `X-Bluegreen-Delivery` (event id, stable across restarts, so a
receiver can de-duplicate) and, when a secret is set, `X-Bluegreen-Signature:
sha256=<hex HMAC-SHA256 of the exact body bytes>` (kept for old receivers), plus
`X-Bluegreen-Timestamp: <unix seconds>` and `X-Bluegreen-Signature-256: sha256=<hex HMAC-SHA256
of "<timestamp>.<body>">`, so that a receiver can refuse a replayed delivery (README: Security).
Each attempt is signed with its own timestamp. An answer is read up to `MAX_ANSWER_BYTES`
whatever its Content-Length. Connection errors and 5xx answers are retried with capped
exponential backoff; timeouts and 4xx are not. It must not decide what a failure means for the
deployment (the dispatcher does) and must not count metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import structlog

from reactor import __version__
from reactor.adapters.hooks.errors import HookRejected, HookTimedOut, HookTransportError
from reactor.core.deploy_events import DeployEvent, GateAnswer
from reactor.settings import WebhookSettings

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Bluegreen-Signature"
SIGNATURE_256_HEADER = "X-Bluegreen-Signature-256"
TIMESTAMP_HEADER = "X-Bluegreen-Timestamp"
MAX_ANSWER_BYTES = 64 * 1024
EVENT_HEADER = "X-Bluegreen-Event"
DELIVERY_HEADER = "X-Bluegreen-Delivery"
BACKOFF_S = 0.2
BACKOFF_CAP_S = 5.0


def sign(body: bytes, secret: str) -> str:
    """The value of `X-Bluegreen-Signature` for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Constant-time check of a signature header (for receivers, and tests)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


def sign_timestamped(timestamp: str, body: bytes, secret: str) -> str:
    """The value of `X-Bluegreen-Signature-256`: HMAC-SHA256 of `"<timestamp>.<body>"`."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


def encode(event: DeployEvent) -> bytes:
    return json.dumps(event.payload(), separators=(",", ":"), sort_keys=True).encode()


def parse_answer(body: bytes) -> GateAnswer:
    """`{"answer": "allow"}` or plain `allow`; anything else is a veto."""
    text = body.decode("utf-8", errors="replace").strip()
    word: object = text
    if text.startswith("{"):
        try:
            word = json.loads(text).get("answer")
        except (ValueError, AttributeError):
            return GateAnswer.VETO
    try:
        return GateAnswer(str(word).strip().lower())
    except ValueError:
        return GateAnswer.VETO


async def read_capped(content: aiohttp.StreamReader, limit: int) -> bytes:
    """At most `limit` bytes of a body, read in chunks (Content-Length is not trusted); the rest
    is left unread and the connection closed with the response."""
    chunks, size = [], 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def display_url(url: str) -> str:
    """The URL as logs and metric labels show it: scheme, host and port only. Credentials, the
    query and the path stay out: Slack, Discord and Teams webhooks carry their secret in the path
    (`/services/T0/B0/<secret>`). A short digest of the whole URL tells two hooks of one host
    apart: `https://hooks.slack.com/…3f9a1c`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    if parts.path in ("", "/") and not parts.query:
        return urlunsplit((parts.scheme, netloc, "/", "", ""))
    return urlunsplit((parts.scheme, netloc, "/…" + hashlib.sha256(url.encode()).hexdigest()[:6], "", ""))


def max_duration_s(settings: WebhookSettings, backoff_cap_s: float = BACKOFF_CAP_S) -> float:
    """An upper bound of one delivery, retries and backoff included."""
    return (settings.retries + 1) * settings.timeout_s + settings.retries * backoff_cap_s + 1.0


class Webhook:
    """One configured webhook. The session is the caller's (shared, closed by its owner)."""

    def __init__(self, settings: WebhookSettings, session: aiohttp.ClientSession, *,
                 backoff_s: float = BACKOFF_S, backoff_cap_s: float = BACKOFF_CAP_S,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._wall_clock = wall_clock
        self.session = session
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.url = display_url(settings.url)

    @property
    def max_duration_s(self) -> float:
        return max_duration_s(self.settings, self.backoff_cap_s)

    def _headers(self, event: DeployEvent, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"bluegreen-reactor/{__version__}",
            EVENT_HEADER: event.name.value,
            DELIVERY_HEADER: event.id,
        }
        if self.settings.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.settings.secret.get_secret_value())
        return headers

    def _stamped(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """The headers of one attempt: a fresh timestamp and its signature (with a secret)."""
        if self.settings.secret is None:
            return headers
        ts = str(int(self._wall_clock()))
        return {**headers, TIMESTAMP_HEADER: ts,
                SIGNATURE_256_HEADER: sign_timestamped(ts, body, self.settings.secret.get_secret_value())}

    async def _post_once(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            async with self.session.post(self.settings.url, data=body, headers=self._stamped(headers, body),
                                         timeout=timeout, allow_redirects=False) as resp:
                return resp.status, await read_capped(resp.content, MAX_ANSWER_BYTES)
        except TimeoutError:
            raise HookTimedOut(f"{self.url}: no answer within {self.settings.timeout_s:g}s") from None

    async def post(self, event: DeployEvent) -> tuple[int, bytes]:
        """POST the event; retries connection errors and 5xx. Returns the last (status, body)."""
        body = encode(event)
        headers = self._headers(event, body)
        delay_s = self.backoff_s
        for attempt in range(self.settings.retries + 1):
            last = attempt == self.settings.retries
            try:
                status, answer = await self._post_once(body, headers)
            except aiohttp.ClientError as exc:
                if last:
                    raise HookTransportError(f"{self.url}: {type(exc).__name__}: {exc}") from None
                log.info("webhook.retry", url=self.url, event_id=event.id, attempt=attempt + 1,
                         error=type(exc).__name__)
            else:
                if status < 500 or last:
                    return status, answer
                log.info("webhook.retry", url=self.url, event_id=event.id, attempt=attempt + 1,
                         status=status)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, self.backoff_cap_s)
        raise AssertionError("unreachable")  # pragma: no cover

    async def deliver(self, event: DeployEvent) -> None:
        """Deliver an ordinary event; raises HookTransportError unless answered with 2xx."""
        status, _ = await self.post(event)
        if not 200 <= status < 300:
            raise HookRejected(f"{self.url}: HTTP {status}", status=status)

    async def ask(self, event: DeployEvent) -> GateAnswer:
        """A gate's answer. Non-2xx or an unreadable body is a veto; errors raise (caller: veto)."""
        status, body = await self.post(event)
        if not 200 <= status < 300:
            log.warning("webhook.gate_http_error", url=self.url, event_id=event.id, status=status)
            return GateAnswer.VETO
        return parse_answer(body)

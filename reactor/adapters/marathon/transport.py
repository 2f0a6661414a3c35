"""HTTP transport to a Marathon cluster: URLs and leader preference, auth, TLS, retries, failover.

Owns sending one logical request: picks the URL (leader first), fails over on connection errors,
retries idempotent requests on connection errors and 502/503/504 with capped, jittered backoff,
reports every attempt via `on_request(method, route_template, status)` (0 = no response) and maps
error responses to typed errors. It never retries a non-idempotent request after it may have been
sent: it raises `SentButUnanswered` and the caller reads state to settle it. Secrets stay out of
logs and reprs.
"""

from __future__ import annotations

import asyncio
import base64
import random
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from yarl import URL

from reactor.adapters.marathon.errors import MarathonError, MarathonUnreachable, error_from_response

log = structlog.get_logger(__name__)
OnRequest = Callable[[str, str, int], None]
_RETRY_STATUSES = frozenset({502, 503, 504})
MAX_ERROR_BODY_BYTES = 64 * 1024


class SentButUnanswered(Exception):
    """A non-idempotent request may have reached Marathon but no answer came back."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


class Backoff:
    """Capped exponential backoff with full jitter."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s, self.max_s, self._n = initial_s, max_s, 0

    def next_s(self) -> float:
        cap = min(self.max_s, self.initial_s * (2**self._n))
        self._n = min(self._n + 1, 30)
        return random.uniform(cap / 2, cap)

    def reset(self) -> None:
        self._n = 0


class Transport:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        token_file: str | None = None,
        ca_file: str | None = None,
        verify_tls: bool = True,
        request_timeout_s: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        on_request: OnRequest | None = None,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        if not urls:
            raise ValueError("marathon urls: at least one URL is required")
        self.urls = [self._check_url(u) for u in urls]
        if username is not None and token is not None:
            raise ValueError("marathon auth: give username/password or token, not both")
        if token_file is not None and token is None:
            token = Path(token_file).read_text().strip()
        self._authorization: str | None = None
        if username is not None:
            raw = f"{username}:{password or ''}".encode()
            self._authorization = "Basic " + base64.b64encode(raw).decode("ascii")
        elif token:
            self._authorization = f"token={token}"
        self.ssl: ssl.SSLContext | bool = True
        if ca_file is not None:
            self.ssl = ssl.create_default_context(cafile=ca_file)
        elif not verify_tls:
            self.ssl = False
        self.request_timeout_s = request_timeout_s
        self._session = session
        self._own_session = session is None
        self._on_request = on_request
        self._max_attempts = max_attempts
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._current = 0

    @staticmethod
    def _check_url(url: str) -> str:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"marathon url {url!r}: expected http(s)://host[:port][/prefix]")
        return str(parsed.with_query(None).with_fragment(None)).rstrip("/")

    def __repr__(self) -> str:
        return f"Transport(urls={self.urls!r}, auth={'set' if self._authorization else 'none'})"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._authorization} if self._authorization else {}

    def ordered_urls(self) -> list[str]:
        return self.urls[self._current :] + self.urls[: self._current]

    def prefer(self, url: str) -> None:
        self._current = self.urls.index(url)

    def prefer_leader(self, leader_host_port: str) -> None:
        for i, url in enumerate(self.urls):
            u = URL(url)
            if f"{u.host}:{u.port}" == leader_host_port:
                self._current = i
                return

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _report(self, method: str, route: str, status: int) -> None:
        if self._on_request is not None:
            self._on_request(method, route, status)

    async def request(
        self,
        method: str,
        route: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        idempotent: bool = True,
    ) -> Response:
        """One logical call; returns a 2xx response or raises a typed MarathonError."""
        if self._session is None:
            raise RuntimeError("MarathonClient is not started: use 'async with MarathonClient(...)'")
        backoff = Backoff(*self._backoff)
        last: str = "no attempt"
        for attempt in range(self._max_attempts):
            if attempt:
                await asyncio.sleep(backoff.next_s())
            for url in self.ordered_urls():
                try:
                    resp = await self._send(method, url + path, params, json_body)
                except aiohttp.ClientConnectorError as exc:  # never sent: fail over freely
                    self._report(method, route, 0)
                    last = f"{url}: {exc.os_error or exc}"
                    continue
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self._report(method, route, 0)
                    last = f"{url}: {type(exc).__name__}: {exc}"
                    if not idempotent:
                        raise SentButUnanswered(last) from exc
                    break
                self._report(method, route, resp.status)
                self.prefer(url)
                if resp.status < 400:
                    return resp
                if resp.status in _RETRY_STATUSES and attempt + 1 < self._max_attempts:
                    last = f"{url}: HTTP {resp.status}"
                    break
                raise error_from_response(resp.status, resp.body, method=method, route=route)
            else:
                continue
            log.debug("marathon request retry", method=method, route=route, reason=last)
        raise MarathonUnreachable(
            f"no Marathon URL answered after {self._max_attempts} attempts (last: {last})",
            method=method,
            route=route,
        )

    async def _send(self, method: str, url: str, params: Sequence[tuple[str, str]], body: Any) -> Response:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.request_timeout_s)
        headers = {"Accept": "application/json", **self.auth_headers()}
        async with self._session.request(
            method,
            url,
            params=list(params),
            json=body,
            headers=headers,
            timeout=timeout,
            ssl=self.ssl,
            allow_redirects=False,
        ) as resp:
            # an error body is only quoted in a message: read a bounded prefix, whatever its length
            data = await resp.read() if resp.status < 300 else await _read_prefix(resp, MAX_ERROR_BODY_BYTES)
            return Response(resp.status, data, dict(resp.headers))


async def _read_prefix(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit and (chunk := await resp.content.read(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def raise_for_unexpected(resp: Response, method: str, route: str) -> None:
    if resp.status >= 300:
        raise MarathonError(f"unexpected HTTP {resp.status}", status=resp.status, method=method, route=route)

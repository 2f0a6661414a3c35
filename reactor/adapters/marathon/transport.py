"""HTTP transport to a Marathon cluster: URLs and leader preference, auth, TLS, retries, failover.

Owns sending one logical request: picks the URL (leader first), fails over on connection errors,
retries idempotent requests on connection errors and 502/503/504 with capped, jittered backoff,
reports every attempt via `on_request(method, route_template, status)` (0 = no response) and maps
error responses to typed errors. With a DC/OS service account (`dcos_auth.DcosToken`) it logs in
before the first call, refreshes the token before expiry and re-sends once after a 401; a 401 it
cannot fix sets `auth_error` (read by /readyz), calls `on_auth_failure(reason)` and logs one
error line. It never retries a non-idempotent request after it may have been sent: it raises
`SentButUnanswered` and the caller reads state to settle it. Secrets stay out of logs and reprs.
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

from reactor.adapters.marathon.dcos_auth import DcosToken
from reactor.adapters.marathon.errors import (
    Fenced,
    MarathonError,
    MarathonUnreachable,
    Unauthorized,
    error_from_response,
)

log = structlog.get_logger(__name__)
OnRequest = Callable[[str, str, int], None]
#: asked right before every attempt of a write (first try, retry, failover): False → not sent
Guard = Callable[[], bool]
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
        dcos: DcosToken | None = None,
        on_auth_failure: Callable[[str], None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("marathon urls: at least one URL is required")
        self.urls = [self._check_url(u) for u in urls]
        if username is not None and token is not None:
            raise ValueError("marathon auth: give username/password or token, not both")
        if dcos is not None and (username is not None or token is not None or token_file is not None):
            raise ValueError("marathon auth: a DC/OS service account replaces username/password and token")
        self._dcos = dcos
        self._on_auth_failure = on_auth_failure
        self.auth_error: str | None = None  # a 401 the reactor cannot fix (cleared by the next success)
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
        value = self._dcos.header_value if self._dcos is not None else self._authorization
        return {"Authorization": value} if value else {}

    async def ensure_auth(self, *, report: bool = True) -> None:
        """Log in (or refresh) now when a DC/OS token is missing or due; no-op for static auth.
        `report=False`: a refusal is only raised (the caller tells the user, e.g. at start)."""
        if self._dcos is None or not self._dcos.due():
            return
        if self._session is None:
            raise RuntimeError("MarathonClient is not started: use 'async with MarathonClient(...)'")
        try:
            await self._dcos.authorization(self._session, self.ssl)
        except Unauthorized as exc:
            if report:
                self._auth_failed(str(exc))
            else:
                self.auth_error = str(exc)
            raise

    def auth_rejected(self, header_value: str | None) -> None:
        """Marathon answered 401 to this Authorization value (e.g. on the event stream)."""
        if self._dcos is not None:
            self._dcos.rejected(header_value)
        else:
            self._auth_failed("Marathon answered 401 to our credentials")

    def _auth_failed(self, reason: str) -> None:
        if self.auth_error is None:  # one line per outage, not one per request
            log.error("marathon refused our credentials; fix them (the reactor keeps trying)", reason=reason)
        self.auth_error = reason
        if self._on_auth_failure is not None:
            self._on_auth_failure(reason)

    def _auth_ok(self) -> None:
        if self.auth_error is not None:
            log.info("marathon accepts our credentials again")
            self.auth_error = None

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
        guard: Guard | None = None,
    ) -> Response:
        """One logical call; returns a 2xx response or raises a typed MarathonError. With `guard`,
        no attempt is sent unless it answers True right before (Fenced otherwise).

        A 401 is answered before anything runs, so re-sending after a fresh login is safe even
        for a non-idempotent call; a second 401 (or a refused login) is not retried."""
        await self.ensure_auth()
        for second in (False, True):
            used = self.auth_headers().get("Authorization")
            try:
                resp = await self._request_once(method, route, path, params=params, json_body=json_body,
                                                idempotent=idempotent, guard=guard)
            except Unauthorized as exc:
                if self._dcos is None or second:
                    self._auth_failed(str(exc))
                    raise
                self._dcos.rejected(used)
                await self.ensure_auth()
                continue
            self._auth_ok()
            return resp
        raise AssertionError("unreachable")

    async def _request_once(
        self,
        method: str,
        route: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        idempotent: bool = True,
        guard: Guard | None = None,
    ) -> Response:
        if self._session is None:
            raise RuntimeError("MarathonClient is not started: use 'async with MarathonClient(...)'")
        backoff = Backoff(*self._backoff)
        last: str = "no attempt"
        for attempt in range(self._max_attempts):
            if attempt:
                await asyncio.sleep(backoff.next_s())
            for url in self.ordered_urls():
                if guard is not None and not guard():
                    raise Fenced("not sent: the lease that allows this write is no longer certainly ours",
                                 method=method, route=route)
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

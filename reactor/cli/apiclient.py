"""Client side of the daemon's HTTP API for the CLI: requests, "is a daemon there?", the SSE stream.

Owns the mapping of transport failures and error answers to one `CliError` line. An unreachable
daemon is exit 3 (a missing component) — exit 4 is reserved for "Marathon unreachable". It never
touches Marathon or the state store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from reactor.cli.common import CliError, read_secret
from reactor.cli.exitcodes import Exit


def api_base_url(api: str | None, settings: Any) -> str:
    """`--api` (HOST:PORT or a URL) or `[api] listen` as a URL; a wildcard listen is called on
    loopback. A bad address is one line and exit 2."""
    from reactor.core.listen import client_url

    try:
        return client_url(api or settings.api.listen, tls=settings.api.tls_cert_file is not None)
    except ValueError as exc:
        raise CliError(f"--api: {exc}" if api else f"[api] {exc}", Exit.BAD_INPUT) from None


class ApiRefused(CliError):
    """The daemon answered with an HTTP error; `status` is its code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, _code(status))
        self.status = status


class DaemonApi:
    """The daemon at `base` ("http://host:port"); `token` is sent with every request when set."""

    def __init__(self, base: str, token: str | None, *, timeout_s: float = 15.0,
                 ca_file: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.ca_file = ca_file  # the daemon's own (self-signed) certificate is trusted for https

    def _session(self, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
        if self.base.startswith("https://") and self.ca_file:
            import ssl

            ctx = ssl.create_default_context()
            ctx.load_verify_locations(cafile=self.ca_file)
            return aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(ssl=ctx))
        return aiohttp.ClientSession(timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Any, api: str | None = None) -> DaemonApi:
        """`api` (HOST:PORT or a URL) or `[api] listen`; a wildcard listen is called on loopback."""
        token = read_secret(settings.api.token, settings.api.token_file)
        cert = getattr(settings.api, "tls_cert_file", None)
        return cls(api_base_url(api, settings), token, ca_file=str(cert) if cert else None)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def reachable(self, group: str | None = None, timeout_s: float = 2.0) -> bool:
        """A reactor answers here (/healthz) and acts for `group` (every group for a daemon; an
        in-process `deploy` serves the API too, but acts for its own group only)."""
        try:
            async with self._session(aiohttp.ClientTimeout(total=timeout_s)) as s:
                async with s.get(f"{self.base}/healthz", headers=self._headers()) as resp:
                    body = await resp.json(content_type=None)
                    if resp.status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
                        return False
                if group is None:
                    return True
                async with s.get(f"{self.base}/ui/scope.json", headers=self._headers()) as resp:
                    if resp.status == 404:
                        return True  # a reactor without the scope route: a daemon
                    scope = (await resp.json(content_type=None)).get("scope")
                    return bool(scope == "all" or (isinstance(scope, list) and group in scope))
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError, AttributeError):
            return False

    async def request(self, method: str, path: str, what: str) -> Any:
        """The JSON answer; an error answer or no daemon raises one CliError line."""
        url = f"{self.base}{path}"
        try:
            async with self._session(aiohttp.ClientTimeout(total=self.timeout_s)) as s, \
                    s.request(method, url, headers=self._headers()) as resp:
                status, body = resp.status, await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CliError(f"cannot reach the daemon API at {self.base}: {exc or type(exc).__name__}"
                           " (is 'bluegreen run' running?)", Exit.MISSING_COMPONENT) from None
        except ValueError:
            raise CliError(f"the daemon API at {self.base} answered something that is not JSON",
                           Exit.MISSING_COMPONENT) from None
        if status >= 400:
            raise ApiRefused(f"{what}: {self._refusal(status, body)}", status)
        return body

    def _refusal(self, status: int, body: Any) -> str:
        if status == 401:
            return ("the daemon refused our API token (401): use the daemon's [api] token" if self.token
                    else "no API token (401): set [api] token or token_file in --config, "
                         "or BLUEGREEN_API__TOKEN")
        if isinstance(body, dict):
            return str(body.get("message") or body.get("error") or body)
        return str(body)

    async def events(self, group: str | None = None, recent: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Deploy events from /v1/events (SSE) as dicts, until the daemon closes the stream;
        `recent`: first the last N the daemon buffered."""
        params = (f"group={group}" if group else "", f"recent={recent}" if recent else "")
        query = "&".join(q for q in params if q)
        url = f"{self.base}/v1/events" + (f"?{query}" if query else "")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        try:
            async with self._session(timeout) as s, \
                    s.get(url, headers={**self._headers(), "Accept": "text/event-stream"}) as resp:
                if resp.status >= 400:
                    body = await resp.json(content_type=None)
                    raise ApiRefused(f"event stream: {self._refusal(resp.status, body)}", resp.status)
                async for event in _parse_sse(resp.content):
                    yield event
        except (aiohttp.ClientError, OSError) as exc:
            raise CliError(f"event stream from {self.base} ended: {exc or type(exc).__name__}",
                           Exit.MISSING_COMPONENT) from None


def _code(status: int) -> Exit:
    return Exit.BAD_INPUT if status in (400, 401, 403, 404, 409) else Exit.MISSING_COMPONENT


async def _parse_sse(content: aiohttp.StreamReader) -> AsyncIterator[dict[str, Any]]:
    data: list[str] = []
    async for raw in content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line and data:
            try:
                body = json.loads("\n".join(data))
            except ValueError:
                body = None
            data = []
            if isinstance(body, dict):
                yield body

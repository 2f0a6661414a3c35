"""DC/OS service-account login: an RS256-signed login JWT exchanged for an expiring auth token.

Owns the token's life. A service account (uid + RSA private key) logs in by POSTing
`{"uid": uid, "token": <JWT {uid, exp} signed RS256 with its private key>}` to the login URL
(`https://<master>/acs/api/v1/auth/login`) and receives `{"token": ...}`, sent to Marathon as
`Authorization: token=<token>`. The token is refreshed before it expires (at `refresh_fraction`
of its lifetime, read from its own `exp` claim — decoded, not verified: the reactor only needs
the date, Marathon checks the signature) and after Marathon answered 401 with it.

Must not: log, repr or put into an exception the private key, the login JWT or the token; decide
what a refused login means for the process (the transport and the engine do).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from yarl import URL

from reactor.adapters.marathon.errors import MarathonUnreachable, Unauthorized

log = structlog.get_logger(__name__)
LOGIN_PATH = "/acs/api/v1/auth/login"
LOGIN_JWT_TTL_S = 120.0  # the self-signed login JWT only has to live until the login answers
NO_EXP_REFRESH_S = 3600.0  # a token without an `exp` claim is renewed hourly (as marathon-lb does)


class DcosLoginRefused(Unauthorized):
    """The login endpoint refused the service account (unknown uid, wrong key): not retryable."""


class DcosConfigError(ValueError):
    """The DC/OS account settings cannot be used, e.g. an unreadable key file (names the file,
    never its content)."""


@dataclass(frozen=True)
class ServiceAccount:
    uid: str
    login_url: str
    private_key: RSAPrivateKey = field(repr=False)


def default_login_url(marathon_url: str) -> str:
    """`<scheme>://<master>[:port]/acs/api/v1/auth/login` of a Marathon URL (its path prefix dropped)."""
    return str(URL(marathon_url).with_path(LOGIN_PATH).with_query(None).with_fragment(None))


def load_service_account(uid: str, key_file: str | Path, login_url: str) -> ServiceAccount:
    """Read and check the private key; raises DcosConfigError naming the file and the problem."""
    if not uid.strip():
        raise DcosConfigError("marathon.dcos_uid is empty")
    try:
        raw = Path(key_file).read_bytes()
    except OSError as exc:
        raise DcosConfigError(
            f"cannot read marathon.dcos_private_key_file {key_file}: {exc.strerror}") from None
    try:
        key = load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise DcosConfigError(
            f"marathon.dcos_private_key_file {key_file}: not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise DcosConfigError(f"marathon.dcos_private_key_file {key_file}: not an RSA key (RS256 needs RSA)")
    return ServiceAccount(uid=uid.strip(), login_url=login_url, private_key=key)


def token_expiry_s(token: str) -> float | None:
    """The `exp` claim of a JWT-shaped token (epoch seconds), or None when it has none."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


class DcosToken:
    """The current auth token of one service account; `await authorization(...)` keeps it fresh."""

    def __init__(
        self,
        account: ServiceAccount,
        *,
        clock: Callable[[], float] = time.time,
        refresh_fraction: float = 0.8,
        timeout_s: float = 10.0,
    ) -> None:
        if not 0 < refresh_fraction < 1:
            raise ValueError("refresh_fraction must be between 0 and 1")
        self.account = account
        self._clock = clock
        self._fraction = refresh_fraction
        self._timeout_s = timeout_s
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.logins = 0  # successful logins (first one included)

    def __repr__(self) -> str:
        return f"DcosToken(uid={self.account.uid!r}, token={'set' if self._token else 'none'})"

    @property
    def header_value(self) -> str | None:
        """`token=<token>` as it stands (possibly stale); None before the first login."""
        return f"token={self._token}" if self._token else None

    def due(self) -> bool:
        return self._token is None or self._clock() >= self._refresh_at

    def rejected(self, header_value: str | None) -> None:
        """Marathon answered 401 to this header: the token is not trusted any more."""
        if header_value is not None and header_value == self.header_value:
            self._token = None

    async def authorization(self, session: aiohttp.ClientSession, ssl_ctx: ssl.SSLContext | bool) -> str:
        """A fresh `token=...` header value, logging in first when none is held or it is due."""
        async with self._lock:  # concurrent callers share one login
            if self.due():
                await self._login(session, ssl_ctx)
            assert self._token is not None
            return f"token={self._token}"

    def _login_jwt(self) -> str:
        exp = int(self._clock() + LOGIN_JWT_TTL_S)
        return jwt.encode({"uid": self.account.uid, "exp": exp}, self.account.private_key, algorithm="RS256")

    async def _login(self, session: aiohttp.ClientSession, ssl_ctx: ssl.SSLContext | bool) -> None:
        url, uid = self.account.login_url, self.account.uid
        body = {"uid": uid, "token": self._login_jwt()}
        try:
            async with session.post(url, json=body, ssl=ssl_ctx, allow_redirects=False,
                                    timeout=aiohttp.ClientTimeout(total=self._timeout_s)) as resp:
                status, data = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MarathonUnreachable(f"DC/OS login at {url}: {type(exc).__name__}: {exc}",
                                      method="POST", route=LOGIN_PATH) from None
        if status in (400, 401, 403):
            raise DcosLoginRefused(f"DC/OS login as {uid!r} at {url} refused: {_iam_reason(data)}",
                                   status=status, method="POST", route=LOGIN_PATH)
        token = _token_of(data) if status == 200 else None
        if token is None:
            raise MarathonUnreachable(f"DC/OS login at {url}: HTTP {status}, no token in the answer",
                                      status=status, method="POST", route=LOGIN_PATH)
        now = self._clock()
        exp = token_expiry_s(token)
        self._refresh_at = now + (NO_EXP_REFRESH_S if exp is None else max(0.0, exp - now) * self._fraction)
        self._token = token
        self.logins += 1
        log.info("dcos login", uid=uid, refresh_in_s=round(self._refresh_at - now, 1))


def _token_of(data: bytes) -> str | None:
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    token = parsed.get("token") if isinstance(parsed, dict) else None
    return token if isinstance(token, str) and token else None


def _iam_reason(data: bytes) -> str:
    """IAM's own words (`title`, `description`, `code`), cut short; never anything we sent."""
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        parts = [str(parsed[k]) for k in ("title", "description", "code") if parsed.get(k)]
        if parts:
            return " - ".join(parts)[:300]
    return data.decode("utf-8", "replace").strip()[:200] or "(empty answer)"

"""DC/OS-style authentication for the embedded Marathon (`--dcos-auth UID:PUBLIC_KEY_PEM`).

Owns what a strict-mode DC/OS cluster does in front of Marathon, so the reactor's service-account
login is tested end to end: `POST /acs/api/v1/auth/login` takes `{"uid", "token"}` where `token` is
a JWT `{uid, exp}` signed RS256 with the account's private key, checks it with the account's
public key and answers `{"token": <auth token>}` — itself a JWT with `uid` and `exp` that
expires after `token_ttl_s`. Every other route requires `Authorization: token=<auth token>`;
a missing, unknown or expired one gets 401 with `WWW-Authenticate: acsjwt`. Under
`/_localmarathon/dcos-auth`: GET counts (logins, refused logins, rejected requests) and
POST `/expire` expires every token issued so far (what an IAM restart or revocation does).
The other `/_localmarathon/` extras stay open (test control, not Marathon's API).
Must not: implement Marathon logic, or accept an RS256 login without verifying its signature.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from reactor.localmarathon.web import Handler, json_response, strip_prefix

LOGIN_PATH = "/acs/api/v1/auth/login"
CONTROL_PATH = "/_localmarathon/dcos-auth"
_ISSUER_ALG = "HS256"  # our own tokens: only this server reads them back


def parse_dcos_auth(spec: str) -> tuple[str, RSAPublicKey]:
    """`UID:PUBLIC_KEY_PEM` — the PEM text itself or a path to a PEM file. Raises ValueError."""
    uid, sep, key = spec.partition(":")
    if not sep or not uid or not key:
        raise ValueError("--dcos-auth must be UID:PUBLIC_KEY_PEM (PEM text or a PEM file path)")
    if "-----BEGIN" in key:
        raw = key.encode()
    else:
        try:
            raw = Path(key).read_bytes()
        except OSError as exc:
            raise ValueError(f"--dcos-auth {uid}: cannot read {key}: {exc.strerror}") from None
    try:
        public = load_pem_public_key(raw)
    except (ValueError, TypeError):
        raise ValueError(f"--dcos-auth {uid}: not a PEM public key") from None
    if not isinstance(public, RSAPublicKey):
        raise ValueError(f"--dcos-auth {uid}: not an RSA public key (RS256 needs RSA)")
    return uid, public


def _unauthorized(title: str, description: str, code: str) -> web.Response:
    return json_response({"title": title, "description": description, "code": code}, 401,
                         headers={"WWW-Authenticate": "acsjwt"})


@dataclass
class DcosAuth:
    """Service accounts (uid → RSA public key) and the tokens issued to them."""

    accounts: dict[str, RSAPublicKey]
    token_ttl_s: float = 432000.0  # DC/OS's default: 5 days
    clock: Callable[[], float] = time.time
    logins: int = 0
    refused_logins: int = 0
    rejected_requests: int = 0
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _not_before: float = 0.0  # tokens issued before this are expired (POST .../expire)

    def __post_init__(self) -> None:
        if self.token_ttl_s <= 0:
            raise ValueError("--token-ttl-s must be > 0")

    def issue(self, uid: str) -> str:
        now = self.clock()
        claims = {"uid": uid, "iat": now, "exp": now + self.token_ttl_s, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self._secret, algorithm=_ISSUER_ALG)

    def check_login(self, body: object) -> str:
        """The uid of a valid login request; raises PermissionError with IAM-like words."""
        if not isinstance(body, dict) or not isinstance(body.get("uid"), str) or "token" not in body:
            raise PermissionError("ERR_INVALID_DATA", "Request data is invalid: expected uid and token")
        uid = body["uid"]
        key = self.accounts.get(uid)
        if key is None:
            raise PermissionError("ERR_INVALID_CREDENTIALS", "The login token is invalid (unknown uid)")
        try:
            claims = jwt.decode(str(body["token"]), key, algorithms=["RS256"], options={"require": ["exp"]})
        except jwt.ExpiredSignatureError:
            raise PermissionError("ERR_INVALID_CREDENTIALS", "The login token has expired") from None
        except jwt.PyJWTError:
            raise PermissionError("ERR_INVALID_CREDENTIALS", "The login token is invalid") from None
        if claims.get("uid") != uid:
            raise PermissionError("ERR_INVALID_CREDENTIALS", "The login token's uid does not match")
        return uid

    def token_ok(self, header: str) -> bool:
        if not header.startswith("token="):
            return False
        try:
            claims = jwt.decode(header[len("token="):], self._secret, algorithms=[_ISSUER_ALG],
                                options={"verify_exp": False, "verify_iat": False})
        except jwt.PyJWTError:
            return False
        now = self.clock()
        return float(claims.get("exp", 0)) > now and float(claims.get("iat", 0)) >= self._not_before

    def expire_all(self) -> None:
        self._not_before = self.clock() + 1e-6

    def stats(self) -> dict[str, object]:
        return {"accounts": sorted(self.accounts), "token_ttl_s": self.token_ttl_s, "logins": self.logins,
                "refused_logins": self.refused_logins, "rejected_requests": self.rejected_requests}

    # ---- HTTP ----------------------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        try:
            uid = self.check_login(body)
        except PermissionError as exc:
            self.refused_logins += 1
            code, description = exc.args
            return _unauthorized("Invalid login token", description, code)
        self.logins += 1
        return json_response({"token": self.issue(uid)})

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = strip_prefix(request.path)
        if request.path == LOGIN_PATH:
            if request.method != "POST":
                return json_response({"message": "HTTP 405 Method Not Allowed"}, 405)
            return await self.login(request)
        if path == CONTROL_PATH:
            return json_response(self.stats())
        if path == CONTROL_PATH + "/expire" and request.method == "POST":
            self.expire_all()
            return json_response(self.stats())
        if path.startswith("/_localmarathon/"):
            return await handler(request)
        if not self.token_ok(request.headers.get("Authorization", "")):
            self.rejected_requests += 1
            return _unauthorized("Authentication required",
                                 "Missing, invalid or expired token: log in at " + LOGIN_PATH,
                                 "ERR_MISSING_OR_INVALID_AUTH_TOKEN")
        return await handler(request)

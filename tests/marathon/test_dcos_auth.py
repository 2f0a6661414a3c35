"""DC/OS service-account login end to end: the reactor's MarathonClient and EventWatcher against
the embedded Marathon started with DC/OS auth (real HTTP, real RS256 signatures, expiring tokens).

The client's clock is injected where a test needs "later" (refresh before expiry); server-side
expiry is either real (a 1 s token TTL, waited for by condition) or forced through the embedded
Marathon's `/_localmarathon/dcos-auth/expire` (what an IAM revocation does)."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.dcos_auth import (
    DcosConfigError,
    DcosLoginRefused,
    DcosToken,
    default_login_url,
    load_service_account,
    token_expiry_s,
)
from reactor.adapters.marathon.errors import Unauthorized
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.localmarathon.dcos_auth import DcosAuth, parse_dcos_auth
from reactor.localmarathon.server import LocalMarathon
from tests.marathon.dcos_keys import key_pair, write_private_key, write_public_key
from tests.waiting import wait_until

UID = "bluegreen-reactor"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def server_auth(tmp: Path, ttl_s: float = 100.0) -> DcosAuth:
    uid, public = parse_dcos_auth(f"{UID}:{write_public_key(tmp, 'good')}")
    return DcosAuth({uid: public}, token_ttl_s=ttl_s)


def client_token(tmp: Path, lm: LocalMarathon, key: str = "good",
                 clock: FakeClock | None = None) -> DcosToken:
    account = load_service_account(UID, write_private_key(tmp, key), default_login_url(lm.url + "/marathon"))
    return DcosToken(account, clock=clock or time.time)


async def raw_status(url: str, authorization: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession() as s, s.get(url + "/v2/apps", headers=headers) as r:
        return r.status, r.headers.get("WWW-Authenticate", "")


async def test_login_then_every_call_carries_the_token(tmp_path: Path) -> None:
    auth = server_auth(tmp_path)
    async with LocalMarathon(port=0, dcos_auth=auth) as lm:
        assert await raw_status(lm.url) == (401, "acsjwt")
        token = client_token(tmp_path, lm)
        async with MarathonClient([lm.url + "/marathon"], dcos=token) as m:
            assert await m.list_apps() == []
            assert await m.info()
            header = token.header_value
        assert auth.logins == 1 and auth.rejected_requests == 1  # only the raw call above
        assert header is not None and header.startswith("token=")
        assert await raw_status(lm.url, header) == (200, "")
        exp = token_expiry_s(header.removeprefix("token="))
        assert exp is not None and exp > time.time() + 50


async def test_refreshes_before_expiry_without_a_401(tmp_path: Path) -> None:
    clock = FakeClock()
    auth = server_auth(tmp_path, ttl_s=100.0)
    async with LocalMarathon(port=0, dcos_auth=auth) as lm:
        async with MarathonClient([lm.url], dcos=client_token(tmp_path, lm, clock=clock)) as m:
            await m.list_apps()
            clock.now += 79.0  # before 80 % of the lifetime: the token is kept
            await m.list_apps()
            assert auth.logins == 1
            clock.now += 2.0  # past 80 %: logged in again before the call
            await m.list_apps()
            assert m.auth_error is None
    assert auth.logins == 2
    assert auth.rejected_requests == 0  # never sent a stale token


async def test_relogs_in_after_a_401_and_the_call_succeeds(tmp_path: Path) -> None:
    auth = server_auth(tmp_path)
    failures: list[str] = []
    async with LocalMarathon(port=0, dcos_auth=auth) as lm:
        async with MarathonClient([lm.url], dcos=client_token(tmp_path, lm),
                                  on_auth_failure=failures.append) as m:
            await m.list_apps()
            async with aiohttp.ClientSession() as s:
                async with s.post(lm.url + "/_localmarathon/dcos-auth/expire") as r:
                    assert r.status == 200
            # a non-idempotent call too: a 401 means it did not run, so re-sending is safe
            app = await m.create_app({"id": "/web", "cmd": "sleep 100", "instances": 0})
            assert app.id == "/web"
            assert m.auth_error is None
    assert auth.rejected_requests == 1 and auth.logins == 2
    assert failures == []


async def test_real_expiry_on_the_server_is_repaired_by_a_fresh_login(tmp_path: Path) -> None:
    clock = FakeClock()  # frozen: the client believes its token is fresh; only the server knows
    auth = server_auth(tmp_path, ttl_s=1.0)
    async with LocalMarathon(port=0, dcos_auth=auth) as lm:
        token = client_token(tmp_path, lm, clock=clock)
        async with MarathonClient([lm.url], dcos=token) as m:
            await m.list_apps()
            old = token.header_value

            async def expired() -> bool:
                return (await raw_status(lm.url, old))[0] == 401
            await wait_until(expired, timeout_s=10, what="the 1 s token to expire on the server")
            assert await m.list_apps() == []
            assert token.header_value != old
    assert auth.logins == 2


async def test_wrong_key_is_refused_once_with_a_clear_reason_and_no_secret(tmp_path: Path) -> None:
    auth = server_auth(tmp_path)
    async with LocalMarathon(port=0, dcos_auth=auth) as lm:
        m = MarathonClient([lm.url], dcos=client_token(tmp_path, lm, key="other"))
        with capture_logs() as logs, pytest.raises(DcosLoginRefused) as info:
            await m.start()
    text = str(info.value)
    assert f"DC/OS login as '{UID}'" in text and "refused" in text and "invalid" in text, text
    assert info.value.status == 401
    assert auth.refused_logins == 1 and auth.logins == 0
    private = key_pair("other")[0].decode()
    assert private.splitlines()[1] not in text + repr(logs)
    assert m.auth_error is not None


async def test_unfixable_401_sets_the_flag_counts_and_recovers(tmp_path: Path) -> None:
    auth = server_auth(tmp_path)
    failures: list[str] = []
    async with LocalMarathon(port=0, dcos_auth=auth) as lm:
        async with MarathonClient([lm.url], dcos=client_token(tmp_path, lm),
                                  on_auth_failure=failures.append, max_attempts=1) as m:
            await m.list_apps()
            public = auth.accounts.pop(UID)  # the service account was deleted in IAM
            auth.expire_all()
            with capture_logs() as logs:
                for _ in range(3):
                    with pytest.raises(Unauthorized):
                        await m.list_apps()
            assert m.auth_error is not None and "refused" in m.auth_error
            assert len(failures) == 3
            errors = [e for e in logs if e["log_level"] == "error"]
            assert len(errors) == 1 and "refused our credentials" in errors[0]["event"], logs

            auth.accounts[UID] = public  # fixed by the operator: the next call recovers
            assert await m.list_apps() == []
            assert m.auth_error is None


async def test_event_stream_reconnects_with_a_fresh_token_after_expiry(tmp_path: Path) -> None:
    auth = server_auth(tmp_path)
    async with LocalMarathon(port=0, heartbeat_s=0.2, dcos_auth=auth) as lm:
        async with MarathonClient([lm.url], dcos=client_token(tmp_path, lm)) as m:
            resyncs: list[object] = []
            watcher = EventWatcher(m, on_event=lambda _e: None, on_resync=resyncs.append,
                                   backoff_initial_s=0.05, backoff_max_s=0.2)
            async with watcher:
                await wait_until(lambda: watcher.live and resyncs, what="the stream live and resynced")
                async with aiohttp.ClientSession() as s:
                    async with s.post(lm.url + "/_localmarathon/dcos-auth/expire") as r:
                        assert r.status == 200
                    async with s.post(lm.url + "/_localmarathon/faults",
                                      json={"drop_event_streams": True}) as r:
                        assert r.status == 200
                await wait_until(lambda: watcher.connects >= 2 and watcher.live and len(resyncs) >= 2,
                                 what="the stream back with a fresh token")
            assert m.auth_error is None
    assert auth.logins >= 2


def test_settings_problems_are_named(tmp_path: Path) -> None:
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("hello")
    with pytest.raises(DcosConfigError, match=r"key\.pem: not an unencrypted PEM private key"):
        load_service_account(UID, not_a_key, "https://m/acs/api/v1/auth/login")
    with pytest.raises(DcosConfigError, match="cannot read"):
        load_service_account(UID, tmp_path / "missing.pem", "https://m/acs/api/v1/auth/login")
    assert default_login_url("https://master.mesos/service/marathon") == \
        "https://master.mesos/acs/api/v1/auth/login"
    with pytest.raises(ValueError, match="UID:PUBLIC_KEY_PEM"):
        parse_dcos_auth("no-colon")
    with pytest.raises(ValueError, match="not a PEM public key"):
        parse_dcos_auth(f"{UID}:{not_a_key}")
    token = DcosToken(load_service_account(UID, write_private_key(tmp_path, "good"), "https://m/x"))
    assert "BEGIN" not in repr(token) and "token=none" in repr(token)

"""`bluegreen run` as a DC/OS service account, end to end: the real daemon (subprocess) logs in at
the embedded Marathon's `/acs/api/v1/auth/login`, re-logs in after its tokens expire, turns a 401
it cannot fix into one error line, a metric and `/readyz` 503 (and recovers), and a bad key or a
bad `--dcos-auth` is one clear line with the contract's exit code."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from reactor.localmarathon.dcos_auth import DcosAuth, parse_dcos_auth
from reactor.localmarathon.server import LocalMarathon
from tests.cli.support import Daemon, assert_one_line_error, cli, wait_until, write_config, write_green
from tests.marathon.dcos_keys import write_private_key, write_public_key

UID = "bluegreen-reactor"


def dcos_config(tmp: Path, marathon_url: str, key: str) -> Path:
    cfg = write_config(tmp, marathon_url)
    text = cfg.read_text(encoding="utf-8").replace(
        "event_idle_timeout_s = 5.0",
        f'event_idle_timeout_s = 5.0\ndcos_uid = "{UID}"\n'
        f'dcos_private_key_file = "{write_private_key(tmp, key)}"')
    cfg.write_text(text, encoding="utf-8")
    return cfg


def metric(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name + " ") or line.startswith(name + "{")]
    return sum(values)


async def post(url: str, body: object | None = None) -> None:
    async with aiohttp.ClientSession() as s, s.post(url, json=body) as r:
        assert r.status == 200, await r.text()


async def test_daemon_logs_in_relogs_in_and_reports_an_unfixable_401(tmp_path: Path) -> None:
    auth = DcosAuth(dict([parse_dcos_auth(f"{UID}:{write_public_key(tmp_path, 'good')}")]))
    async with LocalMarathon(port=0, executor="virtual", heartbeat_s=0.5, dcos_auth=auth) as lm:
        async with Daemon(dcos_config(tmp_path, lm.url + "/service/marathon", "good")) as daemon:
            _, text = await daemon.text("/metrics")
            assert metric(text, "bluegreen_event_stream_connected") == 1.0, text
            assert 'bluegreen_build_info{python="' in text
            assert auth.logins == 1

            # every token expires (IAM revocation) and the stream drops: a fresh login, ready again
            await post(lm.url + "/_localmarathon/dcos-auth/expire")
            await post(lm.url + "/_localmarathon/faults", {"drop_event_streams": True})
            await wait_until(lambda: auth.logins >= 2, what="a second login")

            async def connected_and_ready() -> bool:
                _, t = await daemon.text("/metrics")
                status, _ = await daemon.get("/readyz")
                return metric(t, "bluegreen_event_stream_connected") == 1.0 and status == 200
            await wait_until(connected_and_ready, what="the stream back and /readyz 200")

            # the account is deleted in IAM: nothing the reactor can fix
            public = auth.accounts.pop(UID)
            await post(lm.url + "/_localmarathon/dcos-auth/expire")
            await post(lm.url + "/_localmarathon/faults", {"drop_event_streams": True})

            async def unready() -> bool:
                status, body = await daemon.get("/readyz")
                return status == 503 and "refuses our credentials" in body.get("reason", "")
            await wait_until(unready, what="/readyz 503 naming the refused login")
            _, text = await daemon.text("/metrics")
            assert metric(text, "bluegreen_marathon_auth_failures_total") >= 1.0, text
            assert metric(text, "bluegreen_event_stream_connected") == 0.0, text
            await wait_until(lambda: auth.refused_logins >= 2, what="the reactor to keep trying")

            auth.accounts[UID] = public  # fixed by the operator: ready again without a restart
            async def ready() -> bool:
                status, _ = await daemon.get("/readyz")
                return status == 200
            await wait_until(ready, timeout_s=40, what="/readyz 200 once the account is back")
            rc = await daemon.stop()
    log = daemon.log()
    assert rc == 0, log
    refusals = [ln for ln in log.splitlines() if "refused our credentials" in ln]
    assert len(refusals) == 1, log  # one line per outage, not one per retry
    assert "BEGIN" not in log and "token=" not in log


async def test_wrong_key_at_start_is_one_line_and_exit_4(tmp_path: Path) -> None:
    auth = DcosAuth(dict([parse_dcos_auth(f"{UID}:{write_public_key(tmp_path, 'good')}")]))
    async with LocalMarathon(port=0, executor="virtual", dcos_auth=auth) as lm:
        r = await cli("run", "--config", str(dcos_config(tmp_path, lm.url, "other")))
    line = assert_one_line_error(r, 4, "Marathon refused our credentials", f"DC/OS login as '{UID}'",
                                 "refused")
    assert "BEGIN" not in line and auth.refused_logins == 1


async def test_unusable_key_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = dcos_config(tmp_path, "http://127.0.0.1:9", "good")
    (tmp_path / "good.pem").write_text("not a key\n")
    r = await cli("run", "--config", str(cfg))
    assert_one_line_error(r, 2, "good.pem", "not an unencrypted PEM private key")
    checked = await cli("config", "check", str(cfg))  # `config check` refuses what `run` would
    assert checked.rc == 2 and "marathon.dcos_private_key_file" in checked.err, checked
    assert "not an unencrypted PEM private key" in checked.err, checked
    half = write_config(tmp_path, "http://127.0.0.1:9", name="half.toml")
    half.write_text(half.read_text().replace("event_idle_timeout_s = 5.0", f'dcos_uid = "{UID}"'))
    r = await cli("config", "check", str(half))
    assert r.rc == 2 and "dcos_uid and dcos_private_key_file go together" in r.out + r.err, r


async def test_local_marathon_bad_dcos_auth_is_one_line_and_exit_2(tmp_path: Path) -> None:
    r = await cli("local-marathon", "--port", "0", "--dcos-auth", "no-colon-here")
    assert_one_line_error(r, 2, "--dcos-auth must be UID:PUBLIC_KEY_PEM")
    r = await cli("local-marathon", "--port", "0", "--dcos-auth", f"{UID}:{tmp_path / 'missing.pem'}")
    assert_one_line_error(r, 2, "cannot read")


async def test_deploy_creates_green_through_the_service_account(tmp_path: Path) -> None:
    auth = DcosAuth(dict([parse_dcos_auth(f"{UID}:{write_public_key(tmp_path, 'good')}")]))
    async with LocalMarathon(port=0, executor="virtual", lenient=True, dcos_auth=auth) as lm:
        cfg = dcos_config(tmp_path, lm.url + "/marathon", "good")
        r = await cli("deploy", str(write_green(tmp_path)), "--config", str(cfg), "--detach", "--json")
        assert r.rc == 0, r
        async with aiohttp.ClientSession() as s:
            async with s.get(lm.url + "/v2/apps/web") as resp:
                assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "acsjwt"
        assert auth.logins >= 1 and auth.rejected_requests == 1  # only the call just above
        assert lm.state is not None and "/web" in lm.state.cluster.apps, "GREEN was not created"

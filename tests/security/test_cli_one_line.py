"""Every item of the issue's "one line" list, through the real `bluegreen` executable: one line on
stderr naming the problem, the contract's exit code, no traceback."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

from tests.cli.support import assert_one_line_error, cli, finish, start_cli
from tests.waiting import free_port


async def test_status_api_given_as_a_url_is_not_doubled() -> None:
    port = free_port()
    r = await cli("status", "--api", f"http://127.0.0.1:{port}")
    line = assert_one_line_error(r, 3, f"http://127.0.0.1:{port}")  # 3: the daemon is not running
    assert "http://http://" not in line


async def test_listen_on_every_interface_is_called_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[api]\nlisten = ":{port}"\ntoken = "x"\n')
    r = await cli("status", "--config", str(cfg))
    assert "http://:" not in assert_one_line_error(r, 3, f"http://127.0.0.1:{port}")


async def test_run_refuses_a_taken_api_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[api]\nlisten = "127.0.0.1:{port}"\n[state]\npath = "{tmp_path}/s.db"\n')
        r = await cli("run", "--config", str(cfg))
    assert_one_line_error(r, 2, f"127.0.0.1:{port}", "cannot listen")


async def test_run_refuses_bad_listen_and_open_listen_without_token(tmp_path: Path) -> None:
    r = await cli("run", env={"BLUEGREEN_API__LISTEN": "localhost"})
    assert_one_line_error(r, 2, "api.listen", "HOST:PORT")
    r = await cli("run", env={"BLUEGREEN_API__LISTEN": ":0"})
    assert_one_line_error(r, 2, "api.token")


async def test_unreadable_token_files(tmp_path: Path) -> None:
    for key in ("API__TOKEN_FILE", "MARATHON__TOKEN_FILE"):
        r = await cli("run", env={f"BLUEGREEN_{key}": str(tmp_path / "missing")})
        assert_one_line_error(r, 2, key.lower().replace("__", "."), "cannot read")


async def test_marathon_urls_as_a_plain_url_in_the_environment(tmp_path: Path) -> None:
    r = await cli("config", "check", str(_empty(tmp_path)), env={"BLUEGREEN_MARATHON__URLS": "http://m:8080"})
    assert (r.rc, r.out.strip()) == (0, f"{_empty(tmp_path)}: ok"), r


async def test_deploy_of_deep_binary_or_mistyped_json(tmp_path: Path) -> None:
    cases = {"deep.json": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
             "binary.json": (bytes(range(256)) * 4, "not valid JSON"),
             "string.json": (b'{"id": "/web", "cmd": "sleep 9", "instances": "3"}', "/instances")}
    for name, (content, needle) in cases.items():
        (tmp_path / name).write_bytes(content)
        r = await cli("deploy", str(tmp_path / name), "--dry-run")
        assert_one_line_error(r, 2, name, needle)


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.toml"
    path.write_text("")
    return path


async def test_credentials_in_a_marathon_url_stay_out_of_the_error_line(tmp_path: Path) -> None:
    app = tmp_path / "app.json"
    app.write_text('{"id": "/web", "cmd": "sleep 9"}')
    url = f"http://ops:pw-secret-1@127.0.0.1:{free_port()}"
    r = await cli("deploy", str(app), "--detach", env={
        "BLUEGREEN_MARATHON__URLS": url, "BLUEGREEN_LB__DRIVER": "none",
        "BLUEGREEN_MARATHON__REQUEST_TIMEOUT_S": "1"})
    assert r.rc == 4, r
    assert "pw-secret-1" not in r.err + r.out and "http://***@127.0.0.1" in r.err


async def test_local_marathon_refuses_bad_numbers_before_listening() -> None:
    cases = {("--port", "99999"): "0-65535", ("--standby-port", "-1"): "0-65535",
             ("--heartbeat-s", "0"): "> 0", ("--heartbeat-s", "-1"): "> 0",
             ("--log-level", "loud"): "invalid choice", ("--port-range", "garbage"): "--port-range"}
    for argv, needle in cases.items():
        r = await cli("local-marathon", "--port", "0", *argv)
        # argparse's own refusals print the usage first, as for every command; then one line
        last = [ln for ln in r.err.splitlines() if ln.strip()][-1]
        assert r.rc == 2 and "Traceback" not in r.err and not r.out.strip(), r
        assert argv[0] in last and needle in last, r


async def test_sample_app_on_a_taken_port_is_bad_usage() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = await cli("sample-app", "--port", str(port))
    assert_one_line_error(r, 2, f"127.0.0.1:{port}", "cannot listen")


async def test_ctrl_c_at_any_moment_of_start_up_prints_no_traceback() -> None:
    """While the command's modules are still being imported, and after: exit 130 (or the
    command's own clean exit), never a KeyboardInterrupt traceback."""
    for delay_s in (0.05, 0.1, 0.2, 0.4, 0.8):
        proc = await start_cli("local-marathon", "--port", "0", "--executor", "virtual")
        await asyncio.sleep(delay_s)
        proc.send_signal(signal.SIGINT)
        r = await finish(proc)
        assert r.rc in (0, 130, -signal.SIGINT) and "Traceback" not in r.err, (delay_s, r)


async def test_deploy_refuses_a_group_name_that_cannot_name_a_group(tmp_path: Path) -> None:
    app = tmp_path / "app.json"
    app.write_text('{"id": "/web", "cmd": "sleep 9"}')
    for group, needle in (("BAD GROUP!", "only letters, digits"), ("", "must not be empty"),
                          ("x" * 201, "at most 200")):
        r = await cli("deploy", str(app), "--group", group, "--dry-run")
        assert_one_line_error(r, 2, needle)
    labelled = tmp_path / "labelled.json"
    labelled.write_text('{"id": "/web", "cmd": "sleep 9", "labels": {"BLUEGREEN_GROUP": "a;b"}}')
    assert_one_line_error(await cli("deploy", str(labelled), "--dry-run"), 2, "'a;b'")
    ok = await cli("deploy", str(app), "--group", "prod/api-2.x", "--dry-run")
    assert ok.rc == 0 and ok.json()["group"] == "prod/api-2.x", ok

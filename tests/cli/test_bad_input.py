"""Bad input: one clear line on stderr, the contract's exit code, and NOTHING changed — neither in
Marathon (`GET /v2/apps` and the embedded Marathon's request counts before/after) nor in the
state store (its tables read with sqlite3)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.cli.support import (
    GROUP,
    REPO,
    TOKEN,
    Cluster,
    Daemon,
    assert_one_line_error,
    cli,
    cluster,
    free_port,
    write_config,
    write_green,
)

TABLES = ("intents", "leases", "history", "commands", "deliveries")


def store_rows(path: Path) -> dict[str, Any]:
    """Every row of the state store's tables ({} when the file does not exist)."""
    if not path.exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES if t in names}


async def unchanged(c: Cluster) -> tuple[Any, dict[str, int]]:
    return await c.apps_raw(), await c.writes()


async def test_bad_config_and_config_check(tmp_path: Path) -> None:
    async with cluster(blue_instances=1) as c:
        good = write_config(tmp_path, c.url)
        bad = tmp_path / "bad.toml"
        bad.write_text(good.read_text().replace("event_idle_timeout_s = 5.0", "event_idle_timeout_s = 5.0\n"
                                                "bogus_key = 1"))
        before = await unchanged(c)
        deploy = await cli("deploy", str(write_green(tmp_path)), "--config", str(bad))
        run = await cli("run", "--config", str(bad))
        status = await cli("status", "--config", str(bad))
        after = await unchanged(c)
    for result in (deploy, run, status):
        assert_one_line_error(result, 2, str(bad), "marathon.bogus_key", "unknown key")
    assert after == before
    assert store_rows(tmp_path / "bg.db") == {}

    broken = tmp_path / "broken.toml"
    broken.write_text('[marathon]\nurls = ["ftp://x"]\nbogus = 1\n[lb]\ndriver = "nope"\n'
                      '[deploy]\nbatch_size = 0\n[extra]\nx = 1\n')
    check = await cli("config", "check", str(broken))
    assert check.rc == 2 and not check.out, check
    lines = check.err.splitlines()
    assert lines[0] == f"bluegreen: {broken}: 5 problem(s)", check
    listed = sorted(ln.strip().split(":")[0] for ln in lines[1:])
    assert listed == ["deploy.batch_size", "extra", "lb.driver", "marathon.bogus", "marathon.urls"], check
    assert not any("Value error" in ln for ln in lines), check
    ok = await cli("config", "check", str(REPO / "config" / "reactor.toml"))
    assert ok.rc == 0 and ok.out.strip().endswith(": ok"), ok
    not_toml = tmp_path / "garbage.toml"
    not_toml.write_text("[marathon\n")
    garbage = await cli("config", "check", str(not_toml))
    assert garbage.rc == 2 and "not valid TOML" in garbage.err, garbage


async def test_bad_app_definitions_send_nothing(tmp_path: Path) -> None:
    async with cluster(blue_instances=1) as c:
        cfg = write_config(tmp_path, c.url)
        good = json.loads(write_green(tmp_path).read_text())
        cases = {
            "invalid.json": ('{"id": "/web", ', "not valid JSON"),
            "negative.json": (json.dumps({**good, "instances": -1}), "/instances"),
            "badid.json": (json.dumps({**good, "id": "/Web_App"}), "/id"),
        }
        before = await unchanged(c)
        results = {}
        for name, (text, _) in cases.items():
            (tmp_path / name).write_text(text)
            results[name] = await cli("deploy", str(tmp_path / name), "--config", str(cfg))
        batch0 = await cli("deploy", str(write_green(tmp_path)), "--config", str(cfg), "--batch-size", "0")
        missing = await cli("deploy", str(tmp_path / "nope.json"), "--config", str(cfg))
        after = await unchanged(c)
    for name, (_, needle) in cases.items():
        assert_one_line_error(results[name], 2, name, needle)
    assert_one_line_error(batch0, 2, "--batch-size")
    assert_one_line_error(missing, 2, "nope.json")
    assert after == before, "a bad definition reached Marathon"
    assert after[1]["POST /v2/apps"] == 1  # BLUE's creation by the test, and nothing else
    assert store_rows(tmp_path / "bg.db") == {}


async def test_marathon_unreachable_is_exit_4(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    result = await cli("deploy", str(write_green(tmp_path)), "--config", str(cfg))
    assert_one_line_error(result, 4, "Marathon unreachable")
    rows = store_rows(tmp_path / "bg.db")
    assert not rows.get("intents") and not rows.get("leases"), rows


async def test_missing_haproxy_socket_is_exit_3_and_nothing_is_created(tmp_path: Path) -> None:
    async with cluster(blue_instances=1) as c:
        sock = tmp_path / "no-such-haproxy.sock"
        cfg = write_config(tmp_path, c.url, lb=f'driver = "haproxy"\n[lb.haproxy]\nsocket = "{sock}"',
                           name="haproxy.toml")
        before = await unchanged(c)
        result = await cli("deploy", str(write_green(tmp_path, instances=1)), "--config", str(cfg))
        after = await unchanged(c)
        rows = store_rows(tmp_path / "bg.db")
        # the group's lease was given back: a deploy without LB goes through at once
        retry = await cli("deploy", str(write_green(tmp_path, instances=1)), "--config",
                          str(write_config(tmp_path, c.url)), "--json")
    line = assert_one_line_error(result, 3, str(sock), "stats socket", 'driver = "none"')
    assert "unavailable" in line
    assert after == before
    assert not rows.get("intents") and not rows.get("leases"), rows
    assert retry.rc == 0 and retry.json()["outcome"] == "completed", retry


async def test_control_commands_refused_change_nothing(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url, deploy="auto_promote = false")
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await daemon.wait_phase("awaiting_promotion")
            before = await unchanged(c), store_rows(tmp_path / "bg.db")["commands"]
            unknown = await cli("promote", "nosuchgroup", "--config", str(cfg))
            wrong = await cli("promote", GROUP, "--config", str(cfg), env={"BLUEGREEN_API__TOKEN": "wrong"})
            no_token_cfg = write_config(tmp_path, c.url, token=None, name="client.toml",
                                        api_port=int(daemon.api.rsplit(":", 1)[1]))
            missing = await cli("promote", GROUP, "--config", str(no_token_cfg))
            not_paused = await cli("resume", GROUP, "--config", str(cfg))
            after = await unchanged(c), store_rows(tmp_path / "bg.db")["commands"]
            row = await daemon.deployment()
            assert await daemon.stop() == 0
        # a daemon with no token configured refuses every POST (403)
        open_cfg = write_config(tmp_path, c.url, token=None, name="open.toml")
        async with Daemon(open_cfg, log_name="open.log"):
            forbidden = await cli("promote", GROUP, "--config", str(cfg), "--api",
                                  Daemon(open_cfg).api.removeprefix("http://"))
    assert_one_line_error(unknown, 2, "nosuchgroup")
    assert_one_line_error(wrong, 2, "refused our API token")
    assert_one_line_error(missing, 2, "no API token", "BLUEGREEN_API__TOKEN")
    assert_one_line_error(not_paused, 2, "not paused")
    assert_one_line_error(forbidden, 2, "token")
    assert after == before
    assert row is not None and row["phase"] == "awaiting_promotion", row
    no_daemon = await cli("status", "--config", str(cfg))
    assert_one_line_error(no_daemon, 3, "bluegreen run")  # 4 is "Marathon unreachable"
    assert TOKEN not in wrong.err + missing.err + forbidden.err

"""The operator's view end to end (real daemon subprocess, real embedded Marathon, real SQLite):
`watch`, `deploy` following a daemon, `--detach` handing over at once, `pause`/`resume` answers,
Ctrl-C on `deploy` and the way out without a daemon, one actor per group (exit 3 naming it),
`deploy -` with `--set`, `--dry-run` of a first deploy, `history` without a daemon and `undo`."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import (
    BLUE_ID,
    GROUP,
    REPO,
    Daemon,
    Result,
    assert_one_line_error,
    cli,
    cli_env,
    cluster,
    finish,
    start_cli,
    wait_until,
    write_config,
    write_green,
)


def long_lease(cfg: Path) -> Path:
    """A lease of 10 minutes: a daemon that waited out (half) a lease held by `deploy` would not
    act within any test's deadline, so completing proves the handover was immediate."""
    cfg.write_text(cfg.read_text().replace("[state]\n", "[state]\nlease_ttl_s = 600\n"), encoding="utf-8")
    return cfg


async def cli_stdin(data: bytes, *args: str) -> Result:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reactor", *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(), cwd=str(REPO))
    out, err = await asyncio.wait_for(proc.communicate(data), 60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


async def test_watch_follows_a_detached_deployment_the_daemon_starts_at_once(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = long_lease(write_config(tmp_path, c.url))
        async with Daemon(cfg) as daemon:
            watch = await start_cli("watch", GROUP, "--until-done", "--config", str(cfg))
            r = await cli("deploy", str(write_green(tmp_path, instances=2, health="healthy-after-1s")),
                          "--config", str(cfg), "--detach")
            watched = await finish(watch, timeout_s=60)
            status = await cli("status", "--config", str(cfg))
            hist = await cli("history", GROUP, "--config", str(cfg), "--json")
            assert await daemon.stop() == 0
            log = json_lines(daemon.log())
    assert r.rc == 0 and f"Follow it: bluegreen watch {GROUP}" in r.out, r
    assert watched.rc == 0, watched
    lines = watched.out.splitlines()
    events = [ln.split()[2] for ln in lines if ln.startswith(f"{GROUP}: ") and ln.split()[1].count(":") == 2]
    for name in ("deployment.started", "green.scaled", "green.healthy", "blue.killed",
                 "deployment.completed"):
        assert name in events, f"{name} not shown:\n{watched.out}"
    summaries = [ln for ln in lines if " · GREEN healthy " in ln]
    assert any(" shifting · " in ln or " scaling_green · " in ln for ln in summaries), watched.out
    assert summaries[-1].startswith(f"{GROUP}: done · GREEN healthy 2/2"), watched.out
    assert "None" not in watched.out
    assert status.rc == 0 and status.out.strip() == "no current deployments", status  # finished: not current
    record = hist.json()["history"][0]
    assert record["green_definition"]["id"] == "/web"  # read from Marathon by the daemon (undo needs it)
    started = [e for e in log if e.get("event") == "reactor started"]
    assert len(started) == 1 and started[0]["marathon_leader"] and started[0]["groups"] == [GROUP], started
    assert started[0]["store"] == str(tmp_path / "bg.db") and started[0]["lb"] == "none"
    done = [e for e in log if e.get("event") == "action done"]
    assert any("marathon_deployment_id" in e for e in done) and not any("deployment_id" in e for e in done)


async def test_deploy_with_a_daemon_hands_over_and_follows_it(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = long_lease(write_config(tmp_path, c.url))
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg),
                          timeout_s=60)
            writes = await c.writes()
            # a group with no deployment: watch says it waits for one (not silence), Ctrl-C ends it
            idle = await start_cli("watch", "nosuch", "--until-done", "--config", str(cfg))
            assert idle.stderr is not None
            said = (await asyncio.wait_for(idle.stderr.readline(), 30)).decode()
            idle.send_signal(signal.SIGINT)
            stopped = await finish(idle)
            assert await daemon.stop() == 0
        apps = await c.group_apps()
    assert "no deployment for group 'nosuch' yet; waiting for one" in said, said
    assert stopped.rc == 0 and "Traceback" not in stopped.err, stopped
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].startswith("created GREEN /web") and "drives it; following" in lines[1], r.out
    assert lines[-1] == "completed: /web (driven by the daemon)", r.out
    # one actor: no doubled write (batch 1, 2 instances: 2 scale-ups, at most 2 kills, 1 delete)
    assert writes.get("PUT /v2/apps/{id}") == 2 and writes.get("DELETE /v2/apps/{id}") == 1, writes
    assert 1 <= writes.get("POST /v2/tasks/delete", 0) <= 2, writes
    assert list(apps) == ["/web"] and apps["/web"]["instances"] == 2


async def test_pause_and_resume_answer_with_the_new_phase(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url)
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2, health="healthy-after-2s")),
                          "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await daemon.wait_phase("scaling_green")
            live = await start_cli("status", GROUP, "--watch", "--config", str(cfg))
            paused = await cli("pause", GROUP, "--config", str(cfg))
            status = await cli("status", GROUP, "--config", str(cfg))
            resumed = await cli("resume", GROUP, "--config", str(cfg), "--json")
            await daemon.wait_phase("done", timeout_s=40)
            assert live.stdout is not None
            head: list[str] = []

            async def shows_done() -> bool:
                head.append((await live.stdout.readline()).decode())  # type: ignore[union-attr]
                assert head[-1], "".join(head)
                return head[-1].startswith(f"{GROUP}: done ")
            await wait_until(shows_done, timeout_s=20, what="the live view showing done", interval_s=0)
            live.send_signal(signal.SIGINT)  # watching is read-only: Ctrl-C ends it with 0
            watched = await finish(live)
            assert await daemon.stop() == 0
    abort_help = await cli("abort", "--help")
    assert paused.rc == 0 and paused.out == f"{GROUP}: paused — phase now paused\n", paused
    assert status.rc == 0 and status.out.startswith(f"{GROUP}: paused ") and "reason: aborted" in status.out
    assert resumed.rc == 0 and resumed.json()["phase_after"] != "paused", resumed
    assert watched.rc == 0 and "Traceback" not in watched.err, watched
    out = "".join(head) + watched.out
    shown = [ln.split(" · ")[0] for ln in out.splitlines() if ln.startswith(f"{GROUP}: ")]
    assert f"{GROUP}: paused" in shown and f"{GROUP}: done" in shown, out
    assert "deployment.paused" in out and "deployment.resumed" in out
    paused_lines = [ln for ln in out.splitlines() if ln.startswith(f"{GROUP}: paused ")]
    assert all(ln.count("aborted by operator") == 1 for ln in paused_lines), out  # each blocker once
    assert "pause" in abort_help.out and "Argo" in abort_help.out and "rollback" in abort_help.out


@pytest.mark.parametrize(("way_out", "outcome", "signum"), [("resume", "completed", signal.SIGINT),
                                                           ("rollback", "rolled_back", signal.SIGTERM)])
async def test_ctrl_c_pauses_and_the_named_command_works_without_a_daemon(
        tmp_path: Path, way_out: str, outcome: str, signum: int) -> None:
    """Ctrl-C, or SIGTERM (a cancelled CI job), pauses the deployment and gives the lease back:
    the command named right after works at once (a lease left held would answer exit 3). With a
    rollback window configured, the daemon-less commands end without one (as `deploy` does)."""
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url)
        cfg.write_text(cfg.read_text().replace("rollback_window_s = 0.0", "rollback_window_s = 600"))
        proc = await start_cli("deploy", str(write_green(tmp_path, instances=2, health="healthy-after-3s")),
                               "--config", str(cfg), "--set", "instances=3")
        assert proc.stdout is not None
        seen: list[str] = []

        async def started() -> bool:
            line = (await proc.stdout.readline()).decode()  # type: ignore[union-attr]
            seen.append(line)
            assert line, "".join(seen)
            return "deployment.started" in line
        await wait_until(started, timeout_s=30, what="deploy's deployment.started line", interval_s=0)
        proc.send_signal(signum)
        stopped = await finish(proc, timeout_s=30)
        apps_paused = await c.apps()
        dry = await cli("deploy", str(write_green(tmp_path, name="next.json")), "--config", str(cfg),
                        "--dry-run")
        after = await cli(way_out, GROUP, "--config", str(cfg), "--json", timeout_s=60)
        apps = await c.group_apps()
    assert stopped.rc == 128 + signum, stopped
    # the app asked for 3 instances; BLUE's count (2) is the target, and deploy says so
    assert "note: the target is BLUE's count (2), not the app's 'instances' (3)" in "".join(seen), seen
    assert_one_line_error(dry, 2, "unfinished deployment (phase paused)")  # as the real deploy
    assert f"interrupted: {GROUP} paused" in stopped.err, stopped
    assert f"bluegreen resume {GROUP} --config {cfg}" in stopped.err
    assert f"bluegreen rollback {GROUP} --config {cfg}" in stopped.err
    assert "Traceback" not in stopped.err
    assert apps_paused[BLUE_ID]["instances"] == 2  # nothing of BLUE moved
    assert after.rc == 0, after
    assert after.json() == {"group": GROUP, "command": way_out, "outcome": outcome, "driven_by": "cli"}
    assert list(apps) == (["/web"] if outcome == "completed" else [BLUE_ID]), apps


async def test_another_actor_holding_the_group_is_exit_3_naming_it(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url, deploy="auto_promote = false")
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await daemon.wait_phase("awaiting_promotion")
            # same state store, but the daemon's API is not where this config looks
            other = write_config(tmp_path, c.url, name="elsewhere.toml", deploy="auto_promote = false")
            deploy = await cli("deploy", str(write_green(tmp_path, name="g2.json")), "--config", str(other))
            promote = await cli("promote", GROUP, "--config", str(other))
            writes_before_stop = await c.writes()
            row = await daemon.deployment()
            assert daemon.proc is not None
            pid = daemon.proc.pid
            assert await daemon.stop() == 0
    line = assert_one_line_error(deploy, 3, "another reactor", f":{pid}:")
    assert "API does not answer" in line
    assert_one_line_error(promote, 3, "another reactor", f":{pid}:")
    assert row is not None and row["phase"] == "awaiting_promotion"
    # BLUE (the test's) and the daemon's GREEN: the refused deploy created nothing
    assert sum(n for k, n in writes_before_stop.items() if k.startswith("POST /v2/apps")) == 2


async def test_dry_run_of_a_first_deploy_from_stdin_with_overrides(tmp_path: Path) -> None:
    async with cluster(blue_instances=None) as c:
        cfg = write_config(tmp_path, c.url)
        body = write_green(tmp_path).read_bytes()
        first = await cli_stdin(body, "deploy", "-", "--config", str(cfg), "--dry-run",
                                "--set", "instances=4", "--set", "container.docker.image=web:2",
                                "--set", "env.LEVEL=debug")
        bad = await cli_stdin(body, "deploy", "-", "--config", str(cfg), "--set", "env..x=1")
        invalid = await cli_stdin(body, "deploy", "-", "--config", str(cfg), "--set", "instances=-3")
        await c.create({**json.loads(body), "id": BLUE_ID, "instances": 1,
                        "labels": {"BLUEGREEN_GROUP": GROUP, "LOCALMARATHON_HEALTH": "healthy",
                                   "BLUEGREEN_STARTED_AT": "2026-01-01T00:00:00.000Z"}})
        with_blue = await cli("deploy", str(write_green(tmp_path)), "--config", str(cfg), "--dry-run")
        writes = await c.writes()
    assert first.rc == 0, first
    plan = first.json()
    assert plan["blue"] == "none (first deploy)"
    assert not any("BLUE" in step.replace("no BLUE", "") for step in plan["steps"]), plan["steps"]
    assert plan["app"]["container"]["docker"]["image"] == "web:2" and plan["app"]["env"] == {"LEVEL": "debug"}
    assert plan["target_instances"] == 4 and "BLUEGREEN_PREVIOUS" not in plan["app"]["labels"]
    assert_one_line_error(bad, 2, "--set", "bad key")
    assert_one_line_error(invalid, 2, "stdin", "after --set")
    assert with_blue.rc == 0, with_blue
    blue_plan = with_blue.json()
    assert blue_plan["app"]["labels"]["BLUEGREEN_PREVIOUS"] == BLUE_ID  # what the real create sends
    assert blue_plan["steps"][-1] == "delete BLUE"
    assert set(writes) == {"POST /v2/apps"} and writes["POST /v2/apps"] == 1  # only the test's own create


async def test_history_without_a_daemon_and_undo_to_an_earlier_definition(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url)
        green = write_green(tmp_path, instances=2).read_bytes()
        v1 = await cli_stdin(green, "deploy", "-", "--config", str(cfg), "--json", "--set", "env.VERSION=v1")
        v2 = await cli_stdin(green, "deploy", "-", "--config", str(cfg), "--json", "--set", "env.VERSION=v2")
        hist = await cli("history", GROUP, "--config", str(cfg))  # no daemon runs
        hist_json = await cli("history", GROUP, "--config", str(cfg), "--json")
        undo = await cli("undo", GROUP, "--config", str(cfg), "--json", timeout_s=60)
        after = await cli("history", GROUP, "--config", str(cfg), "--json")
        bad = await cli("undo", GROUP, "--config", str(cfg), "--to", "7")
        apps = await c.group_apps()
    assert v1.rc == 0 and v2.rc == 0, (v1, v2)
    assert hist.rc == 0 and hist.out.startswith(f"#1 {GROUP}: completed  "), hist
    rows = hist_json.json()["history"]
    assert [r["green_definition"]["env"]["VERSION"] for r in rows] == ["v2", "v1"]
    assert rows[0]["green_definition"]["labels"]["BLUEGREEN_PREVIOUS"] == rows[1]["green_app"]  # as posted
    assert undo.rc == 0 and undo.json()["outcome"] == "completed", undo
    assert [r["green_definition"]["env"]["VERSION"] for r in after.json()["history"]] == ["v1", "v2", "v1"]
    (app,) = apps.values()
    assert app["env"] == {"VERSION": "v1"} and app["instances"] == 2
    assert_one_line_error(bad, 2, "--to must be from 1 to 3")


def self_signed(tmp: Path) -> tuple[Path, Path]:
    import subprocess

    cert, key = tmp / "api.crt", tmp / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


async def test_the_cli_trusts_the_daemons_own_tls_certificate(tmp_path: Path) -> None:
    cert, key = await asyncio.to_thread(self_signed, tmp_path)
    async with cluster(blue_instances=1) as c:
        cfg = write_config(tmp_path, c.url)
        cfg.write_text(cfg.read_text().replace("[api]\n", f'[api]\ntls_cert_file = "{cert}"\n'
                                                          f'tls_key_file = "{key}"\n'), encoding="utf-8")
        daemon = await start_cli("run", "--config", str(cfg))

        async def answered() -> Result | None:
            r = await cli("status", "--config", str(cfg))
            return r if r.rc == 0 else None
        try:
            status = await wait_until(answered, timeout_s=30, what="status over https")
            unknown = await cli("pause", "nosuchgroup", "--config", str(cfg))
        except AssertionError:
            daemon.send_signal(signal.SIGTERM)
            raise AssertionError(f"daemon: {await finish(daemon, timeout_s=30)}") from None
        daemon.send_signal(signal.SIGTERM)
        await finish(daemon, timeout_s=30)
    assert status.out.strip() == "no current deployments", status
    assert_one_line_error(unknown, 2, "nosuchgroup")  # the POST reached the daemon over https

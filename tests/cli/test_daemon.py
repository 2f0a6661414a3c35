"""The sidecar daemon (`bluegreen run`) and the operator commands against it, all subprocesses:
`deploy --detach`, `status`, `history`, `promote`, `abort`, `resume`, SIGTERM and restart."""

from __future__ import annotations

from pathlib import Path

from tests.cli.support import (
    BLUE_ID,
    GROUP,
    Daemon,
    assert_one_line_error,
    cli,
    cluster,
    wait_until,
    write_config,
    write_green,
)


async def finished_history(cfg: Path, outcome: str = "completed") -> list[dict]:
    async def done() -> list[dict] | None:
        r = await cli("history", GROUP, "--config", str(cfg), "--json")
        assert r.rc == 0, r
        rows = r.json()["history"]
        return rows if rows else None
    rows = await wait_until(done, timeout_s=30, what="a finished deployment in history", interval_s=0.3)
    assert [row["outcome"] for row in rows] == [outcome], rows
    return list(rows)


async def test_detach_then_daemon_completes_and_status_history_show_it(tmp_path: Path) -> None:
    async with cluster(blue_instances=3) as c:
        cfg = write_config(tmp_path, c.url)
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, health="healthy-after-1s")), "--config",
                          str(cfg), "--detach", "--json")
            assert r.rc == 0, r
            detached = r.json()
            assert detached == {"group": GROUP, "green_app": "/web", "detached": True}

            row = await daemon.wait_phase("scaling_green", "shifting", "awaiting_promotion")
            assert row["green_app"] == "/web" and row["blue_app"] == BLUE_ID
            st = await cli("status", "--config", str(cfg))  # the table, while it runs
            assert st.rc == 0, st
            assert st.out.startswith(f"{GROUP}: ") and "green=/web" in st.out and f"blue={BLUE_ID}" in st.out

            rows = await finished_history(cfg)
            st_json = await cli("status", GROUP, "--config", str(cfg), "--json")
            hist_table = await cli("history", "--config", str(cfg))
            metrics_status, metrics = await daemon.text("/metrics")
            health_status, _ = await daemon.get("/healthz")
            rc = await daemon.stop()
        apps = await c.group_apps()
    assert rows[0]["green_app"] == "/web" and rows[0]["blue_app"] == BLUE_ID
    assert rows[0]["duration_s"] > 0
    assert st_json.rc == 0 and st_json.json()["phase"] == "done", st_json
    assert hist_table.rc == 0 and hist_table.out.startswith(f"#1 {GROUP}: completed  /web in "), hist_table
    assert rc == 0, daemon.log()
    assert list(apps) == ["/web"] and apps["/web"]["instances"] == 3
    assert health_status == 200 and metrics_status == 200
    assert 'bluegreen_deployments_total{outcome="completed"} 1.0' in metrics, metrics
    assert 'bluegreen_phase{group="web",phase="done"} 1.0' in metrics, metrics
    assert "bluegreen_marathon_requests_total{" in metrics and "bluegreen_reaction_seconds_bucket{" in metrics


async def test_status_of_an_unknown_group_is_exit_2_with_one_line(tmp_path: Path) -> None:
    async with cluster(blue_instances=1) as c:
        cfg = write_config(tmp_path, c.url)
        async with Daemon(cfg):
            empty = await cli("history", "--config", str(cfg))
            r = await cli("status", "nosuchgroup", "--config", str(cfg))
            rj = await cli("status", "nosuchgroup", "--config", str(cfg), "--json")
    assert empty.rc == 0 and empty.out.strip() == "no finished deployments", empty
    assert_one_line_error(r, 2, "nosuchgroup")
    assert_one_line_error(rj, 2, "nosuchgroup")


async def test_promote_after_a_held_gate(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url, deploy="auto_promote = false")
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await daemon.wait_phase("awaiting_promotion")
            st = await cli("status", GROUP, "--config", str(cfg), "--json")
            assert st.rc == 0 and st.json()["phase"] == "awaiting_promotion", st
            blue = (await c.apps())[BLUE_ID]
            assert blue["instances"] == 2  # held: no BLUE task touched
            p = await cli("promote", GROUP, "--config", str(cfg))
            assert p.rc == 0, p
            assert p.out.startswith(f"{GROUP}: promoted — phase now "), p  # a human line, not JSON
            assert "awaiting_promotion" not in p.out, p  # the phase after the command, not before
            await finished_history(cfg)
            again = await cli("promote", GROUP, "--config", str(cfg))
            assert await daemon.stop() == 0
    assert_one_line_error(again, 2, "promote", GROUP)  # the deployment already ended


async def test_abort_holds_everything_and_resume_completes(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url)
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2, health="healthy-after-3s")),
                          "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await daemon.wait_phase("scaling_green")
            a = await cli("abort", GROUP, "--config", str(cfg))
            assert a.rc == 0, a
            row = await daemon.wait_phase("paused")
            assert row["paused_reason"], row
            writes = await c.writes()

            async def green_healthy_seen() -> bool:
                # GREEN's first task turns healthy in Marathon, the daemon sees it (status counts)...
                row = await daemon.deployment()
                return row is not None and row["counts"].get("green_healthy", 0) >= 1
            await wait_until(green_healthy_seen, timeout_s=15, what="paused daemon sees GREEN healthy")
            # ... and moves nothing: no write to Marathon, BLUE intact, still paused
            assert await c.writes() == writes
            apps = await c.apps()
            assert apps[BLUE_ID]["instances"] == 2 and apps["/web"]["instances"] == 1
            assert (await daemon.deployment() or {})["phase"] == "paused"

            res = await cli("resume", GROUP, "--config", str(cfg))
            assert res.rc == 0, res
            await finished_history(cfg)
            assert await daemon.stop() == 0
        apps = await c.group_apps()
    assert list(apps) == ["/web"]


async def test_sigterm_mid_deployment_then_restart_resumes(tmp_path: Path) -> None:
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url)
        daemon = Daemon(cfg)
        async with daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2, health="healthy-after-2s")),
                          "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await daemon.wait_phase("scaling_green")
            rc = await daemon.stop(timeout_s=20)  # the bound: well under SHUTDOWN_BOUND_S + slack
        assert rc == 0, daemon.log()
        apps = await c.apps()
        assert apps[BLUE_ID]["instances"] == 2  # stopped before anything of BLUE moved

        async with Daemon(cfg, log_name="daemon2.log") as again:
            await finished_history(cfg)
            assert await again.stop() == 0
        apps = await c.group_apps()
    assert list(apps) == ["/web"] and apps["/web"]["instances"] == 2

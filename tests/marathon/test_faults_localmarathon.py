"""The watcher + view against the embedded Marathon under injected faults.

Property checked after every fault: once Marathon is quiet, the view fed by the stream (plus resyncs
and the engine's targeted refresh) equals a view rebuilt from a fresh REST snapshot — no event lost
from the view's point of view — and the watcher resynced exactly once per stream that went live.
"""

from __future__ import annotations

import base64
import socket
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.errors import AppLocked, LeaderUnavailable, MarathonUnreachable
from reactor.core.models import TaskState
from reactor.localmarathon.server import LocalMarathon
from tests.marathon.cluster_harness import Faults, Follower, converge, wait_until

pytestmark = pytest.mark.timeout(60)


def app(app_id: str, instances: int, health: str = "healthy", **labels: str) -> dict[str, Any]:
    return {
        "id": app_id,
        "cmd": "sleep 1000",
        "instances": instances,
        "labels": {"BLUEGREEN_GROUP": "faults", "LOCALMARATHON_HEALTH": health, **labels},
        "healthChecks": [
            {
                "protocol": "HTTP",
                "intervalSeconds": 0.05,
                "gracePeriodSeconds": 0,
                "maxConsecutiveFailures": 0,  # unhealthy tasks stay (no kill/relaunch churn)
            }
        ],
    }


async def no_deployment(client: MarathonClient, app_id: str | None = None) -> None:
    async def idle() -> bool:
        deps = await client.list_deployments()
        return not any(app_id is None or app_id in d.affected_apps for d in deps)

    await wait_until(idle, 10.0, f"no deployment on {app_id or 'any app'}")


async def running_tasks(client: MarathonClient, app_id: str, n: int) -> list[str]:
    async def ready() -> list[str] | None:
        ids = [t.id for t in await client.list_tasks(app_id) if t.state is TaskState.TASK_RUNNING]
        return ids if len(ids) >= n else None

    ids: list[str] = await wait_until(ready, 10.0, f"{n} running tasks of {app_id}")
    return ids


async def start_apps(m: MarathonClient) -> None:
    """Phase 1: creations whose deployments are still running when the next fault hits."""
    await m.create_app(app("/f/a", 3))
    await m.create_app(app("/f/b", 2, "healthy-after-0.3s", LOCALMARATHON_STAGING_S="0.1"))
    await m.create_app(app("/f/flaky", 2, "flaky"))


async def scale_and_kill(m: MarathonClient) -> None:
    """Phase 2: scale up and down, kill-and-scale, a health flip, a delete."""
    await no_deployment(m, "/f/a")
    await m.scale_app("/f/a", 5)
    await no_deployment(m, "/f/b")
    await m.scale_app("/f/b", 1)
    victims = (await running_tasks(m, "/f/a", 5))[:2]
    await m.kill_and_scale(victims)
    await m.create_app(app("/f/sours", 2, "unhealthy-after-0.2s"))
    await m.delete_app("/f/flaky", force=True)


async def finish(m: MarathonClient) -> None:
    """Phase 3: the rest settles, one app leaves."""
    await no_deployment(m, "/f/b")
    await m.delete_app("/f/b")
    await no_deployment(m)

    async def soured() -> bool:
        tasks = (await m.get_app("/f/sours")).tasks
        return len(tasks) == 2 and all(t.health is False for t in tasks)

    await wait_until(soured, 10.0, "/f/sours to turn unhealthy")


async def test_streams_dropped_twice_mid_workload_lose_nothing() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=0.5, lenient=True) as lm,
        aiohttp.ClientSession() as http,
        MarathonClient([lm.url]) as m,
        Follower(m, idle_timeout_s=5.0) as f,
    ):
        faults = Faults(http, lm.url)
        await wait_until(lambda: f.resyncs == 1, what="first resync")
        await start_apps(m)
        assert (await faults.inject(drop_event_streams=True))["dropped_streams"] == 1
        await scale_and_kill(m)
        await wait_until(lambda: f.resyncs == 2, what="resync after the first drop")
        assert (await faults.inject(drop_event_streams=True))["dropped_streams"] == 1
        await finish(m)
        digest = await converge(f, m)
        assert f.resyncs == f.watcher.connects == 3
        assert (await faults.stats())["requests"]["GET /v2/events"] == 3
    assert set(digest["apps"]) == {"/f/a", "/f/sours"}
    assert len(digest["apps"]["/f/a"]["tasks"]) == 3  # 5 - 2 killed and scaled
    healths = {h for _, h in digest["apps"]["/f/sours"]["tasks"].values()}
    assert healths == {False}
    assert f.malformed == []


#: HTTP basic credentials of the embedded Marathon below (aiohttp's BasicAuth is deprecated)
BASIC_OPS = "Basic " + base64.b64encode(b"ops:s3cret").decode()


async def test_leader_change_follows_the_standby_302_with_auth() -> None:
    async with (
        LocalMarathon(
            executor="virtual", heartbeat_s=0.5, standby_port=0, credentials="ops:s3cret", lenient=True
        ) as lm,
        aiohttp.ClientSession(headers={"Authorization": BASIC_OPS}) as http,
    ):
        assert lm.standby_url is not None
        faults = Faults(http, lm.url)
        with capture_logs() as logs:
            async with (
                MarathonClient([lm.standby_url], username="ops", password="s3cret") as m,
                Follower(m) as f,
            ):
                await wait_until(lambda: f.resyncs == 1, what="first resync through the standby")
                await start_apps(m)
                assert (await faults.inject(leader_change=True))["dropped_streams"] == 1
                await scale_and_kill(m)
                await finish(m)
                await converge(f, m)
                assert f.resyncs == f.watcher.connects == 2
        redirects = [e for e in logs if e["event"] == "marathon event stream redirected to the leader"]
        assert len(redirects) == 2
        assert all(e["location"].startswith(lm.url + "/v2/events") for e in redirects)
        assert (await faults.stats())["requests"]["GET /v2/events"] == 2  # the leader served both


async def test_standby_listed_first_with_leader_also_configured() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=0.5, standby_port=0, lenient=True) as lm,
        aiohttp.ClientSession() as http,
    ):
        assert lm.standby_url is not None
        faults = Faults(http, lm.url)
        async with MarathonClient([lm.standby_url, lm.url]) as m, Follower(m) as f:
            assert m.event_stream_urls()[0].startswith(lm.url)  # the leader is found and preferred
            await wait_until(lambda: f.resyncs == 1, what="first resync")
            await start_apps(m)
            await faults.inject(leader_change=True)
            await scale_and_kill(m)
            await finish(m)
            await converge(f, m)
            assert f.resyncs == f.watcher.connects == 2


async def test_rest_5xx_bursts_are_retried_and_a_resync_survives_them() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=0.5, lenient=True) as lm,
        aiohttp.ClientSession() as http,
        MarathonClient([lm.url]) as m,
        Follower(m) as f,
    ):
        faults = Faults(http, lm.url)
        await wait_until(lambda: f.resyncs == 1, what="first resync")
        await faults.inject(fail_next={"count": 3, "status": 503, "route_prefix": "/v2/apps"})
        await start_apps(m)  # the first create gets 503 three times, then succeeds
        assert (await faults.stats())["requests"]["POST /v2/apps"] == 3 + 3
        # a burst hitting the resync itself: drop the stream while /v2/apps answers 502 twice
        await faults.inject(
            fail_next={"count": 2, "status": 502, "route_prefix": "/v2/apps"}, drop_event_streams=True
        )
        await scale_and_kill(m)
        await finish(m)
        await converge(f, m)
        assert f.resyncs == f.watcher.connects == 2
        # a burst longer than the retry budget surfaces as a typed error and changes nothing
        await faults.inject(fail_next={"count": 10, "status": 503, "route_prefix": "/v2/apps"})
        with pytest.raises(LeaderUnavailable) as info:
            await m.scale_app("/f/a", 9)
        assert info.value.status == 503
        await faults.inject(fail_next={"count": 0, "status": 503, "route_prefix": "/v2/apps"})
        assert (await m.get_app("/f/a")).instances == 3


async def test_409_lock_names_the_blocking_deployment_and_view_ignores_the_rejected_plan() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=0.5, lenient=True) as lm,
        MarathonClient([lm.url]) as m,
        Follower(m) as f,
    ):
        await wait_until(lambda: f.resyncs == 1, what="first resync")
        created = await m.create_app(app("/f/slow", 2, "unhealthy"))  # its deployment never finishes
        blocking = [d.id for d in created.deployments]
        assert len(blocking) == 1
        with pytest.raises(AppLocked) as info:
            await m.scale_app("/f/slow", 4)
        assert info.value.deployment_ids == tuple(blocking)
        assert info.value.status == 409
        with pytest.raises(AppLocked) as info:
            await m.delete_app("/f/slow")
        assert info.value.deployment_ids == tuple(blocking)
        await wait_until(lambda: [d.id for d in f.view.deployments()] == blocking, what="view deployment")
        await converge(f, m, require_no_deployment=False)
        await m.delete_app("/f/slow", force=True)  # overriding cancels the blocking plan
        await no_deployment(m)
        digest = await converge(f, m)
        assert digest["apps"] == {} and digest["deployments"] == {}
        assert f.resyncs == f.watcher.connects == 1


async def test_slow_consumer_is_cut_then_reconnects_and_resyncs() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=0.5, slow_consumer_limit=2, lenient=True) as lm,
        aiohttp.ClientSession() as http,
        MarathonClient([lm.url]) as m,
        Follower(m) as f,
    ):
        faults = Faults(http, lm.url)
        await wait_until(lambda: f.resyncs == 1, what="first resync")
        with capture_logs() as logs:
            await m.create_app(app("/f/burst", 6))  # launching 6 tasks queues more than 2 events at once
            await wait_until(lambda: f.watcher.connects >= 2, what="the slow-consumer cut and a reconnect")
        assert any(e["event"] == "Closing connection for slow event consumer" for e in logs)
        await faults.inject(slow_consumer_limit=1024)

        async def settled() -> bool:
            return f.resyncs == f.watcher.connects and (await faults.stats())["open_streams"] == 1

        await wait_until(settled, what="one live, resynced stream")
        cuts = f.watcher.connects
        await start_apps(m)
        await scale_and_kill(m)
        await finish(m)
        await converge(f, m)
        assert f.watcher.connects == cuts  # with the limit back at 1024 nothing is cut any more
        assert f.resyncs == f.watcher.connects


async def test_heartbeat_only_silence_longer_than_idle_timeout_reconnects() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=5.0, lenient=True) as lm,
        MarathonClient([lm.url]) as m,
        Follower(m, idle_timeout_s=0.3) as f,
    ):
        await wait_until(lambda: f.resyncs == 1, what="first resync")
        # nothing happens: no event, and the next heartbeat is 5 s away → the watcher gives up at 0.3 s
        await wait_until(lambda: f.watcher.connects >= 3, what="idle reconnects")
        await m.create_app(app("/f/quiet", 2))
        await no_deployment(m)
        await converge(f, m)
        assert f.resyncs == f.watcher.connects


async def test_heartbeats_faster_than_idle_timeout_keep_a_silent_stream() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=0.1, lenient=True) as lm,
        MarathonClient([lm.url]) as m,
        Follower(m, idle_timeout_s=0.5) as f,
    ):
        await wait_until(lambda: f.resyncs == 1, what="first resync")
        # 1.5 s of staging: no event at all, only heartbeats, three times the idle timeout
        await m.create_app(app("/f/staging", 1, LOCALMARATHON_STAGING_S="1.5"))
        await no_deployment(m)
        await converge(f, m)
        assert f.watcher.connects == f.resyncs == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_connection_refused_at_start_connects_once_marathon_is_up() -> None:
    port = free_port()
    async with MarathonClient([f"http://127.0.0.1:{port}"], max_attempts=1) as m:
        with pytest.raises(MarathonUnreachable):
            await m.list_deployments()
        async with Follower(m) as f:
            await wait_until(lambda: f.reconnects >= 2, what="refused connects retried")
            assert f.watcher.connects == 0 and f.resyncs == 0
            async with LocalMarathon(port=port, executor="virtual", heartbeat_s=0.5, lenient=True):
                await wait_until(lambda: f.resyncs == 1, what="connect once Marathon is up")
                await m.create_app(app("/f/late", 2))
                await no_deployment(m)
                await converge(f, m)
                assert f.watcher.connects == 1


async def test_event_delay_and_a_drop_still_converge() -> None:
    async with (
        LocalMarathon(executor="virtual", heartbeat_s=0.5, lenient=True) as lm,
        aiohttp.ClientSession() as http,
        MarathonClient([lm.url]) as m,
        Follower(m) as f,
    ):
        faults = Faults(http, lm.url)
        await wait_until(lambda: f.resyncs == 1, what="first resync")
        await faults.inject(event_delay_ms=150)  # the resync snapshot is newer than events still queued
        await start_apps(m)
        await faults.inject(drop_event_streams=True)
        await scale_and_kill(m)
        await finish(m)
        await faults.inject(event_delay_ms=0)
        await converge(f, m)
        assert f.resyncs == f.watcher.connects == 2

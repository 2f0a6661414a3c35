"""A third-party client (marathon-python 0.13, sync, requests) drives the embedded Marathon.

The client runs in worker threads (asyncio.to_thread) against the server in this loop; its event
stream goes through the standby, so it also follows the 302 to the leader as it does in real life.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import threading
from typing import Any

import aiohttp
from marathon import MarathonApp, MarathonClient
from marathon.models.app import MarathonHealthCheck

from reactor.localmarathon.server import LocalMarathon
from tests.localmarathon.conftest import wait_for

# marathon-python 0.13 (the pinned, last release) still uses `collections.Iterable`, removed in
# Python 3.10; its JSON encoder fails without this alias. A compatibility shim for the client, not
# a change of behaviour of anything under test.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]


def consume(client: MarathonClient, out: list[Any], stop: threading.Event) -> None:
    """Read events until the deployment that follows a TASK_KILLED has succeeded."""
    killed_seen = False
    for event in client.event_stream(
        event_types=[
            "deployment_success",
            "health_status_changed_event",
            "status_update_event",
            "event_stream_attached",
        ]
    ):
        out.append(event)
        killed_seen = killed_seen or getattr(event, "task_status", "") == "TASK_KILLED"
        if stop.is_set() and killed_seen and event.event_type == "deployment_success":
            return


async def test_marathon_python_end_to_end() -> None:
    async with LocalMarathon(port=0, executor="virtual", standby_port=0, heartbeat_s=0.2) as lm:
        assert lm.standby_url
        client = MarathonClient([lm.url])
        events_client = MarathonClient([lm.standby_url])
        events: list[Any] = []
        stop = threading.Event()
        consumer = asyncio.create_task(asyncio.to_thread(consume, events_client, events, stop))

        async def stream_open() -> bool:
            async with aiohttp.ClientSession() as http, http.get(lm.url + "/_localmarathon/stats") as r:
                return (await r.json())["open_streams"] == 1

        await wait_for(stream_open, what="marathon-python's stream")
        app = MarathonApp(
            cmd="sleep 1000",
            instances=1,
            labels={"LOCALMARATHON_STAGING_S": "0.02"},
            health_checks=[
                MarathonHealthCheck(
                    protocol="HTTP",
                    path="/health",
                    interval_seconds=1,
                    grace_period_seconds=5,
                    max_consecutive_failures=3,
                )
            ],
        )
        created = await asyncio.to_thread(client.create_app, "mp-green", app)
        assert created.id == "/mp-green" and created.instances == 1

        async def no_deployments() -> bool:
            return await asyncio.to_thread(client.list_deployments) == []

        await wait_for(no_deployments)
        await asyncio.to_thread(client.scale_app, "mp-green", instances=3)
        await wait_for(no_deployments)
        got = await asyncio.to_thread(client.get_app, "mp-green", embed_tasks=True)
        assert got.tasks_running == 3 and got.tasks_healthy == 3
        tasks = await asyncio.to_thread(client.list_tasks, "mp-green")
        assert len(tasks) == 3
        assert all(r.alive for t in tasks for r in t.health_check_results)
        victim = tasks[0].id
        stop.set()
        assert await asyncio.to_thread(client.kill_given_tasks, [victim], scale=True) is True
        await wait_for(no_deployments)
        got = await asyncio.to_thread(client.get_app, "mp-green", embed_tasks=True)
        assert got.instances == 2 and victim not in {t.id for t in got.tasks}
        # requests' iter_lines reads 512-byte blocks: publish a little more so the last frames come through.
        for _ in range(50):
            if consumer.done():
                break
            await asyncio.to_thread(client.scale_app, "mp-green", instances=2)  # empty plan: still events
            await asyncio.sleep(0.05)
        await asyncio.wait_for(consumer, 10)
        kinds = [e.event_type for e in events]
        assert kinds[0] == "event_stream_attached"
        assert kinds.count("deployment_success") >= 3
        assert "health_status_changed_event" in kinds
        running = [
            e for e in events if e.event_type == "status_update_event" and e.task_status == "TASK_RUNNING"
        ]
        assert len(running) >= 3 and all(e.app_id == "/mp-green" for e in running)
        killed = [e for e in events if e.event_type == "status_update_event" and e.task_id == victim]
        assert killed[-1].task_status == "TASK_KILLED"

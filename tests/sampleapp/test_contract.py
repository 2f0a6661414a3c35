"""The sample app's contract (interface.md), exercised on real `bluegreen sample-app` processes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.sampleapp.support import BLUEGREEN, running_sample_app, sample_env, wait_until


def files_in(path: Path) -> list[Path]:
    return list(path.iterdir())


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        return resp.status, await resp.json()


async def prometheus_pending(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    values = [s.value for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "pending_operations"]
    assert len(values) == 1, text
    return values[0]


async def test_index_reports_app_version_and_task() -> None:
    env = {"APP_VERSION": "v2", "MARATHON_APP_VERSION": "2024-01-01T00:00:00.000Z", "MESOS_TASK_ID": "web.t1"}
    async with running_sample_app(env) as app, aiohttp.ClientSession() as s:
        status, body = await get_json(s, app.url + "/")
    assert status == 200
    assert body["version"] == "v2"
    assert body["task"] == "web.t1"


async def test_index_falls_back_to_marathon_app_version() -> None:
    env = {"MARATHON_APP_VERSION": "2024-01-01T00:00:00.000Z", "MESOS_TASK_ID": "web.t2"}
    async with running_sample_app(env) as app, aiohttp.ClientSession() as s:
        _, body = await get_json(s, app.url + "/")
    assert body["version"] == "2024-01-01T00:00:00.000Z"


async def test_health_is_200_by_default_and_503_when_unhealthy() -> None:
    async with running_sample_app() as ok, running_sample_app({"SAMPLE_UNHEALTHY": "1"}) as bad, \
            aiohttp.ClientSession() as s:
        assert (await get_json(s, ok.url + "/health"))[0] == 200
        assert (await get_json(s, bad.url + "/health"))[0] == 503


async def test_health_turns_503_after_unhealthy_after_s() -> None:
    async with running_sample_app({"SAMPLE_UNHEALTHY_AFTER_S": "1.5"}) as app, aiohttp.ClientSession() as s:
        assert (await get_json(s, app.url + "/health"))[0] == 200

        async def unhealthy() -> bool:
            return (await get_json(s, app.url + "/health"))[0] == 503

        await wait_until(unhealthy, timeout_s=10, what="/health to answer 503")


async def read_stream(session: aiohttp.ClientSession, url: str, seen: list[int]) -> None:
    async with session.get(url + "/metrics/stream") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data:"):
                seen.append(json.loads(line[5:])["pending_operations"])


async def test_work_is_visible_in_metrics_json_and_stream() -> None:
    async with running_sample_app({"APP_VERSION": "v7", "MESOS_TASK_ID": "t7"}) as app, \
            aiohttp.ClientSession() as s:
        seen: list[int] = []
        reader = asyncio.create_task(read_stream(s, app.url, seen))
        await wait_until(lambda: seen == [0], what="the stream's first event")
        works = [asyncio.create_task(get_json(s, f"{app.url}/work?ms={ms}")) for ms in (800, 1200)]

        async def two_pending() -> bool:
            return await prometheus_pending(s, app.url) == 2

        await wait_until(two_pending, what="pending_operations 2 in /metrics")
        _, doc = await get_json(s, app.url + "/metrics.json")
        assert doc["gauges"]["pending_operations"]["value"] == 2
        results = await asyncio.gather(*works)
        await wait_until(lambda: seen[-1:] == [0] and len(seen) == 5, what="stream back to 0")
        reader.cancel()
        assert seen == [0, 1, 2, 1, 0]
        assert all(status == 200 and body["version"] == "v7" and body["task"] == "t7"
                   for status, body in results)
        assert await prometheus_pending(s, app.url) == 0
        _, index = await get_json(s, app.url + "/")
        assert index["completed_operations"] == 2


@pytest.mark.parametrize("ms", ["abc", "-5", "99999999999"])
async def test_work_rejects_bad_ms_and_changes_nothing(ms: str) -> None:
    async with running_sample_app() as app, aiohttp.ClientSession() as s:
        status, body = await get_json(s, f"{app.url}/work?ms={ms}")
        assert status == 400
        assert "ms must be an integer" in body["error"]
        assert await prometheus_pending(s, app.url) == 0


async def test_sigterm_with_two_ops_in_flight_writes_the_ledger(tmp_path: Path) -> None:
    env = {"SAMPLE_LEDGER_DIR": str(tmp_path), "APP_VERSION": "v1", "MESOS_TASK_ID": "web.blue.1"}
    async with running_sample_app(env) as app, aiohttp.ClientSession() as s:
        assert (await get_json(s, f"{app.url}/work?ms=1"))[0] == 200
        works = [asyncio.create_task(get_json(s, f"{app.url}/work?ms=60000")) for _ in range(2)]

        async def two_pending() -> bool:
            return await prometheus_pending(s, app.url) == 2

        await wait_until(two_pending, what="2 operations in flight")
        app.signal(signal.SIGTERM)
        assert await app.wait_exit(timeout_s=5) == 0  # at once, not after the 60 s of work
        for outcome in await asyncio.gather(*works, return_exceptions=True):
            assert isinstance(outcome, aiohttp.ClientError)
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"task": "web.blue.1", "version": "v1", "abandoned": 2, "completed": 1}]


async def test_tasks_share_one_ledger_file(tmp_path: Path) -> None:
    env = {"SAMPLE_LEDGER_DIR": str(tmp_path / "ledger"), "APP_VERSION": "v1"}
    async with running_sample_app({**env, "MESOS_TASK_ID": "a"}) as a, \
            running_sample_app({**env, "MESOS_TASK_ID": "b"}) as b:
        for app in (a, b):
            app.signal(signal.SIGTERM)
            assert await app.wait_exit() == 0
    lines = [json.loads(x) for x in (tmp_path / "ledger" / "ledger.jsonl").read_text().splitlines()]
    assert sorted(line["task"] for line in lines) == ["a", "b"]
    assert all(line["abandoned"] == 0 and line["completed"] == 0 for line in lines)


async def test_no_ledger_dir_means_no_file(tmp_path: Path) -> None:
    async with running_sample_app() as app:
        app.signal(signal.SIGTERM)
        assert await app.wait_exit() == 0
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(("env", "message"), [
    ({}, "no port: set PORT0"),
    ({"PORT0": "eighty"}, "PORT0/PORT must be an integer, got 'eighty'"),
    ({"PORT0": "70000"}, "port 70000 is out of range"),
    ({"PORT0": "0", "SAMPLE_UNHEALTHY_AFTER_S": "soon"}, "SAMPLE_UNHEALTHY_AFTER_S must be a number"),
])
def test_bad_environment_is_one_clear_message(env: dict[str, str], message: str) -> None:
    done = subprocess.run([BLUEGREEN, "sample-app"], env=sample_env(env), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

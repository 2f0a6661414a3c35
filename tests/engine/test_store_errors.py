"""The store never crashes the daemon: while the SQLite file is locked by another process (a real
lock, held past the busy timeout), the reactor sends no Marathon write, counts
bluegreen_store_errors_total, answers /readyz 503 naming the store; when the lock goes, it
recovers and completes the deployment."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
from structlog.testing import capture_logs

from tests.engine.harness import (
    BLUE_ID,
    GREEN_ID,
    blue_def,
    green_def,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)

STORE_ERRORS = "bluegreen_store_errors_total"
WRITES = ("PUT /v2/apps/{id}", "POST /v2/tasks/delete", "DELETE /v2/apps/{id}")


async def _readyz(port: int) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/readyz") as r:
        return r.status, await r.json()


async def test_locked_store_sends_nothing_then_recovers(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        settings = make_settings(tmp_path, lm.url)
        async with running_engine(settings) as run:
            await wait_until(lambda: run.engine.synced_once and run.engine.api_port, what="engine up")
            assert (await _readyz(run.engine.api_port))[0] == 200
            locker = sqlite3.connect(settings.state.path, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")  # another process's write lock, held
            try:
                before = await rest.stats()
                await rest.create(green_def(2))

                def counted() -> float:
                    lines = run.engine.metrics.render().decode().splitlines()
                    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines
                               if ln.startswith(("bluegreen_store_errors_total ", STORE_ERRORS + "{")))

                async def store_failing() -> bool:
                    status, body = await _readyz(run.engine.api_port)  # type: ignore[arg-type]
                    return status == 503 and "state store" in str(body.get("reason")) and counted() >= 1
                await wait_until(store_failing, timeout_s=30, what="/readyz naming the store, counted")
                during = await rest.stats()
                assert all(during.get(w, 0) == before.get(w, 0) for w in WRITES), (before, during)
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            record = await run.wait_finished(timeout_s=60)
            assert (await _readyz(run.engine.api_port))[0] == 200  # type: ignore[arg-type]
    assert record["outcome"] == "completed"
    assert record["green_app"] == GREEN_ID


async def test_a_failed_background_duty_is_one_error_line(tmp_path: Path) -> None:
    """A background task of the engine (a gate's question, an app's re-read) that raises is
    logged once with its name, not left as an unretrieved task exception."""
    async def duty() -> None:
        raise RuntimeError("boom")

    async with local_marathon() as (lm, _rest):
        async with running_engine(make_settings(tmp_path, lm.url)) as run:
            with capture_logs() as logs:
                run.engine.spawn(duty(), name="test-duty")
                await wait_until(lambda: any(e["event"] == "background task failed" for e in logs),
                                 what="the failure logged")
    [line] = [e for e in logs if e["event"] == "background task failed"]
    assert line["task"] == "test-duty" and line["error"] == "RuntimeError: boom", line

"""What a group's rounds do once a deployment is over, and when the store or the lease fails a
round half-way: the final events are published once (never again at each later round or after
a restart); a finish cut short by the store is completed (history record, finished signal); a
command accepted while the store fails is applied once it answers; a lease taken by another
owner ends in one warning, no write and no traceback, and the deployment goes on once the lease
is ours again. Real engine, embedded Marathon and SQLite file; failures are real SQLite triggers.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from tests.engine.harness import (
    BLUE_ID,
    GREEN_ID,
    GROUP,
    Rest,
    RunningEngine,
    blue_def,
    green_def,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)

WRITES = ("PUT /v2/apps/{id}", "POST /v2/tasks/delete", "DELETE /v2/apps/{id}")


@contextlib.asynccontextmanager
async def _engine_over_blue(tmp_path: Path,
                            **settings: Any) -> AsyncIterator[tuple[Rest, RunningEngine, Any]]:
    """BLUE with 2 healthy tasks on the embedded Marathon, and an engine synced to it."""
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        config = make_settings(tmp_path, lm.url, **settings)
        async with running_engine(config) as run:
            await wait_until(lambda: run.engine.synced_once, what="engine synced")
            yield rest, run, config


async def _settled(run: RunningEngine) -> None:
    """Every round due now has run (the queue is empty and nothing is in flight)."""
    q = run.engine.queue
    await wait_until(lambda: len(q) == 0 and q.in_flight == 0, what="work queue idle")


async def _rounds_at_rest(run: RunningEngine, n: int) -> None:
    for k in range(n):
        run.engine.mark({GROUP}, f"test.{k}")
        await _settled(run)


def _store_errors(run: RunningEngine) -> float:
    lines = run.engine.metrics.render().decode().splitlines()
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines
               if ln.startswith("bluegreen_store_errors_total"))


def _sql(path: str, *statements: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


async def test_final_events_are_published_once_not_at_every_later_round(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        settings = make_settings(tmp_path, lm.url)
        for life in (1, 2):  # the second on the same state file: a restart
            async with running_engine(settings) as run:
                await wait_until(lambda: run.engine.synced_once, what="engine synced")
                if life == 1:
                    await rest.create(green_def(2))
                    await run.wait_finished()
                await _settled(run)
                await _rounds_at_rest(run, 5)  # each claims the lease and reads the stored intent
                assert run.event_names().count("deployment.completed") == (1 if life == 1 else 0), \
                    run.event_names()
                stored = await run.engine.backend.load_intent(GROUP)
                assert stored is not None and stored["outbox"] == []


async def test_finish_cut_short_by_the_store_is_completed(tmp_path: Path) -> None:
    async with _engine_over_blue(tmp_path) as (rest, run, settings):
        _sql(settings.state.path, "CREATE TRIGGER refuse_history BEFORE INSERT ON history"
             " BEGIN SELECT RAISE(ABORT, 'history refused by the test'); END")
        await rest.create(green_def(2))
        await run.wait_phase("done")
        await wait_until(lambda: _store_errors(run) >= 1, what="the history append failing")
        assert await run.engine.backend.list_history(GROUP) == []
        assert not run.engine.controllers.finished(GROUP).is_set()
        _sql(settings.state.path, "DROP TRIGGER refuse_history")
        record = await run.wait_finished()  # the finished signal, with one history record
        assert record["outcome"] == "completed"
        await _settled(run)
        assert len(await run.engine.backend.list_history(GROUP)) == 1
        assert "deployment.completed" in run.event_names()
        stored = await run.engine.backend.load_intent(GROUP)
        assert stored is not None and stored["outbox"] == []
        published = run.event_names().count("deployment.completed")
        await _rounds_at_rest(run, 3)
        assert run.event_names().count("deployment.completed") == published


async def test_command_accepted_while_the_store_fails_is_applied_later(tmp_path: Path) -> None:
    async with _engine_over_blue(tmp_path, deploy={"health_timeout_s": 120.0}) as (rest, run, settings):
        green = green_def(2, health="healthy-after-600s")
        green["healthChecks"][0]["gracePeriodSeconds"] = 600  # unknown, never failed: it waits
        await rest.create(green)
        await run.wait_phase("scaling_green")
        await wait_until(lambda: run.engine.controllers.status[GROUP].intent.green.high >= 1,
                         what="GREEN's first scale-up recorded")
        await _settled(run)
        _sql(settings.state.path,
             "CREATE TRIGGER refuse_update BEFORE UPDATE ON intents"
             " BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END")
        errors = _store_errors(run)
        answer = await run.engine.control().command(GROUP, "rollback", source="test")
        assert answer["accepted"] is True
        await wait_until(lambda: _store_errors(run) > errors, what="the command's save failing")
        _sql(settings.state.path, "DROP TRIGGER refuse_update")
        record = await run.wait_finished(timeout_s=30)
        assert record["outcome"] == "rolled_back", record
        assert "rollback" in str(record["reason"]) and record["counts"]["green_failed"] == 0, record


async def test_lease_taken_by_another_owner_ends_in_a_warning_and_no_write(tmp_path: Path) -> None:
    # renewals every 20 s: the first to meet the other owner is the round's own save
    async with _engine_over_blue(tmp_path, lease_ttl_s=60.0) as (rest, run, settings):
        await rest.create(green_def(2, health="healthy-after-2s"))
        await run.wait_phase("scaling_green")
        await _settled(run)
        with capture_logs() as logs:
            _sql(settings.state.path, "UPDATE leases SET holder = 'elsewhere:1:cafe0000',"
                 f" expires_at = {time.time() + 3600} WHERE group_name = '{GROUP}'")
            before = await rest.stats()
            await wait_until(lambda: any(e["event"].startswith("lease lost") for e in logs),
                             timeout_s=30, what="the refused save noticed")
            await _settled(run)
            during = await rest.stats()
            assert all(during.get(w, 0) == before.get(w, 0) for w in WRITES), (before, during)
            assert not run.engine.backend.may_act(GROUP)
            # what this reactor knew of the group is dropped: the holder's is the truth
            assert run.engine.drains.observations() == {}
            assert GROUP not in run.engine.controllers.status
            rows = await run.engine.control().deployments()
            assert [(r["group"], r["phase"]) for r in rows] == [(GROUP, "scaling_green")]
            assert f'bluegreen_phase{{group="{GROUP}"' not in run.engine.metrics.render().decode()
        lost = [e for e in logs if e["event"].startswith("lease lost")]
        assert lost[0]["holder"] == "elsewhere:1:cafe0000" and lost[0]["log_level"] == "warning"
        assert not [e for e in logs if e.get("exc_info") or e["log_level"] in ("error", "critical")]
        _sql(settings.state.path, f"DELETE FROM leases WHERE group_name = '{GROUP}'")
        run.engine.mark({GROUP}, "test.lease_free")
        record = await run.wait_finished(timeout_s=30)
        assert record["outcome"] == "completed"
        apps = await rest.apps()
        assert BLUE_ID not in apps and apps[GREEN_ID]["instances"] == 2

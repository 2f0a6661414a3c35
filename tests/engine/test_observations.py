"""Observations of GREEN recorded in a round without action are not waited for, but they reach the
store within OBSERVATIONS_SAVED_WITHIN_S: GREEN's second task, seen alive seconds before it is
healthy (when the next decision is due), is in the real SQLite file long before that decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reactor.adapters.store.sqlite import StateStore
from tests.engine.harness import (
    BLUE_ID,
    GROUP,
    blue_def,
    green_def,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)


async def test_a_seen_green_task_is_stored_before_the_next_decision(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        settings = make_settings(tmp_path, lm.url)  # batch 1: GREEN's second task comes after a shift
        async with running_engine(settings) as run:
            await wait_until(lambda: run.engine.synced_once, what="engine up")
            await rest.create(green_def(2, health="healthy-after-3s"))
            reader = StateStore(settings.state.path, owner="test-reader")
            reader.open()
            try:
                def stored() -> dict[str, Any]:
                    return dict((reader.load_intent(GROUP) or {}).get("intent") or {})

                both = await wait_until(lambda: (i := stored()) and len(i["green_seen"]) == 2 and i,
                                        timeout_s=20, what="GREEN's second task stored as seen")
            finally:
                reader.close()
            # stored while the second task is not healthy yet: no decision saved it
            assert len(both["green_ever_healthy"]) == 1, both
            record = await run.wait_finished(timeout_s=40)
    assert record["outcome"] == "completed", record


def test_settle_heap_moves_the_started_daemon_out_of_full_collections() -> None:
    import gc

    from reactor.cli.cmd_run import GC_YOUNG_THRESHOLD, settle_heap
    assert gc.get_freeze_count() == 0
    threshold = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000  # every module, class and the first snapshot
        # the young generation is collected far less often; the older ones as before
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *threshold[1:])
        assert GC_YOUNG_THRESHOLD > threshold[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_a_status_counts_its_observation_only_when_read() -> None:
    """Most rounds' statuses are replaced unread: the counts are derived on first read, from
    the observation of their round and the intent they hold (a replaced intent counts anew)."""
    import dataclasses
    from datetime import UTC, datetime

    from reactor.core.intent import new_intent
    from reactor.core.observed import AppView, Observed, TaskPhase, TaskView
    from reactor.engine.status import GroupStatus

    now = datetime(2026, 11, 30, tzinfo=UTC)
    intent = new_intent(group=GROUP, deployment_id="d1", blue_app=BLUE_ID, green_app="/web-green",
                        target_instances=2, now=now, blue_instances=2, green_instances=1)
    task = TaskView(task_id="g.1", app_id="/web-green", host="h", state=TaskPhase.RUNNING, healthy=True)
    observed = Observed(group=GROUP, now=now, apps=(
        AppView(app_id="/web-green", instances=1, tasks=(task,)), AppView(app_id=BLUE_ID, instances=2)))
    status = GroupStatus(intent, (), observed, now.timestamp())
    assert "counts" not in vars(status)  # nothing derived yet
    assert status.counts["green_healthy"] == 1 and status.counts["blue_killed"] == 0
    later = dataclasses.replace(status, intent=intent.changed(killed={"b.1": now}))
    assert later.counts["blue_killed"] == 1 and status.counts["blue_killed"] == 0
    assert GroupStatus(intent).counts == {}

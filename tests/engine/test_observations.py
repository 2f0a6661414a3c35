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

    from reactor.cli.cmd_run import settle_heap
    assert gc.get_freeze_count() == 0
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000  # every module, class and the first snapshot
    finally:
        gc.unfreeze()

"""A drain decided when it starts (drain source `none`: nothing to read) is acted on in the same
round: the BLUE task picked in the round that saw GREEN healthy is killed by that round, not by a
later one that waits at the back of the work queue (and no drain event exists to start one)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

from tests.engine.harness import BLUE_ID, blue_def, green_def, local_marathon, make_settings, running_engine


async def test_a_drain_decided_at_once_is_killed_in_the_round_that_started_it(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url)  # drain source none, batch 1
        async with running_engine(settings) as run:
            await rest.create(green_def(3))
            record = await run.wait_finished()
    assert record["outcome"] == "completed", record
    # a round reads the clock once: the draining and the kill of a task carry the same time
    started = {t: e.timestamp for e in run.events() if e.name.value == "blue.draining" for t in e.tasks}
    killed = {t: e.timestamp for e in run.events() if e.name.value == "blue.killed" for t in e.tasks}
    assert len(started) == 3 and started == killed, (started, killed)
    # the kill answered the Marathon event that showed GREEN healthy (its round's trigger)
    assert not [t for t, _ in run.engine.reactions if t.startswith("drain.")]
    assert len(run.engine.reactions) >= 1 + 3  # GREEN's first scale, then each kill


async def test_the_drain_and_the_kill_of_a_task_are_stored_by_one_save(tmp_path: Path) -> None:
    """Drain source `none` changes nothing outside the process: the round plans the kill before it
    saves, and one save records both (each save a group makes, seen by an SQLite trigger on the
    real state file, the test's own audit table)."""
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url)
        async with running_engine(settings) as run:
            with sqlite3.connect(settings.state.path) as db:
                db.executescript("""
                    CREATE TABLE audit (n INTEGER PRIMARY KEY, body TEXT);
                    CREATE TRIGGER audit_insert AFTER INSERT ON intents BEGIN
                        INSERT INTO audit (body) VALUES (new.body); END;
                    CREATE TRIGGER audit_update AFTER UPDATE ON intents BEGIN
                        INSERT INTO audit (body) VALUES (new.body); END;""")
            await rest.create(green_def(3))
            record = await run.wait_finished()
        with sqlite3.connect(settings.state.path) as db:
            saved = [json.loads(b)["intent"] for (b,) in db.execute("SELECT body FROM audit ORDER BY n")]
    assert record["outcome"] == "completed", record
    assert len(saved) >= 3
    draining_alone = [i for i in saved if set(i["draining"]) - set(i["killed"])]
    assert draining_alone == [], "an intent was saved with a drain started and its task not killed"
    killed = [len(i["killed"]) for i in saved]
    assert killed[-1] == 3 and all(b - a <= 1 for a, b in itertools.pairwise(killed))

"""A drain decided when it starts (drain source `none`: nothing to read) is acted on in the same
round: the BLUE task picked in the round that saw GREEN healthy is killed by that round, not by a
later one that waits at the back of the work queue (and no drain event exists to start one)."""

from __future__ import annotations

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

"""A new deployment may reuse an app id freed by the previous one (the daemon path)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from reactor.core import labels as L
from tests.engine.harness import (
    BLUE_ID,
    GREEN_ID,
    GROUP,
    app_def,
    blue_def,
    green_def,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)


async def test_recreated_id_of_last_deployment_starts_a_new_one(tmp_path: Path) -> None:
    async with local_marathon() as (_lm, rest):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        async with running_engine(make_settings(tmp_path, rest.url)) as run:
            await rest.create(green_def(2))
            first = await run.wait_finished()
            assert first["outcome"] == "completed"
            assert BLUE_ID not in await rest.apps()
            # BLUE's id is free again: a third version takes it, created after the first ended
            labels = L.green_labels(group=GROUP, target_instances=2, started_at=datetime.now(UTC),
                                    previous=GREEN_ID)
            await rest.create(app_def(BLUE_ID, 0, labels))

            async def second_done() -> bool:
                history = await run.engine.backend.list_history(GROUP)
                return len(history) == 2 and history[0]["outcome"] == "completed"

            await wait_until(second_done, timeout_s=30, what="second deployment completed")
            apps = await rest.apps()
            assert GREEN_ID not in apps
            assert apps[BLUE_ID]["instances"] == 2

"""Task and health events of an app that a Marathon deployment holds, and an app definition
posted, mark its group within LOCKED_BATCH_S instead of at once (reactor.engine.marking); the
deployment's end marks at once, and a task event of an app with no deployment marks at once.
Events are fed to the running engine's own intake (`_on_marathon_event`) and the work queue is
read right after, with nothing awaited between: no round can run in between, so what is seen is
what the intake decided."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from reactor.core.events import parse_event
from reactor.core.ids import instance_id_of
from reactor.engine.marking import LOCKED_BATCH_S
from tests.engine.harness import BLUE_ID, GROUP, blue_def, local_marathon, make_settings, running_engine
from tests.workqueue.recorder import eventually

PLAN = {"id": "dep-test-1", "version": "2026-11-30T00:00:00.000Z",
        "steps": [{"actions": [{"action": "ScaleApplication", "app": BLUE_ID}]}]}


def event(etype: str, **body: object) -> str:
    return json.dumps({"eventType": etype, "timestamp": "2026-11-30T00:00:01.000Z", **body})


def health(instance: str, healthy: bool) -> str:
    return event("instance_health_changed_event", instanceId=instance, runSpecId=BLUE_ID,
                 healthy=healthy, runSpecVersion="2026-11-30T00:00:00.000Z")


async def test_a_locked_apps_events_are_batched_and_its_deployment_end_marks_at_once(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        async with running_engine(make_settings(tmp_path, lm.url)) as run:
            engine, queue = run.engine, run.engine.queue
            await asyncio.wait_for(engine.ready.wait(), 15)
            await eventually(lambda: len(queue) == 0 and queue.in_flight == 0, "the engine at rest")
            tasks = sorted(t.id for t in engine.view.tasks_of(BLUE_ID))
            assert len(tasks) == 2, tasks
            first, second = (instance_id_of(t) for t in tasks)

            # no deployment on BLUE: a health change marks the group at once
            engine._on_marathon_event(parse_event(health(first, False)))
            assert len(queue) == 1 and queue.pending_trigger(GROUP) is not None
            await eventually(lambda: len(queue) == 0 and queue.in_flight == 0, "that round done")

            # a deployment holds BLUE: the next health change is due within the batch delay
            engine._on_marathon_event(parse_event(event(
                "deployment_info", plan=PLAN, currentStep=PLAN["steps"][0])))
            assert engine.view.deployment_ids_for(BLUE_ID) == ("dep-test-1",)
            engine._on_marathon_event(parse_event(health(second, False)))
            due = queue.due_in(GROUP)
            assert len(queue) == 0, "a task event of a locked app marked its group at once"
            assert due is not None and due <= LOCKED_BATCH_S, due
            trigger = queue.pending_trigger(GROUP)
            assert trigger is not None and trigger.name == "instance_health_changed_event"

            # the deployment's end marks at once
            engine._on_marathon_event(parse_event(event("deployment_success", id="dep-test-1", plan=PLAN)))
            assert len(queue) == 1
            assert engine.view.deployment_ids_for(BLUE_ID) == ()
            await eventually(lambda: len(queue) == 0 and queue.in_flight == 0, "that round done")

            # an app definition posted starts a deployment on the app: batched too
            engine._on_marathon_event(parse_event(event(
                "api_post_event", clientIp="127.0.0.1", uri=f"/v2/apps{BLUE_ID}", appDefinition=blue_def(2))))
            due = queue.due_in(GROUP)
            assert len(queue) == 0 and due is not None and due <= LOCKED_BATCH_S, due

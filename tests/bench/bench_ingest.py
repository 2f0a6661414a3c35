"""Ingest benchmark: SSE bytes over real HTTP → typed events → ClusterView; and RSS with 10,000 tasks.

Run: .venv/bin/python -m tests.bench.bench_ingest   (prints a table; not collected by pytest)
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.core.models import Snapshot
from reactor.core.view import ClusterView
from tests.marathon.scripted import ScriptedMarathon, frame

N_EVENTS = 100_000
N_TASKS = 10_000
STATES = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"]


def status(i: int) -> dict:
    app = f"/app{i % 50}"
    return {
        "slaveId": "s",
        "taskId": f"app{i % 50}.instance-{i % N_TASKS:08d}-0b1c-11ec-9a03-0242ac130003._app.1",
        "taskStatus": STATES[(i // N_TASKS) % 3],
        "message": "",
        "appId": app,
        "host": "10.0.0.1",
        "ipAddresses": [{"ipAddress": "10.0.0.1", "protocol": "IPv4"}],
        "ports": [31000 + i % 1000],
        "version": "2021-08-30T10:00:00.000Z",
        "eventType": "status_update_event",
        "timestamp": "2021-08-30T10:00:07.412Z",
    }


async def main() -> None:
    view = ClusterView()
    applied = 0

    def on_event(e) -> None:
        nonlocal applied
        view.apply(e)
        applied += 1

    async with ScriptedMarathon() as sm:
        for a in range(50):
            sm.script.apps[f"/app{a}"] = {
                "id": f"/app{a}",
                "instances": N_TASKS // 50,
                "labels": {"BLUEGREEN_GROUP": f"g{a % 10}"},
                "healthChecks": [{"protocol": "HTTP"}],
                "tasks": [],
            }
        payload = b"".join(frame(status(i)) for i in range(N_EVENTS))
        attached = frame({"remoteAddress": "x", "eventType": "event_stream_attached", "timestamp": "t"})
        async with MarathonClient([sm.url]) as m:
            watcher = EventWatcher(m, on_event=on_event, on_resync=view.replace)
            async with watcher:
                sm.script.stream_chunks.put_nowait(attached)
                while watcher.connects == 0 or applied == 0:  # noqa: ASYNC110 (bench polling, not a test)
                    await asyncio.sleep(0.01)
                start = time.perf_counter()
                base = applied
                for off in range(0, len(payload), 1 << 14):
                    sm.script.stream_chunks.put_nowait(payload[off : off + (1 << 14)])
                while applied - base < N_EVENTS:  # noqa: ASYNC110 (bench polling, not a test)
                    await asyncio.sleep(0.005)
                elapsed = time.perf_counter() - start
    tasks = sum(len(view.tasks_of(a.id)) for a in view.apps())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    snap = Snapshot.model_validate(
        {
            "apps": [
                {**sm.script.apps[a.id], "tasks": [t.model_dump(by_alias=True) for t in view.tasks_of(a.id)]}
                for a in view.apps()
            ]
        }
    )
    t0 = time.perf_counter()
    view.replace(snap)
    replace_s = time.perf_counter() - t0
    rows = [
        ("events ingested (SSE → typed → view)", f"{N_EVENTS:,}"),
        ("bytes", f"{len(payload):,}"),
        ("elapsed s", f"{elapsed:.2f}"),
        ("events/s", f"{N_EVENTS / elapsed:,.0f} (target ≥ 20,000)"),
        ("tasks in view", f"{tasks:,}"),
        ("peak RSS MB (whole process)", f"{rss_mb:.0f} (target ≤ 150)"),
        ("replace(snapshot of 10k tasks) s", f"{replace_s:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    json.dumps(rows)


if __name__ == "__main__":
    asyncio.run(main())

"""Ingest benchmark: SSE bytes over real HTTP → typed events → ClusterView; and RSS with 10,000 tasks.

Run: .venv/bin/python -m tests.bench.bench_ingest [--events 100000] [--tasks 10000]
(prints a table; not collected by pytest)

The stream comes from a separate process (this module with `--serve`) that answers like Marathon's
Jetty: `200` with `Connection: close` and no chunked encoding, CRLF frames written one event per
write (Jetty's write+flush), a `\\r` then `\\n` heartbeat in the middle of the run, and `/v2/apps` +
`/v2/deployments` for the watcher's resync. Events start right after the resync's last read, so the
figure covers the whole path: socket bytes → frames → `parse_event` → `ClusterView.apply`. The
consumer process is measured alone (the server uses the other core); peak RSS is the consumer's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from typing import Any

import structlog

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.core.events import MarathonEvent
from reactor.core.models import Snapshot
from reactor.core.view import ClusterView

N_APPS = 50
STATES = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"]
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream;charset=utf-8\r\nConnection: close\r\n"
    b"Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\nExpires: 0\r\n\r\n"
)


def status(i: int, n_tasks: int) -> dict[str, Any]:
    app = i % N_APPS
    return {
        "slaveId": "a0b1c2d3-e4f5-4a6b-8c7d-0e1f2a3b4c5d-S0",
        "taskId": f"app{app}.instance-{i % n_tasks:08d}-0b1c-11ec-9a03-0242ac130003._app.1",
        "taskStatus": STATES[(i // n_tasks) % 3],
        "message": "",
        "appId": f"/app{app}",
        "host": "10.0.0.1",
        "ipAddresses": [{"ipAddress": "10.0.0.1", "protocol": "IPv4"}],
        "ports": [31000 + i % 1000],
        "version": "2021-08-30T10:00:00.000Z",
        "eventType": "status_update_event",
        "timestamp": "2021-08-30T10:00:07.412Z",
    }


def frame(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['eventType']}\r\ndata: {data}\r\n\r\n".encode()


def apps_json(n_tasks: int) -> bytes:
    apps = [
        {
            "id": f"/app{a}",
            "instances": n_tasks // N_APPS,
            "labels": {"BLUEGREEN_GROUP": f"g{a % 10}"},
            "healthChecks": [{"protocol": "HTTP"}],
            "tasks": [],
        }
        for a in range(N_APPS)
    ]
    return json.dumps({"apps": apps}).encode()


# ---- the server process ---------------------------------------------------------------------------
async def serve(n_events: int, n_tasks: int) -> None:
    frames = [frame(status(i, n_tasks)) for i in range(n_events)]
    attached = frame({"remoteAddress": "127.0.0.1", "eventType": "event_stream_attached", "timestamp": "t"})
    synced = asyncio.Event()

    async def stream(writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + attached)
        await synced.wait()
        for i, f in enumerate(frames):
            writer.write(f)  # one write per event, like Jetty's write+flush
            if i == n_events // 2:
                writer.write(b"\r")
                writer.write(b"\n")
            if i % 64 == 0:
                await writer.drain()
        await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].split(b"?")[0]
                if path == b"/v2/events":
                    await stream(writer)
                    break
                body = apps_json(n_tasks) if path == b"/v2/apps" else b"[]"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(body)
                    + body
                )
                await writer.drain()
                if path == b"/v2/deployments":
                    synced.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it


# ---- the consumer (this process) ------------------------------------------------------------------
async def consume(url: str, n_events: int) -> tuple[float, ClusterView, int]:
    view = ClusterView()
    applied = 0
    started = 0.0
    done = asyncio.Event()

    def on_event(e: MarathonEvent) -> None:
        nonlocal applied
        view.apply(e)
        applied += 1
        if applied == n_events + 1:  # + event_stream_attached
            done.set()

    def on_resync(snapshot: Snapshot) -> None:
        nonlocal started
        view.replace(snapshot)
        started = time.perf_counter()

    async with MarathonClient([url]) as m, EventWatcher(m, on_event=on_event, on_resync=on_resync) as w:
        await asyncio.wait_for(done.wait(), timeout=300)
        elapsed = time.perf_counter() - started
        return elapsed, view, w.connects


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.events, args.tasks))
        return
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bench.bench_ingest",
            "--serve",
            f"--events={args.events}",
            f"--tasks={args.tasks}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        elapsed, view, connects = asyncio.run(consume(f"http://127.0.0.1:{port}", args.events))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    tasks = sum(len(view.tasks_of(a.id)) for a in view.apps())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    snap = Snapshot(
        apps=tuple(a.model_copy(update={"tasks": tuple(view.tasks_of(a.id))}) for a in view.apps())
    )
    t0 = time.perf_counter()
    view.replace(snap)
    replace_s = time.perf_counter() - t0
    rows = [
        ("events ingested (SSE → typed → view)", f"{args.events:,}"),
        ("stream connects", f"{connects}"),
        ("elapsed s", f"{elapsed:.2f}"),
        ("events/s", f"{args.events / elapsed:,.0f} (target ≥ 20,000)"),
        ("tasks in view", f"{tasks:,}"),
        ("peak RSS MB (consumer process)", f"{rss_mb:.0f} (target ≤ 150)"),
        ("consumer CPU s (user+sys, whole run)", f"{cpu.ru_utime + cpu.ru_stime:.2f}"),
        (f"replace(snapshot of {tasks:,} tasks) s", f"{replace_s:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()

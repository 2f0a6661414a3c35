"""Running the sample app: listening socket, abrupt stop on SIGTERM, and the ledger line.

The ledger is the proof that nothing was lost: when a task stops it records how many operations
were still pending (abandoned) and how many it completed. All tasks append to one shared file,
`<SAMPLE_LEDGER_DIR>/ledger.jsonl`, opened with O_APPEND and written with a single write(2) of
one short line, so lines of concurrent tasks never interleave. It must not import the reactor.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from types import TracebackType

from aiohttp import web

from reactor.sampleapp.app import STATE, SampleSettings, WorkState, build_app

LEDGER_FILE = "ledger.jsonl"
# aiohttp treats a shutdown timeout of 0 as "wait forever"; this is the smallest real grace
ABANDON_GRACE_S = 0.01


def ledger_line(state: WorkState) -> dict[str, object]:
    return {**state.identity(), "abandoned": state.pending, "completed": state.completed}


def append_ledger(ledger_dir: str, line: dict[str, object]) -> Path:
    """Append one JSON line to the shared ledger file atomically (one O_APPEND write)."""
    path = Path(ledger_dir) / LEDGER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


class SampleServer:
    """The sample app listening on settings.host:settings.port; an async context manager.

    `start`/`stop` are idempotent. `stop` abandons in-flight work at once (no grace period)
    and, when a ledger directory is configured, appends the ledger line first.
    """

    def __init__(self, settings: SampleSettings) -> None:
        self.settings = settings
        self.app = build_app(settings)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._ledger_written = False

    @property
    def state(self) -> WorkState:
        return self.app[STATE]

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SampleServer is not started")
        return self._port

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, shutdown_timeout=ABANDON_GRACE_S, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    def write_ledger(self) -> None:
        """Record pending/completed now; at most once per server."""
        if self.settings.ledger_dir and not self._ledger_written:
            self._ledger_written = True
            append_ledger(self.settings.ledger_dir, ledger_line(self.state))

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.write_ledger()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> SampleServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


async def serve_until_signal(settings: SampleSettings) -> int:
    """Run until SIGTERM/SIGINT; the ledger line is taken in the signal handler itself."""
    server = SampleServer(settings)
    try:
        await server.start()
    except OSError as exc:
        print(f"sample-app: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
              file=sys.stderr)
        return 2  # as `local-marathon` on a taken port: bad usage (4 means Marathon unreachable)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # taken before anything else runs, so no pending operation can complete in between;
        # then exit at once: an in-flight /work must not complete after being counted abandoned
        server.write_ledger()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    print(f"sample-app listening on http://{settings.host}:{server.port} "
          f"version={settings.version} task={settings.task_id}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
    return 0

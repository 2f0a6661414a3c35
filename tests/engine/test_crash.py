"""Crash tests: `python -m reactor run` is SIGKILLed at many points of a deployment and restarted
with the same state file; the deployment then completes and the invariants hold.

The reactor talks to the embedded Marathon through a recording proxy, which kills the reactor
exactly before or after its k-th Marathon write; other points are taken from the deploy events
on the reactor's own API stream (`GET /v1/events`). Invariants: BLUE never deleted before GREEN
serves the full target, healthy capacity never below the target (sampled from REST), no task in
two kill requests, only BLUE tasks killed, GREEN never scaled past target, one history record.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from reactor.adapters.store.sqlite import StateStore
from tests.engine.harness import (
    BLUE_ID,
    GREEN_ID,
    CapacitySampler,
    blue_def,
    free_port,
    green_def,
    local_marathon,
    wait_until,
)
from tests.engine.proxy import RecordingProxy

N = 2  # BLUE and GREEN instances; batch 1 -> writes: PUT 1, kill, PUT 2, kill, DELETE BLUE
REPO = Path(__file__).resolve().parents[2]


class Reactor:
    """The daemon as a child process; SIGKILL or SIGTERM only this pid."""

    def __init__(self, tmp_path: Path, marathon_url: str) -> None:
        self.api_port = free_port()
        self.cfg = tmp_path / "reactor.toml"
        self.cfg.write_text(
            f'[marathon]\nurls = ["{marathon_url}"]\nevent_idle_timeout_s = 5\n'
            '[lb]\ndriver = "none"\n[drain]\nsource = "none"\n'
            '[deploy]\nbatch_size = 1\nhealth_timeout_s = 60\nrollback_window_s = 0\n'
            f'[api]\nlisten = "127.0.0.1:{self.api_port}"\n'
            f'[state]\npath = "{tmp_path / "state.db"}"\nlease_ttl_s = 1.0\n'
            '[log]\nformat = "json"\nlevel = "info"\n')
        self.state = tmp_path / "state.db"
        self.log = tmp_path / "reactor.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "reactor", "run", "--config", str(self.cfg),
                stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)})

    def kill(self) -> bool:
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            return True
        return False

    async def wait_dead(self) -> None:
        assert self.proc is not None
        await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.kill()
                await self.proc.wait()

    def history(self) -> list[dict]:
        if not self.state.exists():
            return []
        with StateStore(self.state, owner="crash-test") as store:
            return store.list_history("web")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def _ready(session: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


async def _kill_on_event(session: aiohttp.ClientSession, reactor: Reactor, name: str,
                         connected: asyncio.Event) -> None:
    async with session.get(f"http://127.0.0.1:{reactor.api_port}/v1/events") as r:
        connected.set()
        async for raw in r.content:
            if raw.decode().strip() == f"event: {name}":
                reactor.kill()
                return


KILL_POINTS = [
    ("write", 1, "after"),  # GREEN scaled to 1, the reactor never saw Marathon's answer
    ("write", 2, "before"),  # first kill-and-scale recorded (write-ahead) but never sent
    ("write", 2, "after"),
    ("write", 3, "after"),  # GREEN scaled to 2
    ("write", 4, "after"),  # last BLUE task killed
    ("write", 5, "before"),  # BLUE delete decided, not sent
    ("write", 5, "after"),  # BLUE deleted, completion not yet recorded
    ("event", "deployment.started", ""),
    ("event", "green.healthy", ""),
    ("event", "blue.draining", ""),
]


@pytest.mark.parametrize(("kind", "point", "when"), KILL_POINTS,
                         ids=[f"{k}-{p}-{w}".rstrip("-") for k, p, w in KILL_POINTS])
async def test_sigkill_and_restart_completes_with_invariants(tmp_path: Path, kind: str, point: object,
                                                             when: str) -> None:
    async with local_marathon() as (lm, rest), aiohttp.ClientSession() as session:
        await rest.create(blue_def(N))
        await rest.wait_app_healthy(BLUE_ID, N)
        reactor_box: list[Reactor] = []
        killed_at: list[tuple[int, str]] = []

        def on_write(n: int, phase: str) -> bool:
            if kind == "write" and n == point and phase == when and not killed_at:
                killed_at.append((n, phase))
                return reactor_box[0].kill()
            return False

        async with RecordingProxy(lm.url, on_write=on_write) as proxy:
            reactor = Reactor(tmp_path, proxy.url)
            reactor_box.append(reactor)
            await reactor.start()
            try:
                await wait_until(lambda: _ready(session, reactor.api_port), timeout_s=20,
                                 what="reactor ready")
                connected = asyncio.Event()
                watcher = None
                if kind == "event":
                    watcher = asyncio.create_task(_kill_on_event(session, reactor, str(point), connected))
                    await asyncio.wait_for(connected.wait(), 10)
                async with CapacitySampler(rest) as sampler:
                    await rest.create(green_def(N))
                    await asyncio.wait_for(reactor.wait_dead(), 30)  # the kill point was reached
                    assert reactor.proc is not None and reactor.proc.returncode == -signal.SIGKILL
                    assert not reactor.history(), "finished before the kill point"
                    await reactor.start()  # same config, same state file
                    await wait_until(reactor.history, timeout_s=40, interval_s=0.1,
                                     what="the restarted reactor to finish the deployment")
                    await rest.wait_app_healthy(GREEN_ID, N)
                if watcher is not None:
                    watcher.cancel()
            except BaseException:
                print(reactor.tail())
                raise
            finally:
                await reactor.stop()
        history = reactor.history()
        apps = await rest.apps()
    assert len(history) == 1, history
    assert history[0]["outcome"] == "completed", (history, reactor.tail())
    assert BLUE_ID not in apps and apps[GREEN_ID]["instances"] == N
    sampler.assert_floor(N)
    sampler.assert_blue_outlived_green_ramp(N)
    kills = proxy.kill_ids()
    assert len(kills) == len(set(kills)), f"a task was in two kill requests: {kills}"
    assert all(t.startswith("web-blue.") for t in kills), kills
    green_scales = [w.body["instances"] for w in proxy.writes
                    if w.method == "PUT" and w.path.startswith("/v2/apps" + GREEN_ID)]
    assert green_scales and max(green_scales) == N and green_scales == sorted(green_scales), green_scales
    assert not [w for w in proxy.writes if w.method == "PUT" and w.path.startswith("/v2/apps" + BLUE_ID)]
    assert not [w for w in proxy.writes if w.method == "DELETE" and w.path.startswith("/v2/apps" + GREEN_ID)]

"""Drive one group's deployment in this process (no daemon): `deploy`, and `resume`/`rollback`/
`promote` when no daemon answers.

Owns the in-process run of an Engine limited to one group until the deployment ends, the live
progress line, and Ctrl-C: the deployment is paused (BLUE and GREEN stay as they are, nothing half
applied) and the user is told the exact commands that continue or roll back — which work with or
without a daemon. It decides nothing about deployments itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

from reactor.cli import render
from reactor.core.intent import Command, Outcome, Phase

ABORT_REASON_PREFIX = "aborted"
PAUSE_BOUND_S = 10.0


class Interrupted(Exception):
    """Ctrl-C or SIGTERM (`signum`): the deployment was paused (or left as it was when the pause
    did not land), and the lease given back; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, phase: str, signum: int = signal.SIGINT) -> None:
        super().__init__(phase)
        self.phase = phase
        self.exit_code = 128 + int(signum)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # a CI job cancelled sends SIGTERM: pause as on Ctrl-C


class LocalDrive:
    """Runs `engine` until `group`'s deployment ends; `say` prints a line, `live` the live line."""

    def __init__(self, engine: Any, group: str, *, say: Any, tty: bool, started: float) -> None:
        self.engine = engine
        self.group = group
        self.say = say
        self.tty = tty
        self.started = started
        self.events: list[Any] = []
        self._interrupted = asyncio.Event()
        self._signum: int = signal.SIGINT

    async def run(self) -> str:
        """The outcome; raises Interrupted after Ctrl-C or SIGTERM (the deployment then paused)."""
        e = self.engine
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._interrupt, signum)
        runner = asyncio.create_task(e.run(), name="engine")
        follower = asyncio.create_task(self._follow(), name="progress")
        try:
            outcome = await self._wait_end(runner)
            if outcome is None:
                raise Interrupted(await self._pause(), self._signum)
            return outcome
        finally:
            for signum in STOP_SIGNALS:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)
            e.stop()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(runner, 30)
            follower.cancel()
            with contextlib.suppress(BaseException):
                await follower
            if runner.done() and not runner.cancelled() and runner.exception() is not None:
                raise runner.exception()  # type: ignore[misc]

    def _interrupt(self, signum: int) -> None:
        self._signum = signum
        self._interrupted.set()

    async def _pause(self) -> str:
        """Record `abort` (pause) and wait, bounded, until the engine has applied it."""
        e = self.engine
        st = e.controllers.status.get(self.group)
        if st is None or st.intent.finished or st.intent.phase is Phase.PAUSED:
            return st.intent.phase.value if st else "not started"
        await e.backend.record_command(self.group, Command.ABORT.value, source="cli:ctrl-c")
        e.controllers.queue_command(self.group, Command.ABORT)
        e.mark({self.group}, trigger="command.abort")
        deadline = time.monotonic() + PAUSE_BOUND_S
        while time.monotonic() < deadline:
            st = e.controllers.status.get(self.group)
            if st is not None and st.intent.phase in (Phase.PAUSED, *_finished()):
                return st.intent.phase.value
            await asyncio.sleep(0.05)  # bounded wait for the engine's next reconcile
        st = e.controllers.status.get(self.group)
        return st.intent.phase.value if st else "unknown"

    async def _wait_end(self, runner: asyncio.Task[None]) -> str | None:
        """The outcome, or None on Ctrl-C."""
        e = self.engine
        done = e.controllers.finished(self.group)
        last_line, moving = "", False
        while not done.is_set():
            if self._interrupted.is_set():
                return None
            if runner.done():
                return Outcome.FAILED.value
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.5)
            st = e.controllers.status.get(self.group)
            if st is None:
                continue
            if st.intent.phase is not Phase.PAUSED:
                moving = True  # (a `resume` starts paused: only a pause after moving ends the run)
            elif moving and (st.intent.paused_reason or "").startswith(ABORT_REASON_PREFIX):
                return Outcome.ABORTED.value
            line = self.status_line(st)
            if line != last_line and self.tty:
                sys.stdout.write("\r\033[K" + line)
                sys.stdout.flush()
            last_line = line
        st = e.controllers.status.get(self.group)
        return (st.intent.outcome or Outcome.FAILED).value if st else Outcome.FAILED.value

    def status_line(self, st: Any) -> str:
        c = st.counts
        drains = self.engine.drains.observations()
        pend = ", ".join(f"{render.short_task(tid)}: {render.pending_text(drains[tid].pending)}"
                         for tid in sorted(st.intent.draining) if tid in drains and not drains[tid].drained)
        return (f"[{time.monotonic() - self.started:6.1f}s] {st.intent.phase.value}: GREEN healthy "
                f"{c.get('green_healthy', 0)}/{c.get('target', 0)} · BLUE live {c.get('blue_live', 0)} · "
                f"killed {c.get('blue_killed', 0)}" + (f" · pending {pend}" if pend else ""))

    async def _follow(self) -> None:
        async with self.engine.bus.subscribe() as sub:
            async for event in sub:
                if event.group != self.group:
                    continue
                self.events.append(event)
                tasks = f" {len(event.tasks)} task(s)" if event.tasks else ""
                if event.name.value == "green.scaled" and "instances" in event.counts:
                    tasks = f" to {event.counts['instances']} of {event.counts.get('target', '?')}"
                reason = f" — {event.reason}" if event.reason else ""
                self.say(f"[{time.monotonic() - self.started:6.1f}s] {event.name.value}{tasks}{reason}")


def _finished() -> tuple[Phase, ...]:
    return (Phase.DONE, Phase.ROLLED_BACK, Phase.FAILED)


def interrupted_message(group: str, phase: str, config: str | None) -> str:
    """What Ctrl-C left and the exact commands that continue or roll back (daemon or not)."""
    cfg = f" --config {config}" if config else ""
    if phase in ("done", "rolled_back", "failed"):
        return f"interrupted: the deployment of {group} had already ended ({phase})"
    state = ("paused: BLUE and GREEN stay as they are, nothing is moving" if phase == "paused" else
             f"left in phase {phase} (the pause did not land in time)")
    return (f"interrupted: {group} {state}.\n"
            f"  continue:     bluegreen resume {group}{cfg}\n"
            f"  roll back:    bluegreen rollback {group}{cfg}\n"
            f"  (these work with or without a running 'bluegreen run'; without one they drive it here)")

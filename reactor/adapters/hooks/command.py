"""Command transport: run a configured argv with the deploy event as JSON on stdin.

Owns the process contract of command hooks: stdin is `event.payload()` as JSON; the environment
is minimal — PATH, HOME, LANG (and LC_ALL, TZ when set), the variables the hook's
`env_passthrough` names, and `BLUEGREEN_EVENT` (event name), `BLUEGREEN_EVENT_ID` and
`BLUEGREEN_GROUP` — never the reactor's whole environment (it holds the API token and Marathon
credentials);
the process runs in its own session (process group) so a timeout kills it *and its children*.
For gates the exit code is the answer: 0 = allow, 75 (EX_TEMPFAIL) = hold, anything else = veto.
It must not decide what a failure means for the deployment and must not count metrics.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal

import structlog

from reactor.adapters.hooks.errors import HookRejected, HookTimedOut, HookTransportError
from reactor.core.deploy_events import DeployEvent, GateAnswer
from reactor.settings import CommandHookSettings

log = structlog.get_logger(__name__)

EX_TEMPFAIL = 75
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
_OUTPUT_TAIL_BYTES = 2000
_REAP_TIMEOUT_S = 5.0


def answer_for_exit(code: int) -> GateAnswer:
    if code == 0:
        return GateAnswer.ALLOW
    if code == EX_TEMPFAIL:
        return GateAnswer.HOLD
    return GateAnswer.VETO


def minimal_env(passthrough: list[str] | tuple[str, ...] = (),
                source: dict[str, str] | None = None) -> dict[str, str]:
    """PATH, HOME, LANG (LC_ALL, TZ) and the named variables, from `source` (default os.environ)."""
    env = os.environ if source is None else source
    out = {k: env[k] for k in (*BASE_ENV, *passthrough) if k in env}
    out.setdefault("PATH", os.defpath)
    return out


def _tail(data: bytes | None) -> str:
    return (data or b"")[-_OUTPUT_TAIL_BYTES:].decode("utf-8", errors="replace").strip()


class Command:
    """One configured command hook."""

    def __init__(self, settings: CommandHookSettings) -> None:
        self.settings = settings
        self.display = shlex.join(settings.argv)

    @property
    def max_duration_s(self) -> float:
        """An upper bound of one `run`, kill included."""
        return self.settings.timeout_s + _REAP_TIMEOUT_S + 1.0

    def _env(self, event: DeployEvent) -> dict[str, str]:
        return {**minimal_env(self.settings.env_passthrough), "BLUEGREEN_EVENT": event.name.value,
                "BLUEGREEN_EVENT_ID": event.id, "BLUEGREEN_GROUP": event.group}

    async def run(self, event: DeployEvent) -> int:
        """Run once; returns the exit code. Raises HookTimedOut (group killed) or HookTransportError."""
        body = json.dumps(event.payload(), separators=(",", ":"), sort_keys=True).encode()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.settings.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._env(event), start_new_session=True)
        except OSError as exc:
            raise HookTransportError(f"cannot start {self.display!r}: {exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(body), self.settings.timeout_s)
        except TimeoutError:
            await self._kill(proc)
            raise HookTimedOut(
                f"{self.display!r} still running after {self.settings.timeout_s:g}s; killed") from None
        except BaseException:  # cancelled: never leave the process behind
            await self._kill(proc)
            raise
        code = proc.returncode if proc.returncode is not None else -1
        if out or err:
            log.info("command_hook.output", command=self.display, event_id=event.id, exit_code=code,
                     stdout=_tail(out), stderr=_tail(err))
        return code

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:  # a descendant that left the process group may still hold our pipes open
            await asyncio.wait_for(proc.wait(), _REAP_TIMEOUT_S)
        except TimeoutError:
            log.error("command_hook.not_reaped", command=self.display, pid=proc.pid)

    async def deliver(self, event: DeployEvent) -> None:
        """Run for an ordinary event; a non-zero exit raises HookRejected."""
        code = await self.run(event)
        if code != 0:
            raise HookRejected(f"{self.display!r} exited with {code}", exit_code=code)

    async def ask(self, event: DeployEvent) -> GateAnswer:
        return answer_for_exit(await self.run(event))

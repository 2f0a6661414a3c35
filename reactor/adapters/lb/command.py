"""The command driver: a user's program applies each change to whatever balancer they run.

Owns running `argv` once per operation with one JSON request on stdin and reading JSON on stdout:
request `{"op": "add"|"drain"|"maint"|"remove"|"observe", "backend", "task_id", "address", "port"}`
(fields that do not apply are omitted); observe expects `{"servers": [{"task_id", "name",
"address", "port", "state", "sessions", "queued"}]}`; the other operations accept any output.
A non-zero exit is LbCommandFailed (with the program's stderr), a program still running after
`timeout_s` is killed and LbTimeout raised, an observe answer that is not that JSON is
LbProtocolError. The program must be idempotent, like every driver.
Must not use a shell (argv is executed directly). The program gets a minimal environment (PATH,
HOME, LANG, LC_ALL, TZ and the names in `env_passthrough`), never the reactor's secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import suppress
from enum import StrEnum
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reactor.adapters.lb.base import Lifecycle, PoolServer, ServerState
from reactor.adapters.lb.errors import (
    LbCommandFailed,
    LbInvalidRequest,
    LbProtocolError,
    LbTimeout,
    LbUnsupported,
)
from reactor.adapters.lb.names import check_port

log = structlog.get_logger(__name__)

_STDERR_KEEP = 4000  # characters of stderr kept in errors (the end, where the reason usually is)


class Op(StrEnum):
    ADD = "add"
    DRAIN = "drain"
    MAINT = "maint"
    REMOVE = "remove"
    OBSERVE = "observe"


class _Server(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task_id: str = Field(min_length=1)
    name: str = ""
    address: str = ""
    port: int = Field(0, ge=0, le=65535)
    state: ServerState
    sessions: int = Field(0, ge=0)
    queued: int = Field(0, ge=0)


class _ObserveAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    servers: list[_Server]


def _minimal_env(passthrough: list[str] | tuple[str, ...]) -> dict[str, str]:
    names = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", *passthrough)
    out = {k: os.environ[k] for k in names if k in os.environ}
    out.setdefault("PATH", os.defpath)
    return out


class CommandLoadBalancer(Lifecycle):
    def __init__(self, argv: list[str], *, timeout_s: float = 10.0,
                 env_passthrough: list[str] | tuple[str, ...] = ()) -> None:
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise LbInvalidRequest("lb command argv is empty: set [lb.command] argv = [\"program\", ...]")
        if timeout_s <= 0:
            raise LbInvalidRequest(f"lb command timeout must be > 0 s, got {timeout_s}")
        self._argv = list(argv)
        self._timeout_s = timeout_s
        self._env = _minimal_env(env_passthrough)

    async def _call(self, request: dict[str, Any]) -> bytes:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
            )
        except OSError as exc:  # not found, not executable
            raise LbCommandFailed(self._argv, 127, f"cannot start: {exc}") from None
        payload = json.dumps(request).encode() + b"\n"
        assert proc.stdout is not None and proc.stderr is not None
        out_task = asyncio.ensure_future(proc.stdout.read())
        err_task = asyncio.ensure_future(proc.stderr.read())
        exit_task = asyncio.ensure_future(proc.wait())
        try:
            async with asyncio.timeout(self._timeout_s):
                await _feed(proc, payload)
                await asyncio.wait({out_task, err_task, exit_task})  # unlike gather, never cancels them
        except TimeoutError:
            with suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            out_task.cancel()
            stderr = await _tail(err_task)
            what = f"lb command {self._argv[0]!r} ({request['op']})"
            raise LbTimeout(what, self._timeout_s, stderr) from None
        except asyncio.CancelledError:  # the caller gave up: do not leave the program behind
            with suppress(ProcessLookupError):
                proc.kill()
            for task in (out_task, err_task, exit_task):
                task.cancel()
            raise
        out, err = out_task.result(), err_task.result()
        stderr = err.decode("utf-8", "replace")[-_STDERR_KEEP:]
        if proc.returncode != 0:
            raise LbCommandFailed(self._argv, proc.returncode or 0, stderr)
        log.debug("lb.command", op=request["op"], backend=request["backend"], task=request.get("task_id"))
        return out

    async def observe(self, backend: str) -> dict[str, PoolServer]:
        out = await self._call({"op": Op.OBSERVE.value, "backend": backend})
        try:
            answer = _ObserveAnswer.model_validate_json(out)
        except ValidationError as exc:
            text = out.decode("utf-8", "replace")
            raise LbProtocolError(f"{text[:300]} ({exc.error_count()} problem(s): "
                                  f"{exc.errors()[0]['msg']})", "observe") from None
        return {
            s.task_id: PoolServer(task_id=s.task_id, name=s.name or s.task_id, address=s.address,
                                  port=s.port, state=s.state, sessions=s.sessions, queued=s.queued)
            for s in answer.servers
        }

    async def add(self, backend: str, task_id: str, address: str, port: int, backup: bool = False) -> None:
        if not task_id:
            raise LbInvalidRequest("task id is empty")
        if backup:  # the program's protocol has no backup servers: standby tasks stay out
            raise LbUnsupported("the command LB driver cannot add backup servers")
        await self._call({"op": Op.ADD.value, "backend": backend, "task_id": task_id,
                          "address": address, "port": check_port(port)})

    async def drain(self, backend: str, task_id: str) -> None:
        await self._call({"op": Op.DRAIN.value, "backend": backend, "task_id": task_id})

    async def maint(self, backend: str, task_id: str) -> None:
        await self._call({"op": Op.MAINT.value, "backend": backend, "task_id": task_id})

    async def remove(self, backend: str, task_id: str) -> None:
        await self._call({"op": Op.REMOVE.value, "backend": backend, "task_id": task_id})


async def _feed(proc: asyncio.subprocess.Process, payload: bytes) -> None:
    assert proc.stdin is not None
    with suppress(BrokenPipeError, ConnectionResetError):  # the program need not read its stdin
        proc.stdin.write(payload)
        await proc.stdin.drain()
    proc.stdin.close()


async def _tail(err_task: asyncio.Future[bytes]) -> str:
    """What the killed program wrote on stderr (bounded: a grandchild may hold the pipe open)."""
    try:
        async with asyncio.timeout(1.0):
            return (await err_task).decode("utf-8", "replace")[-_STDERR_KEEP:]
    except TimeoutError:
        err_task.cancel()
        return ""

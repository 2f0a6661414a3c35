"""Task executors: `process` (real local processes) and `virtual` (scripted, no processes).

Owns: starting/stopping tasks and answering health/readiness probes for them. Reports back to
the cluster through `TaskObserver` (running, terminated). The process executor runs `cmd` via
`sh -c` in a new session (process group) per task, stops it with SIGTERM then SIGKILL after
`taskKillGracePeriodSeconds`, and SIGKILLs the group once the leader exits so nothing is orphaned.
Must not: change cluster state directly or emit events.

Virtual tasks are scripted by app labels (all optional):
  LOCALMARATHON_STAGING_S=0.05       seconds from launch to TASK_RUNNING
  LOCALMARATHON_HEALTH=healthy       healthy | unhealthy | healthy-after-<N>s | unhealthy-after-<N>s | flaky
                                     (N counts from TASK_RUNNING; flaky alternates pass/fail per probe)
  LOCALMARATHON_READY=ready          ready | not-ready | ready-after-<N>s (readiness checks)
  LOCALMARATHON_EXIT=never           never | fail-after-<N>s | finish-after-<N>s (task ends by itself)
  LOCALMARATHON_KILL_S=0.05          seconds a kill takes before TASK_KILLED (the app stays locked)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from typing import Any, Protocol

import aiohttp
import structlog

from reactor.localmarathon.model import HOST, Instance, TaskState

log = structlog.get_logger(__name__)
_AFTER = re.compile(r"^(healthy|unhealthy|ready|fail|finish)-after-([0-9.]+)s$")


class TaskObserver(Protocol):
    def task_running(self, inst: Instance) -> None: ...
    def task_terminated(self, inst: Instance, state: TaskState, message: str) -> None: ...


def _label(app: dict[str, Any], name: str, default: str) -> str:
    return str((app.get("labels") or {}).get(name, default))


def _since_running_s(inst: Instance) -> float:
    return 0.0 if inst.running_since_s is None else time.monotonic() - inst.running_since_s


def _after(spec: str) -> tuple[str, float] | None:
    m = _AFTER.match(spec)
    return (m.group(1), float(m.group(2))) if m else None


class VirtualExecutor:
    """No processes: timers drive the lifecycle, labels script health and readiness."""

    def __init__(self) -> None:
        self.observer: TaskObserver | None = None
        self._timers: dict[str, list[asyncio.TimerHandle]] = {}
        self._flaky: dict[str, int] = {}
        self._kill_s: dict[str, float] = {}

    def _later(self, inst: Instance, delay_s: float, fn: Any, *args: Any) -> None:
        handle = asyncio.get_running_loop().call_later(delay_s, fn, *args)
        self._timers.setdefault(inst.task_id, []).append(handle)

    def launch(self, inst: Instance, app: dict[str, Any]) -> None:
        assert self.observer is not None
        staging_s = float(_label(app, "LOCALMARATHON_STAGING_S", "0.05"))
        kill_s = float(_label(app, "LOCALMARATHON_KILL_S", "0.05"))
        if kill_s:
            self._kill_s[inst.instance_id] = kill_s
        self._later(inst, staging_s, self._running, inst, inst.task_id, app)

    def _running(self, inst: Instance, task_id: str, app: dict[str, Any]) -> None:
        assert self.observer is not None
        if inst.task_id != task_id:
            return
        self.observer.task_running(inst)
        exit_spec = _after(_label(app, "LOCALMARATHON_EXIT", "never"))
        if exit_spec:
            kind, after_s = exit_spec
            state = TaskState.FAILED if kind == "fail" else TaskState.FINISHED
            message = "Command exited with status 1" if kind == "fail" else "Command exited with status 0"
            self._later(inst, after_s, self._ended, inst, task_id, state, message)

    def _ended(self, inst: Instance, task_id: str, state: TaskState, message: str) -> None:
        assert self.observer is not None
        if inst.task_id == task_id:
            for handle in self._timers.pop(task_id, []):
                handle.cancel()
            self._flaky.pop(task_id, None)
            self.observer.task_terminated(inst, state, message)

    def kill(self, inst: Instance, grace_s: float) -> None:
        kill_s = self._kill_s.get(inst.instance_id, 0.0)
        for handle in self._timers.pop(inst.task_id, []):
            handle.cancel()
        self._later(inst, kill_s, self._ended, inst, inst.task_id, TaskState.KILLED, "")

    async def probe(
        self, inst: Instance, check: dict[str, Any], app: dict[str, Any]
    ) -> tuple[bool | None, str]:
        spec = _label(app, "LOCALMARATHON_HEALTH", "healthy")
        if spec == "healthy":
            return True, ""
        if spec == "unhealthy":
            return False, "503 Service Unavailable"
        if spec == "flaky":
            n = self._flaky[inst.task_id] = self._flaky.get(inst.task_id, 0) + 1
            return (True, "") if n % 2 else (False, "503 Service Unavailable")
        after = _after(spec)
        if after is None:
            return True, ""
        kind, after_s = after
        passed = _since_running_s(inst) >= after_s
        ok = passed if kind == "healthy" else not passed
        return (True, "") if ok else (False, "503 Service Unavailable")

    async def ready(self, inst: Instance, check: dict[str, Any], app: dict[str, Any]) -> tuple[bool, Any]:
        spec = _label(app, "LOCALMARATHON_READY", "ready")
        after = _after(spec)
        ok = spec == "ready" or (after is not None and _since_running_s(inst) >= after[1])
        return ok, {"status": 200 if ok else 503, "contentType": "text/plain", "body": ""}

    async def close(self) -> None:
        for handles in self._timers.values():
            for handle in handles:
                handle.cancel()
        self._timers.clear()


def task_env(inst: Instance, app: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARATHON_", "MESOS_", "PORT"))}
    for key, value in (app.get("env") or {}).items():
        if isinstance(value, str):
            env[key] = value
    env.update(
        {
            "HOST": HOST,
            "MARATHON_APP_ID": inst.app_id,
            "MARATHON_APP_VERSION": inst.version,
            "MESOS_TASK_ID": inst.task_id,
            "PORTS": ",".join(str(p) for p in inst.ports),
        }
    )
    for i, port in enumerate(inst.ports):
        env[f"PORT{i}"] = str(port)
    if inst.ports:
        env["PORT"] = str(inst.ports[0])
    for name, value in (app.get("labels") or {}).items():
        key = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
        env[f"MARATHON_APP_LABEL_{key}"] = str(value)
    return env


def _probe_port(inst: Instance, check: dict[str, Any]) -> int | None:
    if check.get("port"):
        return int(check["port"])
    idx = int(check.get("portIndex", 0))
    return inst.ports[idx] if 0 <= idx < len(inst.ports) else None


class ProcessExecutor(VirtualExecutor):
    """Each task is `sh -c cmd` in its own process group on this machine."""

    def __init__(self) -> None:
        super().__init__()
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._runners: set[asyncio.Task[None]] = set()
        self._kill_requested: set[str] = set()
        self._session: aiohttp.ClientSession | None = None

    def launch(self, inst: Instance, app: dict[str, Any]) -> None:
        runner = asyncio.get_running_loop().create_task(self._run(inst, inst.task_id, app))
        self._runners.add(runner)
        runner.add_done_callback(self._runners.discard)

    async def _run(self, inst: Instance, task_id: str, app: dict[str, Any]) -> None:
        assert self.observer is not None
        argv = ["/bin/sh", "-c", app["cmd"]] if app.get("cmd") else [str(a) for a in app.get("args") or []]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=task_env(inst, app),
                start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sys.stderr.fileno() if _has_fd(sys.stderr) else None,
            )
        except OSError as exc:
            self.observer.task_terminated(inst, TaskState.FAILED, f"Failed to launch: {exc}")
            return
        self._procs[task_id] = proc
        log.info("task started", task=task_id, pid=proc.pid)
        self.observer.task_running(inst)
        if task_id in self._kill_requested:
            self._signal(proc, signal.SIGTERM)
        rc = await proc.wait()
        self._signal(proc, signal.SIGKILL)  # anything left in the task's group
        self._procs.pop(task_id, None)
        killed = task_id in self._kill_requested
        self._kill_requested.discard(task_id)
        if killed:
            state, message = TaskState.KILLED, ""
        elif rc == 0:
            state, message = TaskState.FINISHED, "Command exited with status 0"
        elif rc < 0:
            state, message = TaskState.FAILED, f"Command terminated with signal {signal.Signals(-rc).name}"
        else:
            state, message = TaskState.FAILED, f"Command exited with status {rc}"
        if inst.task_id == task_id:
            self.observer.task_terminated(inst, state, message)

    @staticmethod
    def _signal(proc: asyncio.subprocess.Process, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def kill(self, inst: Instance, grace_s: float) -> None:
        task_id = inst.task_id
        self._kill_requested.add(task_id)
        proc = self._procs.get(task_id)
        if proc is None:
            return  # not spawned yet: _run signals it right after the spawn
        self._signal(proc, signal.SIGTERM)
        asyncio.get_running_loop().call_later(grace_s, self._kill_if_running, proc)

    def _kill_if_running(self, proc: asyncio.subprocess.Process) -> None:
        # Once the leader is reaped, _run has already SIGKILLed its group; its pid may be reused.
        if proc.returncode is None:
            self._signal(proc, signal.SIGKILL)

    async def probe(
        self, inst: Instance, check: dict[str, Any], app: dict[str, Any]
    ) -> tuple[bool | None, str]:
        from reactor.localmarathon.probes import run_probe

        if self._session is None:
            self._session = aiohttp.ClientSession()
        return await run_probe(self._session, inst, check, _probe_port(inst, check), task_env(inst, app))

    async def ready(self, inst: Instance, check: dict[str, Any], app: dict[str, Any]) -> tuple[bool, Any]:
        from reactor.localmarathon.probes import run_readiness

        if self._session is None:
            self._session = aiohttp.ClientSession()
        names = [p.get("name") for p in app.get("portDefinitions") or []]
        idx = names.index(check.get("portName")) if check.get("portName") in names else 0
        port = inst.ports[idx] if idx < len(inst.ports) else None
        return await run_readiness(self._session, check, port)

    async def close(self) -> None:
        procs = list(self._procs.items())
        for task_id, proc in procs:
            self._kill_requested.add(task_id)
            self._signal(proc, signal.SIGTERM)
        if procs:
            _done, pending = await asyncio.wait(
                [asyncio.ensure_future(p.wait()) for _, p in procs], timeout=3.0
            )
            for _, proc in procs:
                self._kill_if_running(proc)
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        for runner in list(self._runners):
            runner.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await super().close()


def _has_fd(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True

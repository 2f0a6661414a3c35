"""Setting up the demo world: the embedded Marathon and sample-app processes, app definitions.

Owns: starting `python -m reactor local-marathon` / `python -m reactor sample-app` as child
processes (output to a log file, readiness from their "listening on" line), the Marathon app
JSON of the sample app, and REST waits used by the demo and tests as scaffolding (the reactor
itself never polls Marathon). Must not deploy anything or touch the load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import structlog

from reactor.cli.demo.errors import ComponentFailed

log = structlog.get_logger(__name__)
MARKER_VAR = "BLUEGREEN_DEMO_CHILD"
_LISTENING = re.compile(r"listening on (http://[0-9A-Za-z.\[\]:-]+:(\d+))")


class ChildProcess:
    """A `python -m reactor <command>` child that prints `... listening on http://H:P` when ready.

    An async context manager; output goes to `log_path`. `stop()` sends SIGTERM (the child
    stops what it started: local-marathon stops its tasks) and SIGKILLs after `stop_timeout_s`.
    Every descendant inherits the environment variable `BLUEGREEN_DEMO_CHILD=<random id>`; after
    the child is gone, `stop()` SIGKILLs any process still carrying it (a task the child failed
    to stop) and logs a warning naming them, so no run leaves processes behind.
    """

    def __init__(self, name: str, argv: list[str], log_path: Path, *, env: dict[str, str] | None = None,
                 start_timeout_s: float = 20.0, stop_timeout_s: float = 10.0) -> None:
        self.name = name
        self.argv = argv
        self.log_path = Path(log_path)
        self.marker = uuid.uuid4().hex
        self.env = {**(env if env is not None else os.environ), MARKER_VAR: self.marker}
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.process: asyncio.subprocess.Process | None = None
        self.leftover_pids: list[int] = []  # descendants that outlived the child, killed by stop()
        self.url = ""
        self.port = 0

    async def start(self) -> None:
        if self.process is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=self.env)
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            match = _LISTENING.search(self._log_since(offset))
            if match:
                self.url, self.port = match.group(1), int(match.group(2))
                return
            if self.process.returncode is not None or time.monotonic() > deadline:
                what = (f"exited with {self.process.returncode}" if self.process.returncode is not None
                        else f"not listening after {self.start_timeout_s}s")
                tail = self._log_since(offset)[-800:].strip()
                await self.stop()
                raise ComponentFailed(self.name, f"{what}: {tail}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 0.05)

    def _log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    async def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        leftovers = kill_marked(self.marker)
        self.leftover_pids += leftovers
        if leftovers:
            log.warning("demo.leftover_processes_killed", child=self.name, pids=leftovers)

    async def kill(self) -> None:
        """SIGKILL at once (fault tests: a task that dies without a word)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def __aenter__(self) -> ChildProcess:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def kill_marked(marker: str) -> list[int]:
    """SIGKILL every process whose environment has BLUEGREEN_DEMO_CHILD=<marker> (Linux /proc).

    Scans until two passes in a row find nothing new: one pass can miss a process whose environ
    could not be read at that instant (one CI run of 803 tests saw a marked grandchild missed),
    and a process may fork while it is being killed."""
    needle = f"{MARKER_VAR}={marker}".encode()
    killed: list[int] = []
    quiet = 0
    for _pass in range(6):
        found = _kill_pass(needle, set(killed))
        killed += found
        quiet = 0 if found else quiet + 1
        if quiet == 2:
            break
    return killed


def _kill_pass(needle: bytes, done: set[int]) -> list[int]:
    killed = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            pid = int(entry.name)
            if pid not in done and needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return killed


def reactor_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "reactor", *args]


def start_local_marathon_subprocess(port: int = 0, executor: str = "process", *,
                                    workdir: Path | None = None, host: str = "127.0.0.1",
                                    extra_args: tuple[str, ...] = (),
                                    start_timeout_s: float = 20.0) -> ChildProcess:
    """`bluegreen local-marathon` as a child (use `async with`); `.url` once started.

    Its output (and its tasks') goes to `<workdir>/local-marathon.log` (a new temporary
    directory when workdir is None)."""
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="bluegreen-demo-"))
    argv = reactor_argv("local-marathon", "--host", host, "--port", str(port), "--executor", executor,
                        *extra_args)
    return ChildProcess("local-marathon", argv, Path(workdir) / "local-marathon.log",
                        start_timeout_s=start_timeout_s)


def sample_app_process(workdir: Path, *, version: str, port: int = 0, task_id: str | None = None,
                       ledger_dir: Path | None = None,
                       extra_env: dict[str, str] | None = None) -> ChildProcess:
    """One sample-app process outside Marathon (use `async with`); `.url` once started."""
    env = {**os.environ, "PORT0": str(port), "APP_VERSION": version, **(extra_env or {})}
    if task_id:
        env["MESOS_TASK_ID"] = task_id
    if ledger_dir is not None:
        env["SAMPLE_LEDGER_DIR"] = str(ledger_dir)
    name = f"sample-app-{task_id or version}"
    return ChildProcess(name, reactor_argv("sample-app"), Path(workdir) / f"{name}.log", env=env)


def sample_app_definition(app_id: str, *, version: str, instances: int, ledger_dir: Path | None = None,
                          group: str | None = None, health_interval_s: float = 1,
                          health_grace_s: float = 10.0, health_timeout_s: float = 1,
                          max_consecutive_failures: int = 3, kill_grace_s: float = 3.0,
                          extra_env: dict[str, str] | None = None,
                          labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Marathon app JSON running the sample app with an HTTP health check on /health.

    `version` goes to APP_VERSION, so changing it is a config change (RestartApplication).
    `group` sets the BLUEGREEN_GROUP label. upgradeStrategy is Marathon's default.
    """
    env = {"APP_VERSION": version, **(extra_env or {})}
    if ledger_dir is not None:
        env["SAMPLE_LEDGER_DIR"] = str(ledger_dir)
    all_labels = dict(labels or {})
    if group is not None:
        all_labels["BLUEGREEN_GROUP"] = group
    return {
        "id": app_id,
        "cmd": f"exec {shlex.join(reactor_argv('sample-app'))}",
        "instances": instances,
        "cpus": 0.1,
        "mem": 64,
        "env": env,
        "labels": all_labels,
        "portDefinitions": [{"port": 0, "protocol": "tcp", "name": "http"}],
        "healthChecks": [{
            "protocol": "HTTP", "path": "/health", "portIndex": 0,
            "gracePeriodSeconds": health_grace_s, "intervalSeconds": health_interval_s,
            "timeoutSeconds": health_timeout_s, "maxConsecutiveFailures": max_consecutive_failures,
        }],
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        "taskKillGracePeriodSeconds": kill_grace_s,
    }


def healthy_running_tasks(app: dict[str, Any]) -> list[dict[str, Any]]:
    """Tasks in TASK_RUNNING whose every health check result is alive (all of them, when the app
    has no health checks)."""
    has_checks = bool(app.get("healthChecks"))
    out = []
    for task in app.get("tasks") or []:
        if task.get("state") != "TASK_RUNNING":
            continue
        results = task.get("healthCheckResults") or []
        if has_checks and (not results or not all(r.get("alive") for r in results)):
            continue
        out.append(task)
    return out


async def _get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        if resp.status == 404:
            return None
        resp.raise_for_status()
        return await resp.json()


async def wait_healthy(url: str, app_id: str, n: int, timeout_s: float, *, version: str | None = None,
                       poll_s: float = 0.1) -> dict[str, Any]:
    """Poll `GET /v2/apps/{id}?embed=app.tasks` until `n` tasks (of `version`'s APP_VERSION
    when given: the app's env must carry it and no deployment may be running) are healthy and
    running; the app JSON. TimeoutError with the last seen counts otherwise."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        while True:
            body = await _get_json(session, f"{url}/v2/apps{app_id}?embed=app.tasks")
            app = (body or {}).get("app") or {}
            last = app
            current = version is None or ((app.get("env") or {}).get("APP_VERSION") == version
                                          and not app.get("deployments"))
            if current and len(healthy_running_tasks(app)) >= n:
                return app
            if time.monotonic() > deadline:
                raise TimeoutError(f"{app_id}: {len(healthy_running_tasks(last))}/{n} healthy tasks "
                                   f"after {timeout_s}s (deployments: {last.get('deployments')})")
            await asyncio.sleep(poll_s)  # REST polling is this helper's purpose (scaffolding)


async def wait_deployment_done(url: str, deployment_id: str, timeout_s: float,
                               *, poll_s: float = 0.1) -> float:
    """Poll `GET /v2/deployments` until `deployment_id` is gone; the seconds it took."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            deployments = await _get_json(session, f"{url}/v2/deployments") or []
            if all(d.get("id") != deployment_id for d in deployments):
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"deployment {deployment_id} still running after {timeout_s}s")
            await asyncio.sleep(poll_s)  # REST polling is this helper's purpose (scaffolding)

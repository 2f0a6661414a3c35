"""Helpers for the product-surface tests: the REAL `bluegreen` CLI and daemon as subprocesses
against the embedded Marathon (in-process, virtual executor), config files in a tmp dir.

Nothing is mocked: every command runs as `python -m reactor ...` (the console script's code),
talks HTTP to a real LocalMarathon and to the daemon's real API, and keeps state in a real SQLite
file. Waits poll a condition with a deadline; none sleeps as synchronization.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from reactor.localmarathon.server import LocalMarathon
from tests.waiting import free_port
from tests.waiting import wait_until as _wait_until

GROUP = "web"
BLUE_ID = "/web-blue"
GREEN_REQUESTED_ID = "/web"
BLUE_STARTED_AT = "2026-01-01T00:00:00.000Z"
TOKEN = "s3cret-token"
REPO = Path(__file__).resolve().parents[2]


async def wait_until(predicate: Callable[[], Any], *, timeout_s: float = 20.0, what: str,
                     interval_s: float = 0.05) -> Any:
    return await _wait_until(predicate, timeout_s=timeout_s, what=what, interval_s=interval_s)


# ---- app definitions ------------------------------------------------------------------------------
def app_def(app_id: str, instances: int, labels: dict[str, str] | None = None, *,
            health: str = "healthy") -> dict[str, Any]:
    return {
        "id": app_id, "cmd": "sleep 1000", "cpus": 0.01, "mem": 16, "instances": instances,
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
                          "intervalSeconds": 0.1, "gracePeriodSeconds": 5, "timeoutSeconds": 1,
                          "maxConsecutiveFailures": 3}],
        "labels": {"LOCALMARATHON_HEALTH": health, "LOCALMARATHON_STAGING_S": "0.05", **(labels or {})},
    }


def blue_def(instances: int = 3) -> dict[str, Any]:
    return app_def(BLUE_ID, instances, {"BLUEGREEN_GROUP": GROUP, "BLUEGREEN_STARTED_AT": BLUE_STARTED_AT})


def write_green(tmp: Path, *, instances: int = 3, health: str = "healthy",
                labels: dict[str, str] | None = None, name: str = "green.json") -> Path:
    """The new version's definition as a user writes it: no BLUEGREEN_* labels but the group."""
    body = app_def(GREEN_REQUESTED_ID, instances, {"BLUEGREEN_GROUP": GROUP, **(labels or {})},
                   health=health)
    path = tmp / name
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    return path


# ---- the embedded Marathon ----------------------------------------------------------------------
class Cluster:
    """A running LocalMarathon and the few REST calls a test makes itself."""

    def __init__(self, lm: LocalMarathon, session: aiohttp.ClientSession) -> None:
        self.lm = lm
        self.url = lm.url
        self.session = session

    async def create(self, body: dict[str, Any]) -> None:
        async with self.session.post(f"{self.url}/v2/apps", json=body) as r:
            assert r.status == 201, (r.status, await r.text())

    async def apps(self) -> dict[str, dict[str, Any]]:
        async with self.session.get(f"{self.url}/v2/apps?embed=apps.tasks") as r:
            assert r.status == 200, await r.text()
            return {a["id"]: a for a in (await r.json())["apps"]}

    async def apps_raw(self) -> Any:
        """`GET /v2/apps` as returned: compared before/after to prove nothing changed."""
        async with self.session.get(f"{self.url}/v2/apps") as r:
            return await r.json()

    async def requests(self) -> dict[str, int]:
        async with self.session.get(f"{self.url}/_localmarathon/stats") as r:
            return dict((await r.json())["requests"])

    async def writes(self) -> dict[str, int]:
        return {k: v for k, v in (await self.requests()).items() if not k.startswith("GET ")}

    async def group_apps(self) -> dict[str, dict[str, Any]]:
        return {i: a for i, a in (await self.apps()).items()
                if a.get("labels", {}).get("BLUEGREEN_GROUP") == GROUP}

    async def wait_app_healthy(self, app_id: str, n: int, timeout_s: float = 20.0) -> dict[str, Any]:
        async def ok() -> dict[str, Any] | None:
            app = (await self.apps()).get(app_id)
            if app is None or app["instances"] != n or healthy(app) != n:
                return None
            async with self.session.get(f"{self.url}/v2/deployments") as r:
                return app if not await r.json() else None
        return dict(await wait_until(ok, timeout_s=timeout_s, what=f"{app_id}: {n} healthy, no deployment"))


def healthy(app: dict[str, Any]) -> int:
    return sum(1 for t in app.get("tasks", []) if t.get("state") == "TASK_RUNNING"
               and t.get("healthCheckResults") and all(h.get("alive") for h in t["healthCheckResults"]))


@contextlib.asynccontextmanager
async def cluster(blue_instances: int | None = 3) -> AsyncIterator[Cluster]:
    """LocalMarathon with BLUE (`blue_instances` healthy tasks) already running."""
    async with LocalMarathon(host="127.0.0.1", port=0, executor="virtual", heartbeat_s=1.0,
                             lenient=True) as lm, \
            aiohttp.ClientSession() as session:
        c = Cluster(lm, session)
        if blue_instances:
            await c.create(blue_def(blue_instances))
            await c.wait_app_healthy(BLUE_ID, blue_instances)
        yield c


# ---- config files ---------------------------------------------------------------------------------
def write_config(tmp: Path, marathon_url: str, *, api_port: int | None = None, token: str | None = TOKEN,
                 deploy: str = "", hooks: str = "", lb: str = 'driver = "none"', name: str = "reactor.toml",
                 state: str = "bg.db") -> Path:
    api_port = api_port or free_port()
    token_line = f'token = "{token}"' if token else ""
    text = f"""
[marathon]
urls = ["{marathon_url}"]
event_idle_timeout_s = 5.0

[lb]
{lb}

[drain]
source = "none"

[deploy]
batch_size = 1
health_timeout_s = 30.0
rollback_window_s = 0.0
{deploy}

[api]
listen = "127.0.0.1:{api_port}"
{token_line}

[state]
path = "{tmp / state}"

[log]
format = "json"
level = "info"

{hooks}
"""
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def api_url(config: Path) -> str:
    import tomllib

    return "http://" + tomllib.loads(config.read_text(encoding="utf-8"))["api"]["listen"]


# ---- the CLI as a subprocess ----------------------------------------------------------------------
@dataclass
class Result:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLUEGREEN_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return {**env, **(extra or {})}


async def start_cli(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reactor", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=cli_env(env), cwd=str(REPO))


async def finish(proc: asyncio.subprocess.Process, timeout_s: float = 30.0) -> Result:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"bluegreen did not exit within {timeout_s}s:\n{out.decode()}\n"
                             f"{err.decode()}") from None
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 30.0) -> Result:
    """Run `bluegreen ARGS...` to completion."""
    return await finish(await start_cli(*args, env=env), timeout_s)


def assert_one_line_error(result: Result, rc: int, *needles: str) -> str:
    """Exit code `rc`, nothing on stdout, exactly one line on stderr containing every needle."""
    assert result.rc == rc, result
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr:\n{result}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert not result.out.strip(), result
    return lines[0]


# ---- the daemon -------------------------------------------------------------------------------------
class Daemon:
    """`bluegreen run --config CFG` as a subprocess; its log goes to a file for failure messages."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None,
                 log_name: str = "daemon.log") -> None:
        self.config = config
        self.env = env
        self.api = api_url(config)
        self.log_path = config.parent / log_name
        self.proc: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def open_session(self) -> None:
        """The HTTP session `get`/`deployment` use; `start` opens it, a test reading another
        process's API (an in-process `deploy`) opens it alone and closes it with `close_session`."""
        # with a token configured every /v1/* GET needs it too (a daemon without one ignores it)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5),
                                              headers={"Authorization": f"Bearer {TOKEN}"})

    async def close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def start(self, timeout_s: float = 20.0) -> None:
        self.open_session()
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "reactor", "run", "--config", str(self.config),
                stdout=log, stderr=log, env=cli_env(self.env), cwd=str(REPO))

        async def ready() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                status, _ = await self.get("/readyz")
                return status == 200
            return False
        await wait_until(ready, timeout_s=timeout_s, what="the daemon's /readyz")

    async def get(self, path: str) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.get(self.api + path) as r:
            return r.status, await r.json(content_type=None)

    async def text(self, path: str) -> tuple[int, str]:
        assert self._session is not None
        async with self._session.get(self.api + path) as r:
            return r.status, await r.text()

    async def deployment(self, group: str = GROUP) -> dict[str, Any] | None:
        status, body = await self.get(f"/v1/deployments/{group}")
        return body if status == 200 else None

    async def wait_phase(self, *phases: str, group: str = GROUP, timeout_s: float = 20.0) -> dict[str, Any]:
        async def at() -> dict[str, Any] | None:
            self.check_alive()
            row = await self.deployment(group)
            return row if row is not None and row["phase"] in phases else None
        return dict(await wait_until(at, timeout_s=timeout_s, what=f"{group} in phase {phases}"))

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")

    async def stop(self, timeout_s: float = 25.0) -> int:
        """SIGTERM; the exit code (fails if the daemon outlives `timeout_s`)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"daemon still running {timeout_s}s after SIGTERM:\n{self.log()}") from None
        finally:
            await self.close_session()
        return rc

    async def __aenter__(self) -> Daemon:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(AssertionError):
                await self.stop()
        await self.close_session()

"""Real components for hook tests: a webhook receiver (aiohttp server), a command script, a
hooks module written to a temporary directory on sys.path."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from reactor.adapters.hooks.webhook import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify
from reactor.core.deploy_events import DeployEvent, DeployEventName

SECRET = "hook-secret"
_module_ids = itertools.count(1)

Behaviour = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]


def make_event(n: int, name: DeployEventName = DeployEventName.GREEN_SCALED, group: str = "web",
               ) -> DeployEvent:
    return DeployEvent(id=f"{group}:d1:{name.value}:{n}", name=name, group=group, deployment_id="d1",
                       blue_app=f"/{group}-blue", green_app=f"/{group}-green", tasks=(f"task-{n}",),
                       counts={"n": n}, timestamp=datetime(2026, 1, 1, 12, 0, n, tzinfo=UTC))


SEQUENCE = [
    make_event(1, DeployEventName.DEPLOYMENT_STARTED),
    make_event(2, DeployEventName.GREEN_SCALED),
    make_event(3, DeployEventName.GREEN_HEALTHY),
    make_event(4, DeployEventName.TRAFFIC_SHIFTED),
    make_event(5, DeployEventName.BLUE_KILLED),
    make_event(6, DeployEventName.DEPLOYMENT_COMPLETED),
]


@dataclass
class Receiver:
    """Records every POST to /hook/{name}; `behaviours[name]` may answer differently."""

    url: str = ""
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name, body = request.match_info["name"], await request.read()
        record = {"name": name, "payload": json.loads(body),
                  "event": request.headers.get(EVENT_HEADER),
                  "delivery": request.headers.get(DELIVERY_HEADER),
                  "signature": request.headers.get(SIGNATURE_HEADER),
                  "signed_ok": verify(body, SECRET, request.headers.get(SIGNATURE_HEADER))}
        self.arrivals.append(record)
        async with self.changed:
            self.changed.notify_all()
        behaviour = self.behaviours.get(name)
        return await behaviour(record) if behaviour else web.Response(status=204)

    def got(self, name: str) -> list[str]:
        return [a["payload"]["id"] for a in self.arrivals if a["name"] == name]

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = 10) -> None:
        async with asyncio.timeout(timeout_s), self.changed:
            await self.changed.wait_for(predicate)

    def hook_url(self, name: str) -> str:
        return f"{self.url}/hook/{name}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{name}", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield rec
    await runner.cleanup()


COMMAND_SCRIPT = textwrap.dedent("""
    import json, os, subprocess, sys, time
    out, mode = sys.argv[1], sys.argv[2]
    data = json.load(sys.stdin)
    with open(out, "a") as fh:
        fh.write(json.dumps({"env_event": os.environ["BLUEGREEN_EVENT"],
                             "env_id": os.environ["BLUEGREEN_EVENT_ID"], "payload": data}) + "\\n")
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(out + ".pid", "w") as fh:
            fh.write(str(child.pid))
        time.sleep(120)
    sys.exit(int(mode))
""")


@dataclass
class CommandHook:
    script: Path
    out: Path

    def argv(self, mode: str | int = 0) -> list[str]:
        return [sys.executable, str(self.script), str(self.out), str(mode)]

    def lines(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]


@pytest.fixture
def command(tmp_path: Path) -> CommandHook:
    script = tmp_path / "hook_command.py"
    script.write_text(COMMAND_SCRIPT)
    return CommandHook(script, tmp_path / "command.jsonl")


@dataclass
class HooksModule:
    name: str
    out: Path

    def lines(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]


def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> HooksModule:
    """A uniquely named module in a directory put on sys.path; `OUT` is its record file."""
    name = f"bg_test_hooks_{next(_module_ids)}"
    out = tmp_path / f"{name}.jsonl"
    pkg_dir = tmp_path / "hookmods"
    pkg_dir.mkdir(exist_ok=True)
    (pkg_dir / f"{name}.py").write_text(f"OUT = {str(out)!r}\n" + textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(pkg_dir))
    return HooksModule(name, out)

"""Hooks through the daemon: a Python hooks module, a signed webhook and a command hook in one
deployment; a Python gate's veto rolling back; a hanging webhook stalling nobody."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.cli.support import (
    BLUE_ID,
    GROUP,
    REPO,
    Daemon,
    cli,
    cluster,
    wait_until,
    write_config,
    write_green,
)

SECRET = "hook-secret"
CORE_ORDER = ("deployment.started", "green.scaled", "green.healthy", "traffic.shifted", "blue.draining",
              "blue.drained", "blue.killed", "deployment.completed")


@dataclass
class Receiver:
    """A webhook receiver: checks X-Bluegreen-Signature itself (HMAC-SHA256 of the raw body)."""

    hang: bool = False
    events: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    requests: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if self.hang:
            await asyncio.Event().wait()  # never answers
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Bluegreen-Signature", ""), expected):
            self.bad_signatures += 1
            return web.Response(status=401)
        payload = json.loads(body)
        assert request.headers.get("X-Bluegreen-Event") == payload["event"]
        self.events.append(payload["event"])
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def receiver(hang: bool = False) -> AsyncIterator[Receiver]:
    rec = Receiver(hang=hang)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


def hooks_module(tmp: Path, body: str, name: str = "cli_test_hooks") -> dict[str, str]:
    """Write a hooks module into tmp/mods; the environment that puts it on PYTHONPATH."""
    mods = tmp / "mods"
    mods.mkdir(exist_ok=True)
    (mods / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join((str(mods), str(REPO)))}


def command_hook(out: Path, extra: str = "") -> str:
    script = f"import json, sys; open({str(out)!r}, 'a').write(json.load(sys.stdin)['event'] + '\\n')"
    return f"[[hooks.commands]]\nargv = {json.dumps([sys.executable, '-c', script])}\n{extra}\n"


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def assert_in_order(names: list[str], who: str) -> None:
    assert names and names[0] == "deployment.started", f"{who}: {names}"
    assert names[-1] == "deployment.completed", f"{who}: {names}"
    positions = [names.index(n) for n in CORE_ORDER if n in names]
    assert len(positions) == len(CORE_ORDER), f"{who} missed events: {names}"
    assert positions == sorted(positions), f"{who} saw events out of order: {names}"


async def test_python_webhook_and_command_hooks_fire_in_order(tmp_path: Path) -> None:
    py_out, cmd_out = tmp_path / "python.txt", tmp_path / "command.txt"
    env = hooks_module(tmp_path, f"""
        import reactor

        @reactor.on()
        def record(event, **_):
            with open({str(py_out)!r}, "a") as f:
                f.write(event + "\\n")
    """)
    async with cluster(blue_instances=2) as c, receiver() as rec:
        hooks = (f'[hooks]\nmodules = ["cli_test_hooks"]\n\n[[hooks.webhooks]]\nurl = "{rec.url}"\n'
                 f'secret = "{SECRET}"\ntimeout_s = 5\n\n' + command_hook(cmd_out))
        cfg = write_config(tmp_path, c.url, hooks=hooks)
        async with Daemon(cfg, env=env) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg), "--detach")
            assert r.rc == 0, r

            def all_saw_the_end() -> bool:
                daemon.check_alive()
                return all("deployment.completed" in names
                           for names in (lines(py_out), lines(cmd_out), rec.events))
            await wait_until(all_saw_the_end, timeout_s=30, what="every hook saw deployment.completed")
            assert await daemon.stop() == 0
    assert rec.bad_signatures == 0
    assert_in_order(lines(py_out), "python hook")
    assert_in_order(lines(cmd_out), "command hook")
    assert_in_order(rec.events, "webhook")
    assert lines(py_out) == lines(cmd_out) == rec.events  # the same events, in the same order


async def test_gate_veto_rolls_back(tmp_path: Path) -> None:
    env = hooks_module(tmp_path, """
        import reactor

        @reactor.gate("promotion.gate")
        def freeze(group, **_):
            return "veto"
    """, name="cli_test_gate")
    async with cluster(blue_instances=2) as c:
        cfg = write_config(tmp_path, c.url, hooks='[hooks]\nmodules = ["cli_test_gate"]\n')
        async with Daemon(cfg, env=env) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg), "--detach")
            assert r.rc == 0, r

            async def finished() -> list[dict] | None:
                h = await cli("history", GROUP, "--config", str(cfg), "--json")
                return h.json()["history"] or None
            history = await wait_until(finished, timeout_s=30, what="the deployment ended", interval_s=0.3)
            assert await daemon.stop() == 0
        blue = await c.wait_app_healthy(BLUE_ID, 2)
        apps = await c.group_apps()
    assert [h["outcome"] for h in history] == ["rolled_back"], history
    assert "veto" in (history[0]["reason"] or ""), history
    assert set(apps) == {BLUE_ID} and blue["instances"] == 2


async def test_hanging_webhook_stalls_neither_other_hooks_nor_the_deployment(tmp_path: Path) -> None:
    cmd_out = tmp_path / "command.txt"
    async with cluster(blue_instances=2) as c, receiver(hang=True) as rec:
        hooks = (f'[[hooks.webhooks]]\nurl = "{rec.url}"\ntimeout_s = 1\nretries = 0\n\n'
                 + command_hook(cmd_out))
        cfg = write_config(tmp_path, c.url, hooks=hooks)
        async with Daemon(cfg) as daemon:
            r = await cli("deploy", str(write_green(tmp_path, instances=2)), "--config", str(cfg), "--detach")
            assert r.rc == 0, r
            await wait_until(lambda: "deployment.completed" in lines(cmd_out), timeout_s=30,
                             what="the command hook saw deployment.completed")
            # when the other hook had every event, the hanging webhook was still far behind
            seen_by_webhook = rec.requests
            history = (await cli("history", GROUP, "--config", str(cfg), "--json")).json()["history"]
            assert await daemon.stop() == 0
    assert_in_order(lines(cmd_out), "command hook")
    assert seen_by_webhook < len(lines(cmd_out)) / 2, (seen_by_webhook, lines(cmd_out))
    assert [h["outcome"] for h in history] == ["completed"], history

"""The whole story on one machine: what `bluegreen demo` runs (and the end-to-end tests reuse).

Owns the orchestration: embedded Marathon (process executor) → HAProxy → BLUE v1 put into
service by the reactor (a first deploy) → steady load with slow operations in flight →
GREEN v2 deployed by the reactor → load stopped → everything stopped → the ledger read. Every
child process is stopped on exit, also on Ctrl-C (async context managers all the way).
"""

from __future__ import annotations

import contextlib
import json
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactor.cli.demo.haproxy import HaproxyProcess
from reactor.cli.demo.ledger import read_ledger
from reactor.cli.demo.load import LoadGenerator
from reactor.cli.demo.scenario import sample_app_definition, start_local_marathon_subprocess
from reactor.settings import Settings

GROUP = "demo"
# The demo's task ports: a random block below the tests' blocks (12000-19999) and local-marathon's
# default range (20000-29999), so a demo never shares host ports with another world on the machine.
DEMO_PORT_BLOCKS = (10000, 12000, 100)
DEMO_PORT_BLOCK = 100
APP_ID = "/demo/web"


@dataclass
class StoryOptions:
    instances: int = 3
    batch_size: int = 1
    rate_per_s: float = 40.0
    slow_fraction: float = 0.25
    slow_ms: tuple[int, int] = (300, 1500)
    drain_source: str = "prometheus"
    warmup_s: float = 2.0
    json_output: bool = False
    workdir: Path | None = None
    haproxy_retry_on: str | None = None  # honest by default: no retries hide failures
    green_env: dict[str, str] = field(default_factory=dict)


def demo_settings(marathon_url: str, socket: Path, workdir: Path, drain_source: str) -> Settings:
    drain: dict[str, Any] = {"source": drain_source, "interval_s": 0.1, "timeout_s": 120}
    if drain_source == "stream":
        drain["path"] = "/metrics/stream"
    return Settings.model_validate({
        "marathon": {"urls": [marathon_url], "event_idle_timeout_s": 30},
        "lb": {"driver": "haproxy", "haproxy": {"socket": str(socket), "backend": "{group}"}},
        "drain": drain,
        "deploy": {"health_timeout_s": 120},
        "api": {"listen": "127.0.0.1:0"},
        "state": {"path": str(workdir / "bluegreen.db")},
        "log": {"format": "json", "level": "warning"},
    })


async def deploy(settings: Settings, definition: dict[str, Any], *, batch_size: int,
                 quiet: bool) -> tuple[int, dict[str, Any]]:
    """Run one `bluegreen deploy` in-process; returns (exit code, summary)."""
    from reactor.cli.deploy_flow import DeployFlow

    flow = DeployFlow(settings, definition, group=GROUP, batch_size=batch_size,
                      json_output=False, tty=False, quiet=quiet)
    await flow.create_green()
    code = await flow.drive()
    return code, flow.summary


def say(opts: StoryOptions, line: str) -> None:
    if not opts.json_output:
        print(line, flush=True)


async def run_story(opts: StoryOptions) -> dict[str, Any]:
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="bluegreen-demo-"))
    ledger = workdir / "ledger"
    ledger.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"workdir": str(workdir)}
    t0 = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        block = random.randrange(*DEMO_PORT_BLOCKS)
        lm = await stack.enter_async_context(start_local_marathon_subprocess(
            workdir=workdir, extra_args=("--port-range", f"{block}-{block + DEMO_PORT_BLOCK - 1}")))
        say(opts, f"embedded Marathon on {lm.url} (process executor)")
        hap = await stack.enter_async_context(HaproxyProcess(
            workdir, backends=[GROUP], retry_on=opts.haproxy_retry_on))
        say(opts, f"HAProxy on {hap.url} (runtime API {hap.stats_socket})")
        settings = demo_settings(lm.url, hap.stats_socket, workdir, opts.drain_source)
        blue = sample_app_definition(APP_ID, version="v1", instances=opts.instances, ledger_dir=ledger,
                                     group=GROUP)
        say(opts, f"BLUE v1: {opts.instances} sample-app tasks, put into service by the reactor")
        code, first = await deploy(settings, blue, batch_size=opts.instances, quiet=True)
        result["blue_setup"] = {"outcome": first["outcome"], "duration_s": first["duration_s"]}
        if code != 0:
            result["outcome"] = "setup_failed"
            return result
        load = await stack.enter_async_context(LoadGenerator(
            hap.url, rate_per_s=opts.rate_per_s, slow_fraction=opts.slow_fraction, slow_ms=opts.slow_ms))
        await load.wait_for(lambda s: s.ok >= opts.rate_per_s * opts.warmup_s, timeout_s=30)
        say(opts, f"load: {opts.rate_per_s:.0f} req/s through HAProxy, {opts.slow_fraction:.0%} slow "
                  f"({opts.slow_ms[0]}-{opts.slow_ms[1]} ms /work)")
        green = sample_app_definition(APP_ID, version="v2", instances=opts.instances, ledger_dir=ledger,
                                      group=GROUP, extra_env=opts.green_env)
        say(opts, "GREEN v2: deploying with the reactor")
        code, summary = await deploy(settings, green, batch_size=opts.batch_size,
                                     quiet=opts.json_output)
        await load.stop()
        result["load"] = load.summary().to_dict()
        result["deployment"] = summary
        result["outcome"] = summary["outcome"]
    # every child is stopped now: each task wrote its ledger line at SIGTERM
    led = read_ledger(ledger)
    result["ledger"] = {"abandoned": led.abandoned, "completed": led.completed,
                        "tasks": len(led.entries), "by_version": {
                            k: vars(v) if hasattr(v, "__dict__") else v
                            for k, v in led.by_version().items()}}
    result["total_s"] = round(time.monotonic() - t0, 3)
    return result


def render_summary(result: dict[str, Any]) -> str:
    load, dep, led = result.get("load", {}), result.get("deployment", {}), result.get("ledger", {})
    lines = [
        "",
        f"outcome: {result.get('outcome')}   (whole demo {result.get('total_s', 0):.1f}s)",
        f"requests: {load.get('sent', 0)} sent, {load.get('failed', 0)} failed; by version "
        f"{json.dumps(load.get('by_version', {}))}",
        f"pending operations abandoned at kill (ledger): {led.get('abandoned', '?')} "
        f"(of {led.get('completed', '?')} completed, {led.get('tasks', '?')} tasks)",
        f"deployment: {dep.get('duration_s', 0):.1f}s, {dep.get('marathon_requests_total', 0)} Marathon "
        f"requests {json.dumps(dep.get('marathon_requests', {}))}",
        "time per phase (s from start): " + ", ".join(
            f"{k} {v:.1f}" for k, v in (dep.get("events_at_s") or {}).items()),
    ]
    return "\n".join(lines)

"""Two reactor replicas on a real ZooKeeper, under load with real HAProxy and sample-app tasks.

The deployment (GREEN created with REST and green labels, as `bluegreen deploy` writes it) is hit
while a BLUE task drains by: SIGKILL of the acting replica (the other takes over after the
session timeout and completes), SIGSTOP of the acting replica past its session then SIGCONT (it
never writes again), a ZooKeeper restart (completes). Each: 0 failed requests, 0 abandoned
operations, no Marathon write sent twice (every replica talks to Marathon through its own
recording proxy, so each write is attributed).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reactor.cli.demo.load import LoadGenerator
from reactor.core.labels import green_labels
from tests.e2e.daemon import REPO
from tests.e2e.replicas import Replica, doubled_writes, signal_first_at
from tests.e2e.world import APP_ID, GROUP, LoadShape, World, now_utc, wait_for
from tests.zookeeper import ZooKeeperServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
N = 4
GREEN_ID = APP_ID + "-v2"
SESSION_S = 2.0


async def _create(world: World, app_id: str, version: str, previous: str | None,
                  started_ago_s: float) -> None:
    started = now_utc() - timedelta(seconds=started_ago_s)
    labels = green_labels(group=GROUP, target_instances=N, started_at=started, previous=previous)
    status, answer = await world.rest("POST", "/v2/apps", {**world.definition(version, 0, labels=labels),
                                                           "id": app_id})
    assert status == 201, answer


async def _history(replicas: list[Replica], n: int) -> list[dict[str, Any]] | None:
    for r in replicas:
        if r.proc is not None and r.proc.returncode is None:
            history = await asyncio.wait_for(r.history(), 5)
            if len(history) >= n:
                return history
    return None


Fault = Callable[[Replica, ZooKeeperServer], Awaitable[None]]
Live = Callable[[list[Replica], Replica], list[Replica]]


async def run_replicas(workdir: Path, zk: ZooKeeperServer, act: Callable[[Replica], None],
                       after: Fault, live: Live) -> dict[str, Any]:
    """BLUE in service, load, GREEN created, `act` on the acting replica at the second
    blue.draining, then `after`; waits for completion on `live` replicas and checks the run."""
    async with World(workdir) as world:
        replicas = [Replica(name, workdir, world.lm.url, world.hap.stats_socket, zk_hosts=zk.hosts,
                            session_timeout_s=SESSION_S) for name in ("r1", "r2")]
        async with replicas[0], replicas[1]:
            for r in replicas:  # each daemon says it coordinates on ZooKeeper (GET /v1/replica)
                info = await r.replica_info()
                assert info is not None and info["coordination"] == "zookeeper", info
            await _create(world, APP_ID, "v1", None, started_ago_s=3600)
            await wait_for(lambda: _history(replicas, 1), timeout_s=60, what="BLUE put into service")
            result: dict[str, Any] = {"replicas": replicas,
                                      "before": {r.name: len(r.writes()) for r in replicas}}
            load = await _deploy_under_load(world, zk, replicas, act, after, live, result)
            actor = result["actor"]
            if actor.proc is not None and actor.proc.returncode is None:
                actor.signal(signal.SIGCONT)
                result["actor_after"] = await wait_for(lambda: _fenced(actor), timeout_s=60,
                                                       what="the resumed replica to report no group")
    _check(act.__name__, world, load, result)
    return result


async def _deploy_under_load(world: World, zk: ZooKeeperServer, replicas: list[Replica],
                             act: Callable[[Replica], None], after: Fault, live: Live,
                             result: dict[str, Any]) -> LoadGenerator:
    shape = LoadShape()
    load: LoadGenerator = shape.generator(world.hap.url)
    wall0 = time.time()
    async with load:
        await load.wait_for(lambda s: s.ok >= shape.rate_per_s * 1.5, timeout_s=30)
        connected = asyncio.Event()
        hit = asyncio.create_task(signal_first_at(replicas, "blue.draining", 2, act, connected))
        await asyncio.wait_for(connected.wait(), 15)
        await _create(world, GREEN_ID, "v2", APP_ID, started_ago_s=0)
        actor = result["actor"] = await asyncio.wait_for(hit, 60)
        result["hit_at_s"], result["writes_at_hit"] = round(time.time() - wall0, 3), len(actor.writes())
        await after(actor, zk)
        result["history"] = await wait_for(lambda: _history(live(replicas, actor), 2), timeout_s=90,
                                           what="the deployment to complete")
        done_s = result["done_s"] = time.time() - wall0
        await load.wait_for(lambda _s: sum(1 for r in load.records if r.start_s > done_s
                                           and r.end_s is not None) >= shape.rate_per_s, timeout_s=30)
        result["apps"] = await world.group_apps()
    return load


def _check(name: str, world: World, load: LoadGenerator, result: dict[str, Any]) -> None:
    summary = load.summary().to_dict()
    ledger = world.ledger()
    replicas = result["replicas"]
    print(f"\nE2E replicas {name}", {
        "failed": summary["failed"], "sent": summary["sent"], "abandoned": ledger.abandoned,
        "actor": result["actor"].name, "hit_at_s": result["hit_at_s"], "done_s": round(result["done_s"], 3),
        "writes": {r.name: len(r.writes()) for r in replicas}})
    assert summary["in_flight"] == 0 and summary["failed"] == 0, summary["failure_reasons"]
    assert ledger.abandoned == 0 and ledger.by_version()["v1"].tasks == N, ledger.to_dict()
    assert [h["outcome"] for h in result["history"]] == ["completed", "completed"]
    assert [a["id"] for a in result["apps"]] == [GREEN_ID] and result["apps"][0]["instances"] == N
    assert doubled_writes(replicas, result["before"]) == []


async def _fenced(replica: Replica) -> dict[str, Any] | None:
    info = await replica.replica_info()
    return info if info is not None and info.get("store_ok") and not info.get("acting_for") else None


def sigkill(replica: Replica) -> None:
    replica.kill()


def sigstop(replica: Replica) -> None:
    replica.signal(signal.SIGSTOP)


def nothing(_replica: Replica) -> None:
    pass


async def wait_dead(replica: Replica, _zk: ZooKeeperServer) -> None:
    await replica.wait_dead()


async def frozen_past_session(replica: Replica, _zk: ZooKeeperServer) -> None:
    pass  # resumed once the other replica completed (run_replicas sends SIGCONT)


async def restart_zookeeper(_replica: Replica, zk: ZooKeeperServer) -> None:
    await asyncio.to_thread(zk.restart)


def others(replicas: list[Replica], actor: Replica) -> list[Replica]:
    return [r for r in replicas if r is not actor]


def everyone(replicas: list[Replica], _actor: Replica) -> list[Replica]:
    return replicas


async def test_acting_replica_sigkilled_mid_deployment_the_other_completes(
        workdir: Path, zookeeper: ZooKeeperServer) -> None:
    result = await run_replicas(workdir, zookeeper, sigkill, wait_dead, others)
    survivor = others(result["replicas"], result["actor"])[0]
    assert len(survivor.writes()) > result["before"][survivor.name], "the survivor took over"


async def test_acting_replica_sigstopped_past_its_session_never_writes_again(
        workdir: Path, zookeeper: ZooKeeperServer) -> None:
    result = await run_replicas(workdir, zookeeper, sigstop, frozen_past_session, others)
    actor = result["actor"]
    assert len(actor.writes()) == result["writes_at_hit"], [
        (w.method, w.path) for w in actor.writes()[result["writes_at_hit"]:]]
    assert result["actor_after"]["acting_for"] == []


async def test_zookeeper_restarted_mid_deployment_completes(workdir: Path,
                                                            zookeeper: ZooKeeperServer) -> None:
    await run_replicas(workdir, zookeeper, nothing, restart_zookeeper, everyone)


async def test_two_replicas_and_a_deploy_from_another_directory_one_actor(
        workdir: Path, zookeeper: ZooKeeperServer) -> None:
    """`bluegreen deploy` on a "laptop" (another directory, its own state file, ZooKeeper
    configured, [api] at replica r1) hands over: one replica drives, the CLI only creates GREEN."""
    shape = LoadShape()
    laptop = workdir / "laptop"
    laptop.mkdir()
    async with World(workdir) as world:
        replicas = [Replica(name, workdir, world.lm.url, world.hap.stats_socket, zk_hosts=zookeeper.hosts,
                            session_timeout_s=SESSION_S) for name in ("r1", "r2")]
        async with replicas[0], replicas[1]:
            await _create(world, APP_ID, "v1", None, started_ago_s=3600)
            await wait_for(lambda: _history(replicas, 1), timeout_s=60, what="BLUE put into service")
            before = {r.name: len(r.writes()) for r in replicas}
            creates_before = (await world.stats())["requests"].get("POST /v2/apps", 0)
            config, green = _laptop(laptop, replicas[0], world)
            load: LoadGenerator = shape.generator(world.hap.url)
            async with load:
                await load.wait_for(lambda s: s.ok >= shape.rate_per_s * 1.5, timeout_s=30)
                done = await _cli(laptop, "deploy", str(green), "--config", str(config), "--json")
                history = await wait_for(lambda: _history(replicas, 2), timeout_s=30, what="history")
            # from the laptop, read in ZooKeeper (no daemon, not its own state file), whole records
            # for `undo`; the daemon's API serves them without GREEN's definition (its env)
            read = await _cli(laptop, "history", GROUP, "--config", str(config), "--json")
            stats = await world.stats()
    summary, ledger = load.summary().to_dict(), world.ledger()
    drivers = [r.name for r in replicas if len(r.writes()) > before[r.name]]
    print("\nE2E replicas cli-deploy", {"failed": summary["failed"], "abandoned": ledger.abandoned,
                                        "drivers": drivers, "cli": done})
    assert done["rc"] == 0, done
    assert (done["out"]["outcome"], done["out"]["driven_by"]) == ("completed", "daemon"), done
    assert len(drivers) == 1, f"one replica drives the deployment, not {drivers}"
    assert stats["requests"]["POST /v2/apps"] == creates_before + 1, "the CLI only created GREEN"
    assert [h["outcome"] for h in history] == ["completed", "completed"]
    assert read["rc"] == 0, read
    assert [(h["deployment_id"], h["green_definition"]["id"]) for h in read["out"]["history"]][:1] == \
        [(history[0]["deployment_id"], history[0]["green_app"])], read
    assert all("green_definition" not in h and "definition_kept" in h for h in history), history
    assert summary["in_flight"] == 0 and summary["failed"] == 0, summary["failure_reasons"]
    assert ledger.abandoned == 0, ledger.to_dict()
    assert doubled_writes(replicas, before) == []


def _laptop(laptop: Path, r1: Replica, world: World) -> tuple[Path, Path]:
    """r1's config with Marathon direct (not r1's proxy) and a state file of its own; GREEN's file."""
    config, green = laptop / "reactor.toml", laptop / "green.json"
    config.write_text(r1.config.read_text().replace(r1.proxy.url, world.lm.url)
                      .replace(str(r1.config.parent / "daemon.db"), "laptop.db"))
    green.write_text(json.dumps(world.definition("v2", N)))
    return config, green


async def _cli(cwd: Path, *args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reactor", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("BLUEGREEN_")},
             "PYTHONPATH": str(REPO)})
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    start = text.find("{")
    return {"rc": proc.returncode, "out": json.loads(text[start:]) if start >= 0 else text,
            "err": err.decode()[-2000:]}

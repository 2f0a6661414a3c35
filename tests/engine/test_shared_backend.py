"""The servers a group puts in its LB backend, and the ones it leaves alone.

The backend may hold servers that are not the group's: one of the HAProxy config file that
happens to be named `bg-...`, or the tasks of another group sharing the backend. The pool at rest
leaves them alone (it used to remove them as tasks Marathon no longer had); a server left from a
task of an app Marathon no longer has is still removed. A task's traffic goes to the port of
`[lb] port_index`, its metrics are read at `[drain] port_index`. Real embedded Marathon, real
HAProxy, the production Engine."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from reactor.core import labels as L
from reactor.core.pool import foreign_servers
from tests.engine.harness import (
    BLUE_ID,
    BLUE_STARTED,
    app_def,
    blue_def,
    haproxy_pool,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)

STALE = "web-blue-old.instance-5c8e0a1e-0b1c-11ec-9a03-0242ac130003._app.1"  # its app is gone


def test_foreign_servers_are_the_unparsable_and_other_groups_tasks() -> None:
    groups = {"web-blue": "web", "other-blue": "other", "loose": None}
    ours = "web-blue.instance-5c8e0a1e-0b1c-11ec-9a03-0242ac130003._app.1"
    theirs = "other-blue.instance-5c8e0a1e-0b1c-11ec-9a03-0242ac130003._app.1"
    unlabelled = "loose.instance-5c8e0a1e-0b1c-11ec-9a03-0242ac130003._app.1"
    assert foreign_servers([ours, theirs, unlabelled, STALE, "static1"], "web", groups) == {
        theirs, unlabelled, "static1"}


async def test_servers_of_another_group_or_the_config_file_stay(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest), haproxy_pool(tmp_path) as (proxy, lb):
        await rest.create(blue_def(2))
        await rest.create(app_def("/other-blue", 1, {L.GROUP: "other",
                                                     L.STARTED_AT: L.format_timestamp(BLUE_STARTED)}))
        await rest.wait_app_healthy(BLUE_ID, 2)
        await rest.wait_app_healthy("/other-blue", 1)
        [other] = (await rest.apps())["/other-blue"]["tasks"]
        await lb.add("web", other["id"], "127.0.0.1", other["ports"][0])  # the other group's
        await lb.add("web", "static1", "127.0.0.1", 1)  # a config-file server called bg-static1
        await lb.add("web", STALE, "127.0.0.1", 2)  # left from a task of a deleted app of ours
        settings = make_settings(tmp_path, lm.url, lb={"driver": "haproxy",
                                                       "haproxy": {"socket": str(proxy.sock)}})
        with capture_logs() as logs:
            async with running_engine(settings):
                async def kept() -> bool:
                    pool = await lb.observe("web")
                    ready = {t for t, s in pool.items() if s.state.value == "ready"}
                    blue = {t["id"] for t in (await rest.apps())[BLUE_ID]["tasks"]}
                    return blue <= ready and STALE not in pool
                await wait_until(kept, what="BLUE's tasks served and the stale server removed")
                pool = await lb.observe("web")
    assert other["id"] in pool and pool[other["id"]].state.value == "ready", pool
    assert "static1" in pool and pool["static1"].state.value == "ready", pool
    said = [e for e in logs if e["event"].startswith("LB backend holds servers that are not this group's")]
    assert said and said[0]["count"] == 2 and said[0]["backend"] == "web", said


async def test_the_lb_port_index_sends_traffic_to_its_port_not_the_metrics_port(tmp_path: Path) -> None:
    """An app serving on PORT0 with its metrics on PORT1: `[drain] port_index = 1` no longer puts
    the traffic on PORT1 when `[lb] port_index = 0` says where it goes."""
    ports = [{"port": 0, "name": "http"}, {"port": 0, "name": "metrics"}]
    two_ports = {**blue_def(2), "portDefinitions": ports}
    async with local_marathon() as (lm, rest), haproxy_pool(tmp_path) as (proxy, lb):
        await rest.create(two_ports)
        await rest.wait_app_healthy(BLUE_ID, 2)
        settings = make_settings(tmp_path, lm.url, drain={"port_index": 1}, lb={
            "driver": "haproxy", "haproxy": {"socket": str(proxy.sock)}, "port_index": 0})
        async with running_engine(settings):
            tasks = {t["id"]: t["ports"] for t in (await rest.apps())[BLUE_ID]["tasks"]}

            async def served() -> bool:
                pool = await lb.observe("web")
                return set(pool) == set(tasks) and all(s.state.value == "ready" for s in pool.values())
            await wait_until(served, what="BLUE's tasks in the pool")
            pool = await lb.observe("web")
    assert {t: s.port for t, s in pool.items()} == {t: ports[0] for t, ports in tasks.items()}, (pool, tasks)
    assert all(len(ports) == 2 and ports[0] != ports[1] for ports in tasks.values()), tasks

"""The marathon-lb-style syncer against the real embedded Marathon and a real haproxy."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from reactor.cli.demo.haproxy import HaproxyProcess
from reactor.cli.demo.marathonlb import MarathonLbSyncer, check_args, server_name
from reactor.cli.demo.runtime import servers_state
from reactor.cli.demo.scenario import sample_app_definition, start_local_marathon_subprocess, wait_healthy

pytestmark = pytest.mark.e2e
APP = "/mlb/web"


async def test_backend_follows_healthy_running_tasks(workdir: Path) -> None:
    async with start_local_marathon_subprocess(workdir=workdir) as lm, \
            HaproxyProcess(workdir, backends=["web"]) as hp, aiohttp.ClientSession() as http:
        defn = sample_app_definition(APP, version="v1", instances=2)
        async with http.post(f"{lm.url}/v2/apps", json=defn) as resp:
            assert resp.status == 201, await resp.text()
        async with MarathonLbSyncer(lm.url, app_id=APP, stats_socket=hp.stats_socket, backend="web") as sync:
            app = await wait_healthy(lm.url, APP, 2, timeout_s=20)
            names = await sync.wait_routed(lambda n: len(n) == 2, timeout_s=20)
            assert names == {server_name(t["id"]) for t in app["tasks"]}
            state = await servers_state(hp.stats_socket, "web")
            assert set(state) == names and all(s.serving for s in state.values())
            async with http.get(hp.url + "/") as resp:
                assert resp.status == 200 and (await resp.json())["version"] == "v1"

            # a dropped stream is reconnected and followed by a resync; events flow again
            async with http.post(f"{lm.url}/_localmarathon/faults", json={"drop_event_streams": True}) as r:
                assert r.status == 200, await r.text()
            await sync.wait_routed(lambda _n: sync.connects >= 2, timeout_s=20)
            async with http.put(f"{lm.url}/v2/apps{APP}", json={"instances": 3}) as r:
                assert r.status == 200, await r.text()
            await sync.wait_routed(lambda n: len(n) == 3, timeout_s=20)
            app = await wait_healthy(lm.url, APP, 3, timeout_s=20)

            victim = app["tasks"][0]["id"]
            async with http.delete(f"{lm.url}/v2/apps{APP}/tasks/{victim}", params={"scale": "true"}) as r:
                assert r.status == 200, await r.text()
            await sync.wait_routed(lambda n: server_name(victim) not in n and len(n) == 2, timeout_s=20)
            assert sync.events_seen["status_update_event"] > 0
        assert server_name(victim) not in await servers_state(hp.stats_socket, "web")


def test_server_names_and_check_options() -> None:
    assert server_name("mlb_web.instance-1a2b._app.1") == "mlb_web.instance-1a2b._app.1"
    assert server_name("a/b c") == "a_b_c"
    defn = sample_app_definition(APP, version="v1", instances=1, health_interval_s=0.5)
    assert check_args(defn) == " check inter 500ms fall 4"
    assert check_args({"healthChecks": []}) == ""

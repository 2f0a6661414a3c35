"""HaproxyProcess: the real haproxy binary starts, answers its runtime socket, routes to
servers added at runtime, stops, restarts fresh; a missing binary is a typed error."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from reactor.cli.demo.errors import ComponentMissing
from reactor.cli.demo.haproxy import HaproxyProcess, render_config
from reactor.cli.demo.runtime import RuntimeApiError, checked_command, servers_state
from reactor.cli.demo.scenario import sample_app_process

pytestmark = pytest.mark.e2e


async def test_start_route_restart_stop(workdir: Path) -> None:
    async with sample_app_process(workdir, version="v1") as app, \
            HaproxyProcess(workdir, backends=["web", "other"]) as hp:
        assert hp.running and hp.frontend_port > 0
        assert "HAProxy" in await hp.version()
        assert await servers_state(hp.stats_socket, "web") == {}
        await checked_command(hp.stats_socket, f"add server web/s1 127.0.0.1:{app.port}")
        await checked_command(hp.stats_socket, "set server web/s1 state ready")
        async with aiohttp.ClientSession() as s, s.get(hp.url + "/") as resp:
            assert resp.status == 200
            assert (await resp.json())["version"] == "v1"
        # the other backend has no server: 503 from haproxy itself
        async with aiohttp.ClientSession() as s, s.get(hp.url + "/", headers={"X-Backend": "other"}) as r:
            assert r.status == 503
        assert (await servers_state(hp.stats_socket, "web"))["s1"].serving

        port, pid = hp.frontend_port, hp.pid
        await hp.restart()
        assert hp.frontend_port == port and hp.pid != pid
        assert await servers_state(hp.stats_socket, "web") == {}  # runtime servers are lost
        async with aiohttp.ClientSession() as s, s.get(hp.url + "/") as resp:
            assert resp.status == 503
    assert not hp.running
    assert not hp.stats_socket.exists()
    await hp.stop()  # idempotent


async def test_refused_runtime_command_raises(workdir: Path) -> None:
    async with HaproxyProcess(workdir, backends=["web"]) as hp:
        with pytest.raises(RuntimeApiError, match="no-such"):
            await checked_command(hp.stats_socket, "set server web/no-such state ready")
        with pytest.raises(RuntimeApiError, match="no backend"):
            await servers_state(hp.stats_socket, "nope")


async def test_missing_binary_is_component_missing(workdir: Path) -> None:
    hp = HaproxyProcess(workdir, backends=["web"], binary=str(workdir / "no-haproxy-here"))
    with pytest.raises(ComponentMissing) as info:
        await hp.start()
    assert info.value.component == "haproxy"
    assert "apt-get install -y haproxy" in str(info.value)
    assert not hp.running


def test_config_declares_dynamic_backend_and_retries(workdir: Path) -> None:
    text = render_config(frontend_port=1234, backends=["web"], stats_socket=workdir / "a.sock")
    assert "level admin expose-fd listeners" in text
    assert "balance roundrobin" in text and "retry-on conn-failure empty-response response-timeout" in text
    assert "\n    server " not in text  # no static servers
    assert "retry-on" not in render_config(frontend_port=1, backends=["web"],
                                           stats_socket=workdir / "a.sock", retry_on=None)


def test_bad_arguments_are_rejected(workdir: Path) -> None:
    with pytest.raises(ValueError, match="at least one backend"):
        HaproxyProcess(workdir, backends=[])
    with pytest.raises(ValueError, match="too long"):
        HaproxyProcess(workdir, backends=["web"], stats_socket=workdir / ("x" * 120))

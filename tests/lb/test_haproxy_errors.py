"""The HAProxy driver's typed errors, provoked on a real haproxy (and on real misbehaving sockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reactor.adapters.lb import (
    BackendNotDynamic,
    BackendNotFound,
    HaproxyLoadBalancer,
    LbInvalidRequest,
    LbPermissionDenied,
    LbTimeout,
    LbUnavailable,
    ServerState,
)
from tests.lb.support import free_port, get

TASK = "prod_web-green.instance-6f3c8e2a-0b1c-11ec-9a03-0242ac130003._app.1"


@pytest.mark.parametrize("backend", ["nope", "fe", "bad name", ""])
async def test_wrong_backend_is_backend_not_found_for_every_operation(lb, backend) -> None:
    ops = [lb.observe(backend), lb.add(backend, TASK, "127.0.0.1", 8080), lb.drain(backend, TASK),
           lb.maint(backend, TASK), lb.remove(backend, TASK)]
    for op in ops:
        with pytest.raises(BackendNotFound) as info:
            await op
        assert info.value.backend == backend


@pytest.mark.parametrize(("backend", "algorithm"), [("static", "static-rr"), ("hashed", "source")])
async def test_static_backend_is_a_clear_configuration_error(lb, backend, algorithm) -> None:
    with pytest.raises(BackendNotDynamic) as info:
        await lb.add(backend, TASK, "127.0.0.1", 8080)
    assert (info.value.backend, info.value.algorithm) == (backend, algorithm)
    assert f"'balance {algorithm}'" in str(info.value) and "roundrobin" in str(info.value)
    assert await lb.observe(backend) == {}


@pytest.mark.parametrize("backend", ["leastconn", "hashed_consistent"])
async def test_dynamic_capable_algorithms_accept_servers(lb, task_server, backend) -> None:
    a = await task_server("A")
    await lb.add(backend, TASK, "127.0.0.1", a.port)
    assert (await lb.observe(backend))[TASK].state is ServerState.READY


async def test_missing_socket_is_unavailable(tmp_path: Path) -> None:
    async with HaproxyLoadBalancer(str(tmp_path / "absent.sock")) as lb:
        with pytest.raises(LbUnavailable, match="does not exist"):
            await lb.observe("web")


async def test_refused_tcp_socket_is_unavailable() -> None:
    async with HaproxyLoadBalancer(f"tcp://127.0.0.1:{free_port()}") as lb:
        with pytest.raises(LbUnavailable, match="refused"):
            await lb.add("web", TASK, "127.0.0.1", 8080)


async def test_tcp_socket_works_like_the_unix_one(haproxy, task_server) -> None:
    a = await task_server("A")
    async with HaproxyLoadBalancer(f"tcp://127.0.0.1:{haproxy.cli_port}") as lb:
        await lb.add("web", TASK, "127.0.0.1", a.port)
        assert set(await lb.observe("web")) == {TASK}
        assert (await lb.version()).split(".")[:1] >= ["2"]


async def test_operator_level_socket_is_permission_denied(haproxy) -> None:
    async with HaproxyLoadBalancer(str(haproxy.op_sock)) as lb:
        with pytest.raises(LbPermissionDenied, match="level admin"):
            await lb.add("web", TASK, "127.0.0.1", 8080)


async def test_server_that_never_answers_is_a_timeout(tmp_path: Path) -> None:
    path = str(tmp_path / "mute.sock")
    held: list[asyncio.StreamWriter] = []

    async def mute(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_unix_server(mute, path)
    async with server, HaproxyLoadBalancer(path, timeout_s=0.3) as lb:
        with pytest.raises(LbTimeout, match=r"0\.3 s"):
            await lb.observe("web")


async def test_connection_closed_without_answer_is_unavailable(tmp_path: Path) -> None:
    path = str(tmp_path / "closing.sock")

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.close()

    server = await asyncio.start_unix_server(hang_up, path)
    async with server, HaproxyLoadBalancer(path) as lb:
        with pytest.raises(LbUnavailable, match="without an answer"):
            await lb.drain("web", TASK)


@pytest.mark.parametrize(
    ("task_id", "address", "port", "problem"),
    [
        (TASK, "127.0.0.1", 0, "port"),
        (TASK, "127.0.0.1", 70000, "port"),
        (TASK, "not a host", 8080, "address"),
        (TASK, "host;show stat", 8080, "address"),
        ("", "127.0.0.1", 8080, "task id is empty"),
        ("x" * 600, "127.0.0.1", 8080, "max 512"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(lb, task_id, address, port, problem) -> None:
    with pytest.raises(LbInvalidRequest, match=problem):
        await lb.add("web", task_id, address, port)
    assert await lb.observe("web") == {}


async def test_host_names_are_resolved_before_add(haproxy, lb, task_server) -> None:
    a = await task_server("A")
    await lb.add("web", TASK, "localhost", a.port)
    server = (await lb.observe("web"))[TASK]
    assert (server.address, server.port) == ("127.0.0.1", a.port)
    assert await get(haproxy.url) == (200, "A")


async def test_unusual_task_ids_round_trip_through_haproxy(lb, task_server) -> None:
    a = await task_server("A")
    odd = ["with space/and:colon;semi", "ünïcode-✓", "UPPER.lower_mixed-1", "#hash\\back'quote\""]
    for task_id in odd:
        await lb.add("web", task_id, "127.0.0.1", a.port)
    assert set(await lb.observe("web")) == set(odd)
    for task_id in odd:
        await lb.remove("web", task_id)
    assert await lb.observe("web") == {}


async def test_servers_not_created_by_the_driver_are_ignored(lb, task_server) -> None:
    a = await task_server("A")
    assert await lb.observe("foreign") == {}  # config file server "static1" is not ours
    await lb.add("foreign", TASK, "127.0.0.1", a.port)
    assert set(await lb.observe("foreign")) == {TASK}

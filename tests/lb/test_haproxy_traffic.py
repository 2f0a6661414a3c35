"""The HAProxy driver against a real haproxy: traffic follows add / drain / maint / remove."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from reactor.adapters.lb import HaproxyLoadBalancer, ServerState, ServerStillBusy
from tests.lb.support import Haproxy, get, wait_until

TASK_A = "prod_web-green.instance-6f3c8e2a-0b1c-11ec-9a03-0242ac130003._app.1"
TASK_B = "prod_web-green.instance-7a4d9f3b-0b1c-11ec-9a03-0242ac130003._app.1"


async def answers(haproxy: Haproxy, n: int) -> Counter[str]:
    results = [await get(haproxy.url) for _ in range(n)]
    assert all(status == 200 for status, _ in results), results
    return Counter(body for _, body in results)


async def wait_sessions(lb: HaproxyLoadBalancer, task_id: str, sessions: int) -> None:
    async def seen() -> bool:
        return (await lb.observe("web"))[task_id].sessions == sessions

    await wait_until(seen, what=f"{sessions} session(s) on {task_id}")


async def test_add_routes_real_traffic_and_observe_reports_it(haproxy, lb, task_server) -> None:
    a, b = await task_server("A"), await task_server("B")
    await lb.add("web", TASK_A, "127.0.0.1", a.port)
    assert await answers(haproxy, 3) == {"A": 3}
    await lb.add("web", TASK_B, "127.0.0.1", b.port)
    assert await answers(haproxy, 4) == {"A": 2, "B": 2}
    pool = await lb.observe("web")
    assert set(pool) == {TASK_A, TASK_B}
    assert pool[TASK_A].name == "bg-" + TASK_A
    assert (pool[TASK_A].address, pool[TASK_A].port) == ("127.0.0.1", a.port)
    assert pool[TASK_A].state is ServerState.READY and pool[TASK_A].queued == 0


async def test_drain_sends_new_traffic_elsewhere_while_in_flight_request_completes(
    haproxy, lb, task_server
) -> None:
    a, b = await task_server("A"), await task_server("B")
    await lb.add("web", TASK_A, "127.0.0.1", a.port)
    slow = asyncio.create_task(get(haproxy.url, "/slow?ms=1500"))
    await wait_sessions(lb, TASK_A, 1)  # observe shows the in-flight session
    await lb.add("web", TASK_B, "127.0.0.1", b.port)
    await lb.drain("web", TASK_A)
    assert (await lb.observe("web"))[TASK_A].state is ServerState.DRAIN
    assert not slow.done()
    assert await answers(haproxy, 5) == {"B": 5}
    assert await slow == (200, "A")
    await wait_sessions(lb, TASK_A, 0)


async def test_maint_takes_server_out_and_add_reenables_it(haproxy, lb, task_server) -> None:
    a, b = await task_server("A"), await task_server("B")
    await lb.add("web", TASK_A, "127.0.0.1", a.port)
    await lb.add("web", TASK_B, "127.0.0.1", b.port)
    await lb.maint("web", TASK_A)
    assert (await lb.observe("web"))[TASK_A].state is ServerState.MAINT
    assert await answers(haproxy, 4) == {"B": 4}
    await lb.drain("web", TASK_B)
    await lb.add("web", TASK_A, "127.0.0.1", a.port)  # from maint
    await lb.add("web", TASK_B, "127.0.0.1", b.port)  # from drain
    pool = await lb.observe("web")
    assert {t: s.state for t, s in pool.items()} == {TASK_A: ServerState.READY, TASK_B: ServerState.READY}
    assert await answers(haproxy, 4) == {"A": 2, "B": 2}


async def test_remove_waits_until_the_in_flight_request_is_done(haproxy, lb, task_server) -> None:
    a, b = await task_server("A"), await task_server("B")
    await lb.add("web", TASK_A, "127.0.0.1", a.port)
    slow = asyncio.create_task(get(haproxy.url, "/slow?ms=1200"))
    await wait_sessions(lb, TASK_A, 1)
    await lb.add("web", TASK_B, "127.0.0.1", b.port)
    await lb.remove("web", TASK_A)  # retried "still has connections attached" until idle
    assert slow.done(), "remove returned while a request was still attached"
    assert await slow == (200, "A")
    assert set(await lb.observe("web")) == {TASK_B}
    assert await answers(haproxy, 2) == {"B": 2}


async def test_remove_gives_up_with_server_still_busy_and_leaves_it_in_maint(haproxy, task_server) -> None:
    a = await task_server("A")
    async with HaproxyLoadBalancer(str(haproxy.sock), remove_busy_timeout_s=0.3) as lb:
        await lb.add("web", TASK_A, "127.0.0.1", a.port)
        slow = asyncio.create_task(get(haproxy.url, "/slow?ms=1500"))
        await wait_sessions(lb, TASK_A, 1)
        with pytest.raises(ServerStillBusy, match="still has connections attached") as info:
            await lb.remove("web", TASK_A)
        assert info.value.task_id == TASK_A and info.value.waited_s >= 0.3
        assert (await lb.observe("web"))[TASK_A].state is ServerState.MAINT
        assert await slow == (200, "A")  # maint did not cut the in-flight request
        await lb.remove("web", TASK_A)
        assert await lb.observe("web") == {}


async def test_haproxy_restart_loses_servers_and_re_adding_works(haproxy, lb, task_server) -> None:
    a = await task_server("A")
    await lb.add("web", TASK_A, "127.0.0.1", a.port)
    assert set(await lb.observe("web")) == {TASK_A}
    await haproxy.restart()
    assert await lb.observe("web") == {}
    await lb.add("web", TASK_A, "127.0.0.1", a.port)
    assert await answers(haproxy, 2) == {"A": 2}


async def test_every_operation_twice_in_a_row_is_fine(haproxy, lb, task_server) -> None:
    a = await task_server("A")
    for _ in range(2):
        await lb.add("web", TASK_A, "127.0.0.1", a.port)
    assert (await lb.observe("web"))[TASK_A].state is ServerState.READY
    for op, state in ((lb.drain, ServerState.DRAIN), (lb.maint, ServerState.MAINT)):
        for _ in range(2):
            await op("web", TASK_A)
        assert (await lb.observe("web"))[TASK_A].state is state
    for _ in range(2):
        await lb.remove("web", TASK_A)
    assert await lb.observe("web") == {}
    for op in (lb.drain, lb.maint, lb.remove):  # absent task: nothing to do
        await op("web", TASK_B)
    assert await lb.observe("web") == {}


async def test_failing_health_check_is_observed_down(haproxy, task_server) -> None:
    a = await task_server("A")
    a.healthy = False
    async with HaproxyLoadBalancer(str(haproxy.sock), health_check="check inter 100ms fall 1 rise 1") as lb:
        await lb.add("checked", TASK_A, "127.0.0.1", a.port)

        async def state_is(state: ServerState) -> bool:
            return (await lb.observe("checked"))[TASK_A].state is state

        await wait_until(lambda: state_is(ServerState.DOWN), what="DOWN")
        a.healthy = True
        await wait_until(lambda: state_is(ServerState.READY), what="READY again")
        status, body = await get(f"http://127.0.0.1:{haproxy.checked_port}")
        assert (status, body) == (200, "A")

"""Backup servers with a real haproxy: `add(..., backup=True)` is observed with bck = 1, and it
takes traffic only while no normal server is up (drained, maintained, or DOWN by HAProxy's own
check) — the rollback window's warm BLUE standby relies on exactly this."""

from __future__ import annotations

from collections import Counter

from reactor.adapters.lb import HaproxyLoadBalancer, ServerState
from tests.lb.support import get, wait_until

GREEN = "prod_web-green.instance-6f3c8e2a-0b1c-11ec-9a03-0242ac130003._app.1"
BLUE = "prod_web-blue.instance-7a4d9f3b-0b1c-11ec-9a03-0242ac130003._app.1"


async def _answers(url: str, n: int) -> Counter[str]:
    results = [await get(url) for _ in range(n)]
    assert all(status == 200 for status, _ in results), results
    return Counter(body for _, body in results)


async def test_backup_is_observed_and_serves_only_when_no_normal_server_is(haproxy, lb, task_server) -> None:
    green, blue = await task_server("G"), await task_server("B")
    await lb.add("web", GREEN, "127.0.0.1", green.port)
    await lb.add("web", BLUE, "127.0.0.1", blue.port, backup=True)
    pool = await lb.observe("web")
    assert (pool[GREEN].backup, pool[BLUE].backup) == (False, True)
    assert pool[BLUE].state is ServerState.READY
    assert await _answers(haproxy.url, 4) == {"G": 4}
    await lb.drain("web", GREEN)
    assert await _answers(haproxy.url, 3) == {"B": 3}
    await lb.add("web", GREEN, "127.0.0.1", green.port)
    assert await _answers(haproxy.url, 3) == {"G": 3}
    await lb.add("web", BLUE, "127.0.0.1", blue.port)  # an existing server keeps its flag
    assert (await lb.observe("web"))[BLUE].backup is True
    await lb.remove("web", BLUE)
    await lb.add("web", BLUE, "127.0.0.1", blue.port)  # removed and added again: a normal server
    assert (await lb.observe("web"))[BLUE].backup is False
    assert await _answers(haproxy.url, 4) == {"G": 2, "B": 2}


async def test_backup_takes_over_when_the_check_downs_every_normal_server(haproxy, task_server) -> None:
    green, blue = await task_server("G"), await task_server("B")
    url = f"http://127.0.0.1:{haproxy.checked_port}"
    async with HaproxyLoadBalancer(str(haproxy.sock), health_check="check inter 100ms fall 1 rise 1") as lb:
        await lb.add("checked", GREEN, "127.0.0.1", green.port)
        await lb.add("checked", BLUE, "127.0.0.1", blue.port, backup=True)

        async def state_is(task: str, state: ServerState) -> bool:
            return (await lb.observe("checked"))[task].state is state

        await wait_until(lambda: state_is(GREEN, ServerState.READY), what="GREEN up")
        assert await _answers(url, 3) == {"G": 3}
        green.healthy = False
        await wait_until(lambda: state_is(GREEN, ServerState.DOWN), what="GREEN DOWN")
        assert await _answers(url, 3) == {"B": 3}

"""The operational metrics: build info, event-stream liveness (read at scrape time), LB errors,
store errors and refused Marathon credentials, in the reactor's own registry's exposition."""

from __future__ import annotations

import platform

from reactor import __version__
from reactor.engine.metrics import Metrics


def test_operational_metrics_in_the_exposition() -> None:
    m = Metrics()
    live = {"now": False}
    m.watch_stream(lambda: live["now"])
    text = m.render().decode()
    assert f'bluegreen_build_info{{python="{platform.python_version()}",version="{__version__}"}} 1.0' in text
    assert "bluegreen_event_stream_connected 0.0" in text
    live["now"] = True
    m.count_lb_error("lb_add", "BackendNotDynamic")
    m.count_lb_error("lb_add", "BackendNotDynamic")
    m.count_store_error("renew_lease")
    m.count_marathon_auth_failure("DC/OS login as x at y: no such uid")
    text = m.render().decode()
    assert "bluegreen_event_stream_connected 1.0" in text
    assert 'bluegreen_lb_errors_total{error="BackendNotDynamic",operation="lb_add"} 2.0' in text
    assert 'bluegreen_store_errors_total{operation="renew_lease"} 1.0' in text
    assert "bluegreen_marathon_auth_failures_total 1.0" in text
    assert "no such uid" not in text  # the reason goes to the log line, not into a label


async def test_reconcile_backlog_gauges_read_the_work_queue_at_scrape_time() -> None:
    """`bluegreen_reconcile_queue_depth` / `_in_flight` follow a real work queue: keys marked
    before a round runs are a backlog, a running handler is in flight, and both fall to 0."""
    import asyncio

    from reactor.engine.workqueue import WorkQueue
    from tests.waiting import wait_until

    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(_key: str, _trigger: object) -> None:
        started.set()
        await release.wait()

    m = Metrics()
    queue = WorkQueue(handler, max_workers=1)
    m.watch_queue(lambda: len(queue), lambda: queue.in_flight)
    for key in ("a", "b", "c"):
        queue.add(key)
    text = m.render().decode()
    assert "bluegreen_reconcile_queue_depth 3.0" in text and "bluegreen_reconcile_in_flight 0.0" in text
    async with queue:
        await started.wait()
        text = m.render().decode()
        assert "bluegreen_reconcile_queue_depth 2.0" in text and "bluegreen_reconcile_in_flight 1.0" in text
        release.set()
        await wait_until(lambda: not len(queue) and not queue.in_flight, what="the backlog worked off")
    text = m.render().decode()
    assert "bluegreen_reconcile_queue_depth 0.0" in text and "bluegreen_reconcile_in_flight 0.0" in text

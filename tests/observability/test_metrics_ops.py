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

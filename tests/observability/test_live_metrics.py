"""The operational metrics in a live daemon's /metrics: build info, the event stream's state, and
load balancer errors counted when the LB does not answer (real daemon subprocess, real embedded
Marathon, an HAProxy runtime socket that does not exist)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.support import Daemon, cluster, wait_until, write_config


def value(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


async def test_lb_errors_and_stream_state_in_live_metrics(tmp_path: Path) -> None:
    lb = f'driver = "haproxy"\n[lb.haproxy]\nsocket = "{tmp_path / "no-haproxy.sock"}"'
    async with cluster(blue_instances=1) as c:
        async with Daemon(write_config(tmp_path, c.url, lb=lb)) as daemon:
            async def counted() -> str | None:
                _, text = await daemon.text("/metrics")
                hit = value(text, 'bluegreen_lb_errors_total{error="LbUnavailable",operation="observe"}')
                return text if hit >= 1 else None
            text = await wait_until(counted, what="an LB observe error counted")
            assert value(text, "bluegreen_event_stream_connected") == 1.0, text
            assert value(text, "bluegreen_build_info{") == 1.0, text
            assert "bluegreen_reconcile_queue_depth " in text and "bluegreen_reconcile_in_flight " in text
            assert await daemon.stop() == 0

"""LoadGenerator against real sample-app processes behind a real haproxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.cli.demo.haproxy import HaproxyProcess
from reactor.cli.demo.load import LoadGenerator, RequestKind
from reactor.cli.demo.runtime import checked_command
from reactor.cli.demo.scenario import sample_app_process

pytestmark = pytest.mark.e2e


async def _add(hp: HaproxyProcess, name: str, port: int) -> None:
    await checked_command(hp.stats_socket, f"add server web/{name} 127.0.0.1:{port}")
    await checked_command(hp.stats_socket, f"set server web/{name} state ready")


async def test_counts_versions_and_timeline(workdir: Path) -> None:
    async with sample_app_process(workdir, version="v1") as a1, \
            sample_app_process(workdir, version="v2") as a2, \
            HaproxyProcess(workdir, backends=["web"]) as hp:
        await _add(hp, "a1", a1.port)
        async with LoadGenerator(hp.url, rate_per_s=100, slow_fraction=0.3, slow_ms=(5, 30), seed=1) as load:
            await load.wait_for(lambda s: s.by_version.get("v1", 0) >= 20, timeout_s=10)
            await _add(hp, "a2", a2.port)
            await load.wait_for(lambda s: s.by_version.get("v2", 0) >= 20, timeout_s=10)
        summary = load.summary()
    assert summary.failed == 0 and summary.in_flight == 0
    assert summary.sent == summary.ok == sum(summary.by_version.values())
    assert summary.versions == ["v1", "v2"]
    assert summary.first_seen_s["v1"] < summary.first_seen_s["v2"]
    kinds = {r.kind for r in load.records}
    assert kinds == {RequestKind.FAST, RequestKind.SLOW}
    assert summary.to_dict()["timeline"]["versions"] == ["v1", "v2"]


async def test_killed_backend_failures_are_recorded(workdir: Path) -> None:
    async with sample_app_process(workdir, version="v1") as app, \
            HaproxyProcess(workdir, backends=["web"]) as hp:
        await _add(hp, "only", app.port)
        async with LoadGenerator(hp.url, rate_per_s=100, slow_ms=(50, 100), seed=2) as load:
            await load.wait_for(lambda s: s.ok >= 20, timeout_s=10)
            await app.kill()
            summary = await load.wait_for(lambda s: s.failed >= 5, timeout_s=10)
    assert summary.ok >= 20
    assert any(reason.startswith("status 5") for reason in summary.failure_reasons)
    assert load.summary().sent == load.summary().ok + load.summary().failed


async def test_bounded_by_count_and_time(workdir: Path) -> None:
    async with sample_app_process(workdir, version="v1") as app, \
            HaproxyProcess(workdir, backends=["web"]) as hp:
        await _add(hp, "only", app.port)
        load = LoadGenerator(hp.url, rate_per_s=200, max_requests=25, slow_fraction=0.0)
        await load.start()
        await load.wait_for(lambda s: s.ok + s.failed == 25, timeout_s=10)
        await load.stop()
        assert load.summary().sent == 25
        timed = LoadGenerator(hp.url, rate_per_s=50, max_duration_s=0.2, slow_fraction=0.0)
        async with timed:
            await timed.wait_for(lambda s: s.sent > 0 and s.in_flight == 0 and s.sent >= 10, timeout_s=10)
        assert 10 <= timed.summary().sent <= 12


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        LoadGenerator("http://127.0.0.1:1", rate_per_s=0)
    with pytest.raises(ValueError, match="slow_fraction"):
        LoadGenerator("http://127.0.0.1:1", slow_fraction=1.5)
    with pytest.raises(ValueError, match="slow_ms"):
        LoadGenerator("http://127.0.0.1:1", slow_ms=(10, 5))

"""THE BASELINE: Marathon's rolling restart of the same app id behind a marathon-lb-style HAProxy,
under load. Asserts only that the run completed and v2 serves at the end; prints the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reactor.cli.demo.baseline import run_baseline

pytestmark = pytest.mark.e2e


async def test_baseline_rolling_restart_under_load(workdir: Path) -> None:
    result = await run_baseline(workdir, instances=4)
    print("\nBASELINE", json.dumps({k: result[k] for k in (
        "failed_requests", "abandoned_operations", "deployment_s", "total_s", "haproxy_retry_on")}))
    requests = result["requests"]
    assert requests["sent"] == requests["ok"] + requests["failed"] and requests["in_flight"] == 0
    assert result["tail_versions"] == ["v2"]  # the new version serves at the end, alone
    assert requests["timeline"]["versions"] == ["v1", "v2"]
    assert result["ledger"]["by_version"]["v1"]["tasks"] == 4  # every BLUE task was stopped
    assert result["failed_requests"] == requests["failed"]
    assert result["abandoned_operations"] == result["ledger"]["abandoned"] >= 0

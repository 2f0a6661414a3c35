"""`bluegreen demo --json` on this machine: 0 failed requests and 0 abandoned operations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(240)
def test_demo_json_reports_zero_failed_and_zero_abandoned(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "reactor", "demo", "--json", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=220, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["outcome"] == "completed"
    assert result["load"]["sent"] > 50
    assert result["load"]["failed"] == 0, result["load"]
    assert result["ledger"]["abandoned"] == 0, result["ledger"]
    assert set(result["load"]["by_version"]) == {"v1", "v2"}
    assert result["ledger"]["tasks"] == 6  # 3 BLUE killed by the reactor, 3 GREEN stopped at the end
    assert result["deployment"]["marathon_requests_total"] <= 12

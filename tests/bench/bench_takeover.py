"""Takeover time: the acting replica SIGKILLed → another replica's first write.

    .venv/bin/python -m tests.bench.bench_takeover [RUNS] [SESSION_TIMEOUT_S]

A real standalone ZooKeeper (tests/zookeeper.py); two replica stand-ins (tests/zk/fencing_worker:
the ZooKeeperBackend, a write whenever `may_act` and `confirm` allow, each write time-stamped).
Each run: wait until the first writes, SIGKILL it, time until the second's first write. Target:
≤ session timeout + 1 s. Also checks that no write of the two overlaps (the killed one's last
write precedes the survivor's first).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.machine import header
from tests.zk.test_zookeeper_backend import start_worker
from tests.zookeeper import ZooKeeperServer


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))] if s else math.nan


def wait(cond: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def stamps(path: Path) -> list[float]:
    return [float(line.split()[1]) for line in path.read_text().splitlines()] if path.exists() else []


def one_run(zk: ZooKeeperServer, work: Path, session_s: float) -> float:
    work.mkdir()
    first = start_worker(zk, work, "first", session_s=session_s)
    wait(lambda: len(stamps(first.counter)) > 5, 30, "the first replica acting")
    second = start_worker(zk, work, "second", session_s=session_s)
    try:
        wait(second.started, 30, "the second replica connected")
        killed_at = time.time()
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        wait(lambda: stamps(second.counter), session_s * 3 + 10, "takeover")
        taken = stamps(second.counter)[0]
        assert max(stamps(first.counter)) < taken, "writes overlapped"
        return taken - killed_at
    finally:
        first.stop()
        second.stop()


def main(runs: int, session_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        zk = ZooKeeperServer(Path(tmp) / "zk")
        zk.start()
        try:
            times = [one_run(zk, Path(tmp) / f"run{i}", session_s) for i in range(runs)]
        finally:
            zk.stop()
    print(header(f"takeover after SIGKILL of the acting replica (ZooKeeper, tickTime 100 ms), {runs} runs"))
    print(f"session_timeout_s {session_s}: p50 {pct(times, 50):.2f} s, p99 {pct(times, 99):.2f} s, "
          f"max {max(times):.2f} s (target ≤ {session_s + 1:.1f} s)")
    print("runs: " + " ".join(f"{t:.2f}" for t in times))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10, float(sys.argv[2]) if len(sys.argv) > 2 else 3.0)

"""Lease trust is measured on a clock that counts suspended time: on Linux CLOCK_BOOTTIME (the
monotonic clock stops while the host sleeps, and a replica woken past its lease would still
trust it). Both backends use it unless a test gives them another clock."""

from __future__ import annotations

import time
from pathlib import Path

from reactor.adapters.store.lease_clock import lease_clock
from reactor.adapters.store.sqlite_backend import SqliteBackend
from reactor.adapters.store.zookeeper_session import ZkSession


def test_the_lease_clock_is_boottime_and_the_backends_default_to_it(tmp_path: Path) -> None:
    assert abs(lease_clock() - time.clock_gettime(time.CLOCK_BOOTTIME)) < 1.0
    before = time.monotonic()
    assert lease_clock() >= before  # BOOTTIME = MONOTONIC + the time spent suspended, read later
    assert SqliteBackend(tmp_path / "s.db", owner="o", lease_ttl_s=15)._monotonic is lease_clock
    assert ZkSession("127.0.0.1:1", session_timeout_s=10)._monotonic is lease_clock

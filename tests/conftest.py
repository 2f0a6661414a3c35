"""Shared pytest fixtures. Component fixtures live beside the tests that own them; ZooKeeper is
shared (store tests and replica e2e tests both need it)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.zookeeper import ZooKeeperServer


@pytest.fixture
def zookeeper(tmp_path: Path) -> Iterator[ZooKeeperServer]:
    """A fresh standalone ZooKeeper (free port, own data dir, fast session expiry) per test."""
    server = ZooKeeperServer(tmp_path / "zookeeper")
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""Shared pytest fixtures. Component fixtures live beside the tests that own them; ZooKeeper is
shared (store tests and replica e2e tests both need it)."""

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.zookeeper import ZooKeeperServer


def pytest_configure(config: pytest.Config) -> None:
    """Give SIGINT back its default (KeyboardInterrupt) when the suite inherited it ignored.

    A command started in the background of a non-interactive shell (`bash .ci/run &`) runs with
    SIGINT ignored, every process it starts inherits that across exec, and Python then installs
    no Ctrl-C handler: `status --watch` could not be interrupted and its test hung (three runs
    launched that way failed, foreground runs passed). The tests send Ctrl-C as a user at a
    terminal does, so they need the disposition that user has, however the suite was launched."""
    del config
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def zookeeper(tmp_path: Path) -> Iterator[ZooKeeperServer]:
    """A fresh standalone ZooKeeper (free port, own data dir, fast session expiry) per test."""
    server = ZooKeeperServer(tmp_path / "zookeeper")
    server.start()
    try:
        yield server
    finally:
        server.stop()

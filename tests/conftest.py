"""Shared pytest fixtures. Component fixtures live beside the tests that own them; ZooKeeper is
shared (store tests and replica e2e tests both need it)."""

import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

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


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Each test leaves logging as it found it. A test that runs a command in-process (`main([...])`)
    has the command configure structlog and the root logger to print to sys.stderr, which is then
    that test's capture file, closed by pytest afterwards: a later test on the same worker that
    logged got "I/O operation on closed file" (a work-queue test failed so, in one CI run of three,
    depending on which tests its worker had run before)."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def zookeeper(tmp_path: Path) -> Iterator[ZooKeeperServer]:
    """A fresh standalone ZooKeeper (free port, own data dir, fast session expiry) per test."""
    server = ZooKeeperServer(tmp_path / "zookeeper")
    server.start()
    try:
        yield server
    finally:
        server.stop()

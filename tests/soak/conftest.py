"""Fixtures of the soak: a short work directory (unix socket paths are limited)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def workdir() -> Iterator[Path]:
    # tmp_path can exceed the 108-byte limit of a unix socket path; /tmp is short
    path = Path(tempfile.mkdtemp(prefix="bgsoak-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)

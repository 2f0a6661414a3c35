"""The async SqliteBackend when its file cannot be written: held locked by another process for
longer than the busy timeout, or full (the file may not grow). Each gives StoreError, `ok` False
with the problem, no crash of the lease upkeep, and recovery once the cause is gone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.sqlite_backend import SqliteBackend

ROOT = Path(__file__).resolve().parents[2]
HOLD_LOCK = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
c.execute("COMMIT")
print("released", flush=True)
"""


def hold_lock(db: Path) -> subprocess.Popen[str]:
    """Another process holding the write lock until it reads a line."""
    return subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


class LockHeld:
    """`with LockHeld(db) as held:` another process holds the write lock inside the block until
    `held.release()` (which returns once it has committed); killed on the way out regardless."""

    def __init__(self, db: Path) -> None:
        self._proc = hold_lock(db)

    def __enter__(self) -> LockHeld:
        assert self._proc.stdout is not None
        assert self._proc.stdout.readline().strip() == "locked"
        return self

    def release(self) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()
        assert self._proc.stdout.readline().strip() == "released"

    def __exit__(self, *_exc: object) -> None:
        self._proc.kill()
        self._proc.wait()


async def test_store_locked_longer_than_busy_timeout_then_released(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with SqliteBackend(db, owner="me", lease_ttl_s=30, busy_timeout_s=0.2) as backend:
        assert await backend.acquire("/g")
        await backend.save_intent("/g", {"step": 1}, finished=False)
        with LockHeld(db) as held:
            with pytest.raises(StoreError, match="locked"):
                await backend.save_intent("/g", {"step": 2}, finished=False)
            assert not backend.ok and backend.problem and "locked" in backend.problem
            assert str(db) in backend.problem
            await backend.renew_once()  # the lease upkeep survives the error
            assert await backend.load_intent("/g") == {"step": 1}, "WAL readers are not blocked"
            held.release()
        await backend.save_intent("/g", {"step": 2}, finished=False)
        assert backend.ok and backend.problem is None
        assert await backend.load_intent("/g") == {"step": 2}


def test_full_file_is_a_store_error_and_recovers(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.store.full_worker", str(tmp_path / "state.db")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["error"] and "state.db" in seen["error"]
    assert seen["ok_after_error"] is False and seen["problem"] == seen["error"]
    assert seen["intent_after_error"] == {"step": "small"}, "the failed write changed nothing"
    assert seen["ok_after_recovery"] is True and seen["size_after_recovery"] == 2_000_000

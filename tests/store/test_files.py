"""Files the store must refuse with one clear StoreError naming the path, leaving them untouched."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from reactor.adapters.store import StateStore, StoreError
from reactor.adapters.store.schema import SCHEMA_VERSION
from tests.store import workers


def _refused(path: Path, match: str) -> StoreError:
    before = path.read_bytes() if path.is_file() else None
    store = StateStore(path, owner="a")
    with pytest.raises(StoreError, match=match) as info:
        store.open()
    assert str(path) in str(info.value)
    assert not store.is_open
    if before is not None:
        assert path.read_bytes() == before, "a refused file must not be changed"
    return info.value


def test_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_text("[state]\npath = 'oops, this is a config file'\n" * 20)
    _refused(path, "not a usable SQLite database")
    assert not (tmp_path / "state.db-wal").exists()


def test_corrupt_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path, owner="a") as store:
        for i in range(200):
            store.append_history(
                {"group": "web", "deployment_id": f"d{i}", "outcome": "completed", "finished_at": float(i)}
            )
    # the store checkpoints on close; overwrite pages after the header page with garbage
    data = bytearray(path.read_bytes())
    assert len(data) > 4 * 4096
    data[4096 : 4 * 4096] = b"\xde\xad\xbe\xef" * 3072
    path.write_bytes(bytes(data))
    _refused(path, "corrupt|not a usable SQLite database")


def test_truncated_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 84)
    _refused(path, "not a usable SQLite database|corrupt")


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    _refused(path, "not a bluegreen state store .tables: customers")


def test_other_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    _refused(path, "another application's database")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path, owner="a") as store:
        store.save_intent("web", {"x": 1}, now_s=1.0)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    _refused(path, f"schema version {SCHEMA_VERSION + 1} is newer")


def test_directory_and_missing_parent_are_refused(tmp_path: Path) -> None:
    _refused(tmp_path, "is a directory")
    missing = tmp_path / "no-such-dir" / "state.db"
    _refused(missing, "does not exist")
    assert not missing.parent.exists()


def test_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch()
    with StateStore(path, owner="a") as store:
        store.save_intent("web", {"x": 1}, now_s=1.0)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_permission_denied_is_refused() -> None:
    # Root ignores file modes, so as root the attempt runs in a child that drops to 'nobody'.
    work = Path(tempfile.mkdtemp(prefix="bluegreen-perm-"))
    try:
        work.chmod(0o755)
        path = work / "state.db"
        with StateStore(path, owner="root") as store:
            store.save_intent("web", {"x": 1}, now_s=1.0)
        path.chmod(0o600 if os.geteuid() == 0 else 0o000)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            message = pool.apply(workers.open_as_unprivileged, (str(path),))
        assert message is not None, "opening a file without permission must fail"
        assert "permission denied" in message and str(path) in message
    finally:
        for child in work.iterdir():
            child.chmod(0o600)
        shutil.rmtree(work)

"""Schema of the state file and the one place that opens it: checks, pragmas, migrations.

Owns the DDL, the `user_version` migration steps and the refusal to touch a file that is not
ours (not a database, corrupt, another application's database, a newer schema). It must not
hold business rules (leases, intents): those live in `sqlite`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from reactor.adapters.store.errors import StoreError

# "BGRT": marks the file as a bluegreen-reactor state store (PRAGMA application_id).
APPLICATION_ID = 0x42475254

# MIGRATIONS[n] brings the schema from version n to n + 1. Append only; never edit a step.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE intents (
            group_name TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            finished INTEGER NOT NULL DEFAULT 0,
            revision INTEGER NOT NULL,
            updated_at REAL NOT NULL,
            updated_by TEXT NOT NULL)""",
        """CREATE TABLE leases (
            group_name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at REAL NOT NULL,
            acquired_at REAL NOT NULL)""",
        """CREATE TABLE history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_name TEXT NOT NULL,
            deployment_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            finished_at NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (group_name, deployment_id))""",
        "CREATE INDEX history_by_group ON history (group_name, id)",
        """CREATE TABLE deliveries (
            event_id TEXT NOT NULL,
            hook TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            claimed_by TEXT NOT NULL,
            PRIMARY KEY (event_id, hook)) WITHOUT ROWID""",
        "CREATE INDEX deliveries_by_time ON deliveries (claimed_at)",
        """CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_name TEXT NOT NULL,
            command TEXT NOT NULL,
            source TEXT NOT NULL,
            at REAL NOT NULL,
            owner TEXT NOT NULL)""",
        "CREATE INDEX commands_by_group ON commands (group_name, id)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, *, busy_timeout_s: float) -> sqlite3.Connection:
    """Open `path`, refuse anything that is not (or cannot become) our store, migrate it.

    Every check that reads happens before the first write, so a refused file is left as it was.
    """
    _check_path(path)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(path, f"cannot open: {exc}") from exc
    try:
        _check_contents(conn, path)
        _configure(conn, path, busy_timeout_s=busy_timeout_s)
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _check_path(path: Path) -> None:
    try:
        if path.is_dir():
            raise StoreError(path, "is a directory, not a file")
        if not path.parent.is_dir():
            raise StoreError(path, f"directory {path.parent} does not exist")
        exists = path.exists()
    except OSError as exc:
        raise StoreError(path, f"cannot access: {exc}") from exc
    if exists and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(path, "permission denied (the store needs read and write access)")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(
            path, f"permission denied on directory {path.parent} (SQLite creates its -wal file there)"
        )


def _check_contents(conn: sqlite3.Connection, path: Path) -> None:
    try:
        # One read transaction: another process may be creating the schema right now, and the
        # version, the id and the tables must come from the same snapshot.
        conn.execute("BEGIN")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc):
            raise StoreError(path, f"database is corrupt ({exc})") from exc
        raise StoreError(path, f"not a usable SQLite database ({exc})") from exc
    if problems != ["ok"]:
        raise StoreError(path, "database is corrupt: " + "; ".join(problems))
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(path, f"is another application's database (application_id {app_id:#x})")
    if app_id == 0 and version == 0 and tables:
        shown = ", ".join(sorted(tables)[:5])
        raise StoreError(path, f"is a SQLite database that is not a bluegreen state store (tables: {shown})")
    if version > SCHEMA_VERSION:
        raise StoreError(
            path, f"schema version {version} is newer than this program's ({SCHEMA_VERSION}); upgrade it"
        )


def _configure(conn: sqlite3.Connection, path: Path, *, busy_timeout_s: float) -> None:
    """Switch to WAL. SQLite answers SQLITE_BUSY at once, without its busy handler, when two
    connections switch a new file's journal mode together (each holds a shared lock the other's
    upgrade waits for), so "locked" is retried here until the busy timeout is spent."""
    deadline = time.monotonic() + busy_timeout_s
    pause = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = NORMAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise StoreError(path, f"cannot configure the database: {exc}") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        except sqlite3.Error as exc:
            raise StoreError(path, f"cannot configure the database: {exc}") from exc
    if str(mode).lower() != "wal":
        raise StoreError(path, f"cannot switch to WAL mode (journal mode stays {mode})")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    try:
        # IMMEDIATE: two processes opening a new file at once must not both run a step.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step in MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StoreError(path, f"cannot prepare the schema: {exc}") from exc

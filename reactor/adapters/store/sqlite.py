"""The state store: one SQLite file shared by the daemon and CLI processes.

Owns intents (an opaque JSON object per group, with a revision for compare-and-set), leases (one
actor per group), the history of finished deployments, hook delivery claims and the audit log of
operator commands. Every method is one short transaction (WAL, busy timeout), so it may be called
from the event loop. It must not interpret intents (the planner's model is not imported here) and
must not read the clock: callers pass `now_s`, wall-clock seconds, because leases cross processes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from reactor.adapters.store import retention, schema
from reactor.adapters.store.errors import LeaseLost, RevisionConflict, StoreError
from reactor.adapters.store.records import (
    IntentRecord,
    complete_history,
    dump_object,
    intent_row,
    put_intent,
    put_intents,
    require_positive,
)

IntentMutation = Callable[[dict[str, Any] | None], dict[str, Any] | None]

#: the leases of a JSON array of groups that are free, expired or ours: taken (or renewed)
_CLAIM_LEASES = (
    "INSERT INTO leases (group_name, holder, expires_at, acquired_at)"
    " SELECT value, ?1, ?2, ?3 FROM json_each(?4) WHERE true"
    " ON CONFLICT (group_name) DO UPDATE SET holder = excluded.holder,"
    " expires_at = excluded.expires_at, acquired_at = CASE WHEN leases.holder ="
    " excluded.holder AND leases.expires_at > ?3 THEN leases.acquired_at ELSE"
    " excluded.acquired_at END"
    " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?3")
#: for each group of the JSON array: [group, held by us, its stored intent (JSON text) if held]
_CLAIMED = (
    "SELECT json_group_array(json_array(j.value, l.holder IS ?1 AND l.expires_at > ?2,"
    " CASE WHEN l.holder IS ?1 AND l.expires_at > ?2 THEN i.body END))"
    " FROM json_each(?3) AS j LEFT JOIN leases AS l ON l.group_name = j.value"
    " LEFT JOIN intents AS i ON i.group_name = j.value")


class StateStore:
    """Intent, leases, history, hook deliveries and audit log in one SQLite file."""

    def __init__(self, path: str | Path, *, owner: str, busy_timeout_s: float = 5.0) -> None:
        if not owner:
            raise ValueError("owner must be a non-empty identity, e.g. 'host:pid:uuid'")
        self.path = Path(path)
        self.owner = owner
        self._busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()  # one connection; calls may come from to_thread workers

    # lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            if self._conn is None:
                self._conn = schema.connect(self.path, busy_timeout_s=self._busy_timeout_s)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def __enter__(self) -> StateStore:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    async def __aenter__(self) -> StateStore:
        self.open()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    # intent ----------------------------------------------------------------------------------

    def load_intent(self, group: str) -> dict[str, Any] | None:
        record = self.load_intent_record(group)
        return None if record is None else record.intent

    def load_intent_record(self, group: str) -> IntentRecord | None:
        with self._tx(write=False) as c:
            return intent_row(c, group)

    def save_intent(
        self,
        group: str,
        intent: dict[str, Any],
        *,
        now_s: float,
        finished: bool = False,
        expected_revision: int | None = None,
    ) -> int:
        """Store `intent`; returns its new revision.

        Raises LeaseLost if another owner holds a live lease on the group, and RevisionConflict
        if `expected_revision` is given and the stored revision differs (0 = no intent yet).
        """
        body = dump_object(self.path, "intent", intent)
        with self._tx(write=True) as c:
            self._check_lease(c, group, now_s)
            current = intent_row(c, group)
            revision = current.revision if current else 0
            if expected_revision is not None and expected_revision != revision:
                raise RevisionConflict(group, expected_revision, revision)
            put_intent(c, group, body, finished, revision + 1, now_s, self.owner)
            return revision + 1

    def prepare_intent(self, group: str, intent: dict[str, Any], finished: bool) -> str:
        """Group commit, first half: one save's row as JSON, which touches no file (the async
        backend runs it on the event loop, so that its worker thread only runs
        `write_intent_rows`' four SQLite calls; each lets go of the GIL, and taking it back from
        a busy event loop can wait the interpreter's switch interval). Raises StoreError for an
        intent that cannot be stored."""
        return json.dumps({"g": group, "b": dump_object(self.path, "intent", intent), "f": int(finished)})

    def write_intent_rows(self, rows: list[tuple[str, str]], *, now_s: float) -> list[Exception | None]:
        """Group commit, second half: store each `(group, prepare_intent's JSON)` in ONE statement
        (autocommit: one statement is one transaction) whose WHERE clause checks each group's
        lease. One statement lets go of the GIL once: with BEGIN, a lease SELECT, the INSERT and
        COMMIT apart, the worker thread had to take the GIL back from a busy event loop four
        times, each a wait of up to the interpreter's switch interval (half of a save's time with
        50 groups deploying). Per row None, or the LeaseLost that refused that row alone; the
        others are written. A failing statement (locked, full, corrupt) raises StoreError and
        writes none of them."""
        payload = "[" + ",".join(j for _, j in rows) + "]"
        with self._statement() as c:
            written = put_intents(c, payload, now_s, self.owner)
        if written == len(rows):
            return [None] * len(rows)
        return self._refused_rows(rows, now_s)

    def _refused_rows(self, rows: list[tuple[str, str]], now_s: float) -> list[Exception | None]:
        """After a group commit that left rows out (a lease held by another owner): which ones.
        Those this statement wrote carry its `now_s` and this owner (`now_s` is one wall-clock
        reading per batch); the others get the LeaseLost naming the holder seen now."""
        groups = json.dumps([g for g, _ in rows])
        with self._tx(write=False) as c:
            ours = {g for (g,) in c.execute(
                "SELECT group_name FROM intents WHERE updated_at = ? AND updated_by = ?"
                " AND group_name IN (SELECT value FROM json_each(?))", (now_s, self.owner, groups))}
            holders = dict(c.execute(
                "SELECT group_name, holder FROM leases WHERE holder != ?"
                " AND group_name IN (SELECT value FROM json_each(?))", (self.owner, groups)).fetchall())
        return [None if g in ours else LeaseLost(g, holders.get(g)) for g, _ in rows]

    def update_intent(
        self,
        group: str,
        mutate: IntentMutation,
        *,
        now_s: float,
        finished: bool | None = None,
        respect_lease: bool = True,
    ) -> IntentRecord | None:
        """Atomic read-modify-write: `mutate(current or None)` returns the new intent (None = no change).

        `mutate` runs inside the write transaction: keep it short and free of I/O. With
        `respect_lease=False` an operator command (CLI) may change the intent of a group another
        process is driving; that process's next compare-and-set save then fails and it re-plans.
        """
        with self._tx(write=True) as c:
            if respect_lease:
                self._check_lease(c, group, now_s)
            current = intent_row(c, group)
            new = mutate(current.intent if current else None)
            if new is None:
                return current
            body = dump_object(self.path, "intent", new)
            done = finished if finished is not None else bool(current and current.finished)
            revision = (current.revision if current else 0) + 1
            put_intent(c, group, body, done, revision, now_s, self.owner)
            return IntentRecord(group, json.loads(body), revision, done, now_s, self.owner)

    def active_intents(self) -> dict[str, dict[str, Any]]:
        """Intents of every group not saved with `finished=True`, by group."""
        with self._tx(write=False) as c:
            rows = c.execute(
                "SELECT group_name, body FROM intents WHERE finished = 0 ORDER BY group_name"
            ).fetchall()
        return {group: json.loads(body) for group, body in rows}

    def delete_intent(self, group: str, *, now_s: float | None = None) -> None:
        """Forget the group's intent; with `now_s`, refuse (LeaseLost) while another owner acts."""
        with self._tx(write=True) as c:
            if now_s is not None:
                self._check_lease(c, group, now_s)
            c.execute("DELETE FROM intents WHERE group_name = ?", (group,))

    # leases ----------------------------------------------------------------------------------

    def acquire_lease(self, group: str, *, ttl_s: float, now_s: float) -> bool:
        """True if this owner holds the lease now: new, renewed, or taken over after expiry."""
        require_positive("ttl_s", ttl_s)
        with self._tx(write=True) as c:
            return self._acquire(c, group, ttl_s, now_s)

    def claim_leases(self, groups: list[str], *, ttl_s: float,
                     now_s: float) -> list[tuple[bool, dict[str, Any] | None]]:
        """`acquire_lease` for each group and, where it is held, the group's intent as stored:
        what a reactor needs before its first decision for a group. Two statements for the whole
        batch, each its own transaction: the upsert takes every lease that is free, expired or
        ours (atomically, whatever another process does meanwhile), then one read answers all
        groups at once. A lease taken by the first is ours for its TTL, so the read sees it; an
        intent is only written by a lease holder. (Per group, a read, an upsert and an intent
        read in one transaction cost the worker thread four trips back to the GIL each, each up
        to the interpreter's switch interval behind a busy event loop.)"""
        require_positive("ttl_s", ttl_s)
        names = json.dumps(groups)
        with self._statement() as c:
            c.execute(_CLAIM_LEASES, (self.owner, now_s + ttl_s, now_s, names))
            (found,) = c.execute(_CLAIMED, (self.owner, now_s, names)).fetchone()
        claimed = {g: (bool(held), body) for g, held, body in json.loads(found)}
        out: list[tuple[bool, dict[str, Any] | None]] = []
        for group in groups:
            held, body = claimed.get(group, (False, None))
            out.append((held, json.loads(body) if held and body is not None else None))
        return out

    def _acquire(self, c: sqlite3.Connection, group: str, ttl_s: float, now_s: float) -> bool:
        row = c.execute("SELECT holder, expires_at FROM leases WHERE group_name = ?", (group,)).fetchone()
        if row is not None and row[0] != self.owner and row[1] > now_s:
            return False
        c.execute(
            "INSERT INTO leases (group_name, holder, expires_at, acquired_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (group_name) DO UPDATE SET holder = excluded.holder,"
            " expires_at = excluded.expires_at, acquired_at = CASE WHEN leases.holder ="
            " excluded.holder AND leases.expires_at > ? THEN leases.acquired_at ELSE"
            " excluded.acquired_at END",
            (group, self.owner, now_s + ttl_s, now_s, now_s),
        )
        return True

    def renew_leases(self, *, ttl_s: float, now_s: float) -> list[str]:
        """Extend every live lease of this owner; returns those groups. An expired one is lost."""
        require_positive("ttl_s", ttl_s)
        with self._tx(write=True) as c:
            mine = (self.owner, now_s)
            rows = c.execute(
                "SELECT group_name FROM leases WHERE holder = ? AND expires_at > ? ORDER BY group_name", mine
            ).fetchall()
            c.execute(
                "UPDATE leases SET expires_at = ? WHERE holder = ? AND expires_at > ?", (now_s + ttl_s, *mine)
            )
        return [r[0] for r in rows]

    def release_lease(self, group: str) -> None:
        self.release_leases([group])

    def release_leases(self, groups: list[str]) -> list[Exception | None]:
        """Give up our leases of `groups` (one transaction; others' leases untouched)."""
        with self._statement() as c:  # one statement: its own transaction
            c.execute("DELETE FROM leases WHERE holder = ?"
                      " AND group_name IN (SELECT value FROM json_each(?))", (self.owner, json.dumps(groups)))
        return [None] * len(groups)

    def release_all_leases(self) -> list[str]:
        """Give up every lease of this owner (graceful shutdown); returns the groups released."""
        with self._tx(write=True) as c:
            rows = c.execute(
                "SELECT group_name FROM leases WHERE holder = ? ORDER BY group_name", (self.owner,)
            )
            groups = [r[0] for r in rows.fetchall()]
            c.execute("DELETE FROM leases WHERE holder = ?", (self.owner,))
        return groups

    def lease_holder(self, group: str, *, now_s: float) -> str | None:
        with self._tx(write=False) as c:
            row = c.execute(
                "SELECT holder FROM leases WHERE group_name = ? AND expires_at > ?", (group, now_s)
            ).fetchone()
        return None if row is None else str(row[0])

    def live_leases(self, *, now_s: float) -> dict[str, str]:
        """Holder of every live lease, by group."""
        with self._tx(write=False) as c:
            rows = c.execute(
                "SELECT group_name, holder FROM leases WHERE expires_at > ?", (now_s,)
            ).fetchall()
        return dict(rows)

    def _check_lease(self, c: sqlite3.Connection, group: str, now_s: float) -> None:
        row = c.execute(
            "SELECT holder FROM leases WHERE group_name = ? AND expires_at > ?", (group, now_s)
        ).fetchone()
        if row is not None and row[0] != self.owner:
            raise LeaseLost(group, row[0])

    # history ---------------------------------------------------------------------------------

    def append_history(self, record: dict[str, Any]) -> bool:
        """Record a finished deployment; False if (group, deployment_id) is already recorded.

        Requires `group`, `deployment_id`, `outcome`, `finished_at`; fills `duration_s` from
        numeric `started_at`/`finished_at` when absent. The record is returned as given.
        """
        rec = complete_history(self.path, record)
        body = dump_object(self.path, "history record", rec)
        with self._tx(write=True) as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO history (group_name, deployment_id, outcome, finished_at, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (str(rec["group"]), str(rec["deployment_id"]), str(rec["outcome"]), rec["finished_at"], body),
            )
            return cur.rowcount == 1

    def list_history(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Finished deployments, newest (last recorded) first."""
        require_positive("limit", limit)
        where, args = ("WHERE group_name = ?", (group,)) if group is not None else ("", ())
        with self._tx(write=False) as c:
            rows = c.execute(f"SELECT body FROM history {where} ORDER BY id DESC LIMIT ?", (*args, limit))
            return [json.loads(r[0]) for r in rows.fetchall()]

    # hook deliveries -------------------------------------------------------------------------

    def claim_delivery(self, event_id: str, hook: str, *, now_s: float) -> bool:
        """True exactly once per (event_id, hook), across processes and restarts."""
        with self._tx(write=True) as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO deliveries (event_id, hook, claimed_at, claimed_by)"
                " VALUES (?, ?, ?, ?)",
                (event_id, hook, now_s, self.owner),
            )
            return cur.rowcount == 1

    def forget_deliveries(self, *, before_s: float) -> int:
        """Drop delivery claims made before `before_s` (housekeeping); returns how many."""
        with self._tx(write=True) as c:
            return c.execute("DELETE FROM deliveries WHERE claimed_at < ?", (before_s,)).rowcount

    # retention -------------------------------------------------------------------------------

    def prune(self, *, keep_per_group: int, before_s: float | None, now_s: float) -> dict[str, int]:
        """Retention in one transaction: see `retention.prune` (intents and leases untouched)."""
        with self._tx(write=True) as c:
            return retention.prune(c, keep_per_group=keep_per_group, before_s=before_s, now_s=now_s)

    # audit -----------------------------------------------------------------------------------

    def record_command(self, group: str, command: str, *, source: str, now_s: float) -> None:
        with self._tx(write=True) as c:
            c.execute(
                "INSERT INTO commands (group_name, command, source, at, owner) VALUES (?, ?, ?, ?, ?)",
                (group, command, source, now_s, self.owner),
            )

    def list_commands(self, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Operator commands, newest first: dicts with group, command, source, at, owner."""
        require_positive("limit", limit)
        where, args = ("WHERE group_name = ?", (group,)) if group is not None else ("", ())
        with self._tx(write=False) as c:
            rows = c.execute(
                f"SELECT group_name, command, source, at, owner FROM commands {where}"
                " ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        keys = ("group", "command", "source", "at", "owner")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction; IMMEDIATE for writes so read-check-write sequences are atomic."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("StateStore is not open: call open() or use it as a context manager")
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    @contextmanager
    def _statement(self) -> Iterator[sqlite3.Connection]:
        """For one statement that is its own transaction (autocommit), with `_tx`'s errors."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("StateStore is not open: call open() or use it as a context manager")
            try:
                yield conn
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                self.path, f"{text}: another process held it for more than {self._busy_timeout_s} s"
            )
        return StoreError(self.path, text)

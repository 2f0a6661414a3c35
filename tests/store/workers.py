"""Child-process bodies for the store tests (run under multiprocessing's spawn context)."""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection
from typing import Any

from reactor.adapters.store import RevisionConflict, StateStore, StoreError

NOBODY = 65534


def open_as_unprivileged(path: str) -> str | None:
    """Open the store after dropping root (if root); the StoreError message, or None if it opened."""
    if os.geteuid() == 0:
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    try:
        with StateStore(path, owner="nobody"):
            return None
    except StoreError as exc:
        return str(exc)


def _increment(current: dict[str, Any] | None) -> dict[str, Any]:
    return {"n": (current or {"n": 0})["n"] + 1}


def contend(path: str, owner: str, rounds: int, barrier: Any) -> dict[str, Any]:
    """Race another process round by round: read-modify-write, compare-and-set, lease, claim.

    Both processes read the compare-and-set intent between two barriers, so in every round both
    hold the same revision when they save: exactly one of them must get RevisionConflict.
    """
    won_leases: list[str] = []
    claimed: list[str] = []
    conflicts = 0
    with StateStore(path, owner=owner, busy_timeout_s=20.0) as store:
        for i in range(rounds):
            barrier.wait(30)
            store.update_intent("rmw", _increment, now_s=time.time(), respect_lease=False)
            record = store.load_intent_record("cas")
            barrier.wait(30)
            while True:
                current = record.intent if record else {"n": 0}
                try:
                    store.save_intent(
                        "cas",
                        {"n": current["n"] + 1},
                        now_s=time.time(),
                        expected_revision=record.revision if record else 0,
                    )
                    break
                except RevisionConflict:
                    conflicts += 1
                    record = store.load_intent_record("cas")
            if store.acquire_lease(f"group-{i}", ttl_s=600.0, now_s=time.time()):
                won_leases.append(f"group-{i}")
            if store.claim_delivery(f"event-{i}", "hook", now_s=time.time()):
                claimed.append(f"event-{i}")
    return {"leases": won_leases, "claimed": claimed, "conflicts": conflicts}


def save_forever(path: str, out: Connection) -> None:
    """Save an ever-growing counter; report each committed value. Runs until killed."""
    padding = "x" * 6000  # a few pages per commit, so WAL checkpoints happen during the loop
    with StateStore(path, owner=f"writer:{os.getpid()}") as store:
        i = 0
        while True:
            i += 1
            store.save_intent("web", {"i": i, "padding": padding}, now_s=time.time())
            if i % 7 == 0:
                store.append_history(
                    {
                        "group": "web",
                        "deployment_id": f"d{i}",
                        "outcome": "completed",
                        "finished_at": float(i),
                    }
                )
            out.send(i)


def open_new_store_together(path: str, owner: str, barrier: Any) -> str | None:
    """Open a store file that does not exist yet at the same moment as other processes.

    Returns the StoreError message, or None when it opened.
    """
    barrier.wait(30)
    try:
        with StateStore(path, owner=owner, busy_timeout_s=20.0):
            return None
    except StoreError as exc:
        return str(exc)

"""Several processes on one store file: no lost update, one lease winner, crash safety."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

from reactor.adapters.store import StateStore
from tests.store import workers

ROUNDS = 100


def test_two_processes_lose_no_update_and_never_share_a_lease_or_claim(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            results = [
                pool.apply_async(workers.contend, (str(path), owner, ROUNDS, barrier))
                for owner in ("p1", "p2")
            ]
            first, second = (r.get(timeout=60) for r in results)
    with StateStore(path, owner="checker") as store:
        assert store.load_intent("rmw") == {"n": 2 * ROUNDS}
        assert store.load_intent("cas") == {"n": 2 * ROUNDS}
        leases = store.live_leases(now_s=time.time())
    all_groups = {f"group-{i}" for i in range(ROUNDS)}
    assert set(first["leases"]).isdisjoint(second["leases"])
    assert set(first["leases"]) | set(second["leases"]) == all_groups
    assert {g: leases[g] for g in first["leases"]} == dict.fromkeys(first["leases"], "p1")
    assert set(first["claimed"]).isdisjoint(second["claimed"])
    assert len(first["claimed"]) + len(second["claimed"]) == ROUNDS
    assert first["conflicts"] + second["conflicts"] == ROUNDS  # one loser per round, none undetected


def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """Two reactors (or a reactor and `deploy`) started together on a new state file: SQLite
    answers "locked" without waiting when both switch it to WAL, and a reader could see the
    tables of a schema being created without its version. Every opener must succeed."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager, ctx.Pool(3) as pool:
        for attempt in range(25):
            path = tmp_path / f"state-{attempt}.db"
            barrier = manager.Barrier(3)
            results = [
                pool.apply_async(workers.open_new_store_together, (str(path), f"p{i}", barrier))
                for i in range(3)
            ]
            errors = [r.get(timeout=60) for r in results]
            assert errors == [None, None, None], f"attempt {attempt}: {errors}"


def test_sigkill_mid_write_loop_leaves_last_committed_intent(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    writer = ctx.Process(target=workers.save_forever, args=(str(path), sender), daemon=True)
    writer.start()
    sender.close()
    last = 0
    deadline = time.monotonic() + 30.0
    while last < 600:
        assert time.monotonic() < deadline, f"writer reported only {last} commits"
        if receiver.poll(1.0):
            last = receiver.recv()
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(10)
    assert writer.exitcode == -signal.SIGKILL
    while True:  # commits reported before the kill
        try:
            last = receiver.recv()
        except EOFError:
            break
    with StateStore(path, owner="survivor") as store:
        intent = store.load_intent("web")
        assert intent is not None
        # the last reported commit is there; at most one more committed before its report was sent
        assert intent["i"] in (last, last + 1)
        history = store.list_history("web", limit=1)
        assert history and int(history[0]["deployment_id"][1:]) >= last - 7
        store.save_intent("web", {"i": 0}, now_s=time.time())
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()

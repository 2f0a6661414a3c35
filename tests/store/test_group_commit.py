"""Group commit of intent saves in the SQLite backend (real file): saves asked for together share
one transaction, each caller learns its own result only after the commit, a lease held by another
owner refuses only its own item, and a failed transaction stores none of its batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reactor.adapters.store import LeaseLost, StateStore
from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.sqlite_backend import SqliteBackend
from tests.store.test_backend_failures import LockHeld

GROUPS = [f"/g{i}" for i in range(40)]


async def test_concurrent_saves_share_transactions_and_all_are_stored(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with SqliteBackend(db, owner="me", lease_ttl_s=30) as backend:
        await asyncio.gather(*(backend.acquire(g) for g in GROUPS))
        for step in range(3):
            await asyncio.gather(*(backend.save_intent(g, {"g": g, "step": step}, finished=False)
                                   for g in GROUPS))
        assert backend.saves.largest > 1, "saves asked for at once were written one by one"
        assert backend.saves.batches < 3 * len(GROUPS)
    with StateStore(db, owner="reader") as store:  # what another process reads from the file
        for g in GROUPS:
            record = store.load_intent_record(g)
            assert record is not None and record.intent == {"g": g, "step": 2}
            assert record.revision == 3 and record.updated_by == "me"


async def test_a_lease_held_by_another_refuses_only_its_own_save(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with StateStore(db, owner="other") as other:
        assert other.acquire_lease("/taken", ttl_s=60, now_s=__import__("time").time())
    async with SqliteBackend(db, owner="me", lease_ttl_s=30) as backend:
        free = [f"/free{i}" for i in range(10)]
        results = await asyncio.gather(
            *(backend.save_intent(g, {"g": g}, finished=False) for g in [*free[:5], "/taken", *free[5:]]),
            return_exceptions=True)
        assert isinstance(results[5], LeaseLost) and "other" in str(results[5])
        assert [r for i, r in enumerate(results) if i != 5] == [None] * 10
        assert backend.saves.largest > 1, "the refused save was not in a shared transaction"
        for g in free:
            assert await backend.load_intent(g) == {"g": g}
        assert await backend.load_intent("/taken") is None
        assert backend.ok


async def test_a_failed_transaction_stores_none_of_its_batch_and_reports_each(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with SqliteBackend(db, owner="me", lease_ttl_s=30, busy_timeout_s=0.2) as backend:
        for g in GROUPS[:8]:
            await backend.save_intent(g, {"step": 1}, finished=False)
        with LockHeld(db) as held:
            results = await asyncio.gather(
                *(backend.save_intent(g, {"step": 2}, finished=False) for g in GROUPS[:8]),
                return_exceptions=True)
            assert all(isinstance(r, StoreError) and "locked" in str(r) for r in results), results
            assert not backend.ok
            held.release()
        for g in GROUPS[:8]:
            assert await backend.load_intent(g) == {"step": 1}
        await backend.save_intent(GROUPS[0], {"step": 2}, finished=False)
        assert backend.ok and await backend.load_intent(GROUPS[0]) == {"step": 2}


async def test_an_intent_that_cannot_be_stored_refuses_only_itself(tmp_path: Path) -> None:
    async with SqliteBackend(tmp_path / "state.db", owner="me", lease_ttl_s=30) as backend:
        bad: dict[str, object] = {"not json": {1, 2}}
        results = await asyncio.gather(
            backend.save_intent("/a", {"ok": 1}, finished=False),
            backend.save_intent("/b", bad, finished=False),  # type: ignore[arg-type]
            backend.save_intent("/c", {"ok": 3}, finished=True),
            return_exceptions=True)
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], StoreError) and "intent" in str(results[1])
        assert await backend.load_intent("/c") == {"ok": 3}
        assert await backend.active_intents() == {"/a": {"ok": 1}}


@pytest.mark.parametrize("cancel_first", [True, False])
async def test_a_cancelled_caller_does_not_lose_the_others_saves(tmp_path: Path, cancel_first: bool) -> None:
    async with SqliteBackend(tmp_path / "state.db", owner="me", lease_ttl_s=30) as backend:
        tasks = [asyncio.create_task(backend.save_intent(g, {"g": g}, finished=False)) for g in GROUPS[:6]]
        await asyncio.sleep(0)
        victim = tasks[0] if cancel_first else tasks[-1]
        victim.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for g, t in zip(GROUPS[:6], tasks, strict=True):
            if t is not victim:
                assert t.result() is None
                assert await backend.load_intent(g) == {"g": g}


async def test_claims_asked_for_together_share_a_transaction_and_read_each_intent(tmp_path: Path) -> None:
    """A round's first trip for a group it does not hold: its lease and its stored intent. Claims
    asked for at once share one trip to the store (two statements for the whole batch); one held
    by another owner is refused alone, one whose holder's lease expired is taken over."""
    db = tmp_path / "state.db"
    async with SqliteBackend(db, owner="before", lease_ttl_s=30) as before:
        for g in GROUPS[:10]:
            assert await before.acquire(g)
            await before.save_intent(g, {"g": g}, finished=False)
        await asyncio.gather(*(before.release(g) for g in GROUPS[:10]))
    with StateStore(db, owner="other") as other:
        assert other.acquire_lease("/taken", ttl_s=60, now_s=__import__("time").time())
        assert other.acquire_lease("/expired", ttl_s=1, now_s=__import__("time").time() - 10)
        other.save_intent("/expired", {"g": "/expired"}, now_s=__import__("time").time() - 10)
    async with SqliteBackend(db, owner="me", lease_ttl_s=30) as backend:
        wanted = [*GROUPS, "/taken", "/expired"]
        got = await asyncio.gather(*(backend.claim(g) for g in wanted))
        assert got == [(True, {"g": g} if g in GROUPS[:10] else None) for g in GROUPS] + [
            (False, None), (True, {"g": "/expired"})]
        assert backend.claims.largest > 1, "claims asked for at once went one by one"
        assert backend.acting_for() == {*GROUPS, "/expired"} and not backend.may_act("/taken")
    with StateStore(db, owner="reader") as store:
        assert store.lease_holder("/taken", now_s=__import__("time").time()) == "other"


async def test_claims_of_a_locked_store_fail_together_and_hold_nothing(tmp_path: Path) -> None:
    """A claim whose transaction could not run (another process held the write lock past the
    busy timeout) is a StoreError for every claim of its batch: no lease is trusted, the backend
    reports not ok, and the next claims, once the lock is gone, take the leases."""
    db = tmp_path / "state.db"
    async with SqliteBackend(db, owner="me", lease_ttl_s=30, busy_timeout_s=0.2) as backend:
        assert await backend.acquire("/warm")  # held before: a failed claim of others keeps it
        with LockHeld(db):
            got = await asyncio.gather(*(backend.claim(g) for g in GROUPS[:6]), return_exceptions=True)
            assert all(isinstance(x, StoreError) for x in got), got
            assert not backend.ok and "locked" in (backend.problem or "")
            assert backend.acting_for() == {"/warm"}
        got = await asyncio.gather(*(backend.claim(g) for g in GROUPS[:6]))
        assert got == [(True, None)] * 6 and backend.ok
        assert backend.acting_for() == {"/warm", *GROUPS[:6]}


async def test_releases_asked_for_together_share_a_transaction_and_free_only_ours(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with StateStore(db, owner="other") as other:
        assert other.acquire_lease("/theirs", ttl_s=60, now_s=__import__("time").time())
    async with SqliteBackend(db, owner="me", lease_ttl_s=30) as backend:
        await asyncio.gather(*(backend.acquire(g) for g in GROUPS))
        await asyncio.gather(*(backend.release(g) for g in [*GROUPS, "/theirs"]))
        assert backend.releases.largest > 1, "releases asked for at once went one by one"
        assert backend.acting_for() == set()
    with StateStore(db, owner="reader") as store:
        now = __import__("time").time()
        assert store.live_leases(now_s=now) == {"/theirs": "other"}


async def test_the_worker_keeps_the_order_calls_were_asked_in(tmp_path: Path) -> None:
    """Saves waiting together form one batch, but a plain call asked after them runs after them
    (it reads what they stored), and saves asked after it form the next batch."""
    async with SqliteBackend(tmp_path / "state.db", owner="me", lease_ttl_s=30) as backend:
        first = [asyncio.create_task(backend.save_intent(g, {"n": 1}, finished=False)) for g in GROUPS[:5]]
        read = asyncio.create_task(backend.active_intents())
        later = [asyncio.create_task(backend.save_intent(g, {"n": 2}, finished=False)) for g in GROUPS[:5]]
        await asyncio.gather(*first, *later)
        assert await read == {g: {"n": 1} for g in GROUPS[:5]}
        assert await backend.active_intents() == {g: {"n": 2} for g in GROUPS[:5]}


async def test_a_closed_backend_refuses_calls_instead_of_hanging(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "state.db", owner="me", lease_ttl_s=30)
    async with backend:
        await backend.save_intent("/a", {"n": 1}, finished=False)
    with pytest.raises(RuntimeError, match="stopped"):
        await backend.load_intent("/a")

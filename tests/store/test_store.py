"""StateStore on a real SQLite file: round-trips, leases between two owners, history, audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.adapters.store import (
    InvalidRecord,
    LeaseLost,
    RevisionConflict,
    StateStore,
    StoreError,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store_a(db: Path):
    with StateStore(db, owner="host-a:1:aaa") as store:
        yield store


@pytest.fixture
def store_b(db: Path, store_a: StateStore):
    with StateStore(db, owner="host-b:2:bbb") as store:
        yield store


def test_intent_round_trip_survives_reopen(db: Path) -> None:
    intent = {"phase": "draining", "green": "/web-abc", "batch": 2, "nested": {"tasks": ["t1", "t2"]}}
    with StateStore(db, owner="a") as store:
        assert store.load_intent("web") is None
        assert store.save_intent("web", intent, now_s=100.0) == 1
    with StateStore(db, owner="b") as store:
        assert store.load_intent("web") == intent
        record = store.load_intent_record("web")
        assert record is not None
        assert (record.revision, record.finished, record.updated_at, record.updated_by) == (
            1,
            False,
            100.0,
            "a",
        )


def test_active_intents_excludes_finished_and_deleted(store_a: StateStore) -> None:
    store_a.save_intent("web", {"phase": "deploying"}, now_s=1.0)
    store_a.save_intent("api", {"phase": "done"}, now_s=1.0, finished=True)
    store_a.save_intent("db", {"phase": "deploying"}, now_s=1.0)
    assert store_a.active_intents() == {"db": {"phase": "deploying"}, "web": {"phase": "deploying"}}
    store_a.delete_intent("db")
    assert store_a.active_intents() == {"web": {"phase": "deploying"}}
    assert store_a.load_intent("db") is None
    assert store_a.load_intent("api") == {"phase": "done"}


def test_revision_compare_and_set(store_a: StateStore) -> None:
    assert store_a.save_intent("web", {"v": 1}, now_s=1.0, expected_revision=0) == 1
    assert store_a.save_intent("web", {"v": 2}, now_s=2.0, expected_revision=1) == 2
    with pytest.raises(RevisionConflict) as info:
        store_a.save_intent("web", {"v": 3}, now_s=3.0, expected_revision=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert store_a.load_intent("web") == {"v": 2}


def test_update_intent_is_read_modify_write(store_a: StateStore) -> None:
    record = store_a.update_intent("web", lambda cur: {"n": (cur or {"n": 0})["n"] + 1}, now_s=1.0)
    assert record is not None and record.revision == 1 and record.intent == {"n": 1}
    record = store_a.update_intent("web", lambda cur: None, now_s=2.0)
    assert record is not None and record.revision == 1
    record = store_a.update_intent(
        "web", lambda cur: {**(cur or {}), "paused": True}, now_s=3.0, finished=True
    )
    assert record is not None and record.intent == {"n": 1, "paused": True} and record.finished
    assert store_a.active_intents() == {}


def test_update_intent_rolls_back_when_mutation_raises(store_a: StateStore) -> None:
    store_a.save_intent("web", {"n": 1}, now_s=1.0)

    def explode(_cur: dict | None) -> dict:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        store_a.update_intent("web", explode, now_s=2.0)
    assert store_a.load_intent_record("web").revision == 1  # type: ignore[union-attr]
    store_a.save_intent("web", {"n": 2}, now_s=3.0)  # the store is still usable


def test_lease_one_owner_at_a_time_then_takeover_after_expiry(
    store_a: StateStore, store_b: StateStore
) -> None:
    assert store_a.acquire_lease("web", ttl_s=10.0, now_s=100.0)
    assert not store_b.acquire_lease("web", ttl_s=10.0, now_s=105.0)
    assert store_b.lease_holder("web", now_s=105.0) == store_a.owner
    assert store_a.acquire_lease("web", ttl_s=10.0, now_s=106.0)  # renewal by the holder
    assert not store_b.acquire_lease("web", ttl_s=10.0, now_s=115.9)  # renewed until 116
    assert store_b.lease_holder("web", now_s=116.0) is None  # expired
    assert store_b.acquire_lease("web", ttl_s=10.0, now_s=116.0)  # takeover
    assert store_a.lease_holder("web", now_s=117.0) == store_b.owner
    assert store_a.renew_leases(ttl_s=10.0, now_s=117.0) == []
    assert not store_a.acquire_lease("web", ttl_s=10.0, now_s=117.0)


def test_save_intent_refused_while_another_owner_holds_the_lease(
    store_a: StateStore, store_b: StateStore
) -> None:
    store_a.save_intent("web", {"by": "a"}, now_s=1.0)
    assert store_b.acquire_lease("web", ttl_s=5.0, now_s=10.0)
    with pytest.raises(LeaseLost) as info:
        store_a.save_intent("web", {"by": "a-again"}, now_s=12.0)
    assert (info.value.group, info.value.holder) == ("web", store_b.owner)
    with pytest.raises(LeaseLost):
        store_a.update_intent("web", lambda cur: {"by": "a-rmw"}, now_s=12.0)
    with pytest.raises(LeaseLost):
        store_a.delete_intent("web", now_s=12.0)
    assert store_a.load_intent("web") == {"by": "a"}
    # an operator command may still change the intent; the holder's compare-and-set then fails
    store_a.update_intent("web", lambda cur: {**(cur or {}), "paused": True}, now_s=12.0, respect_lease=False)
    with pytest.raises(RevisionConflict):
        store_b.save_intent("web", {"by": "b"}, now_s=13.0, expected_revision=1)
    assert store_b.save_intent("web", {"by": "b"}, now_s=13.0, expected_revision=2) == 3
    # after expiry anyone may write again
    assert store_a.save_intent("web", {"by": "a-late"}, now_s=15.0) == 4


def test_renew_and_release(store_a: StateStore, store_b: StateStore) -> None:
    for group in ("api", "web", "db"):
        assert store_a.acquire_lease(group, ttl_s=10.0, now_s=0.0)
    assert store_b.acquire_lease("other", ttl_s=10.0, now_s=0.0)
    assert store_a.renew_leases(ttl_s=10.0, now_s=5.0) == ["api", "db", "web"]
    assert store_a.lease_holder("web", now_s=14.0) == store_a.owner  # renewed until 15
    store_a.release_lease("web")
    store_a.release_lease("other")  # not ours: no effect
    assert store_a.live_leases(now_s=6.0) == {
        "api": store_a.owner,
        "db": store_a.owner,
        "other": store_b.owner,
    }
    assert store_b.acquire_lease("web", ttl_s=10.0, now_s=6.0)
    assert store_a.release_all_leases() == ["api", "db"]
    assert store_a.live_leases(now_s=7.0) == {"other": store_b.owner, "web": store_b.owner}


def test_expired_lease_is_not_renewed(store_a: StateStore) -> None:
    assert store_a.acquire_lease("web", ttl_s=1.0, now_s=0.0)
    assert store_a.renew_leases(ttl_s=1.0, now_s=1.0) == []
    assert store_a.acquire_lease("web", ttl_s=1.0, now_s=1.0)  # re-acquire explicitly


def test_lease_ttl_must_be_positive(store_a: StateStore) -> None:
    with pytest.raises(ValueError, match="ttl_s must be > 0"):
        store_a.acquire_lease("web", ttl_s=0, now_s=0.0)


def _history(group: str, deployment_id: str, finished_at: float, **extra: object) -> dict:
    return {
        "group": group,
        "deployment_id": deployment_id,
        "outcome": "completed",
        "started_at": finished_at - 30.0,
        "finished_at": finished_at,
        "counts": {"green": 3, "blue_killed": 3},
        "reason": None,
        **extra,
    }


def test_history_newest_first_per_group_and_idempotent(store_a: StateStore) -> None:
    assert store_a.append_history(_history("web", "d1", 100.0))
    assert store_a.append_history(_history("api", "d2", 200.0, outcome="rolled_back", reason="unhealthy"))
    assert store_a.append_history(_history("web", "d3", 300.0))
    assert not store_a.append_history(_history("web", "d3", 300.0))  # same deployment: recorded once
    assert [h["deployment_id"] for h in store_a.list_history()] == ["d3", "d2", "d1"]
    assert [h["deployment_id"] for h in store_a.list_history("web")] == ["d3", "d1"]
    assert [h["deployment_id"] for h in store_a.list_history(limit=1)] == ["d3"]
    api = store_a.list_history("api")[0]
    assert api["outcome"] == "rolled_back" and api["reason"] == "unhealthy" and api["duration_s"] == 30.0
    assert api["counts"] == {"green": 3, "blue_killed": 3}


def test_history_rejects_incomplete_or_unserializable_records(store_a: StateStore, db: Path) -> None:
    record = _history("web", "d1", 100.0)
    del record["outcome"]
    with pytest.raises(InvalidRecord, match="history record lacks outcome") as info:
        store_a.append_history(record)
    assert str(db) in str(info.value)
    with pytest.raises(InvalidRecord, match="not JSON-serializable"):
        store_a.append_history(_history("web", "d1", 100.0, reason=object()))
    with pytest.raises(InvalidRecord, match="must be a JSON object"):
        store_a.save_intent("web", ["not", "a", "dict"], now_s=1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match="not JSON-serializable"):
        store_a.save_intent("web", {"x": float("nan")}, now_s=1.0)
    assert store_a.list_history() == [] and store_a.load_intent("web") is None


def test_claim_delivery_once_per_event_and_hook(store_a: StateStore, store_b: StateStore) -> None:
    assert store_a.claim_delivery("evt-1", "slack", now_s=10.0)
    assert not store_b.claim_delivery("evt-1", "slack", now_s=11.0)
    assert not store_a.claim_delivery("evt-1", "slack", now_s=12.0)
    assert store_b.claim_delivery("evt-1", "pagerduty", now_s=11.0)
    assert store_b.claim_delivery("evt-2", "slack", now_s=20.0)
    assert store_a.forget_deliveries(before_s=15.0) == 2
    assert store_a.claim_delivery("evt-1", "slack", now_s=30.0)  # forgotten claims can be made again
    assert not store_a.claim_delivery("evt-2", "slack", now_s=30.0)


def test_claim_survives_restart(db: Path) -> None:
    with StateStore(db, owner="first") as store:
        assert store.claim_delivery("evt-9", "hook", now_s=1.0)
    with StateStore(db, owner="second") as store:
        assert not store.claim_delivery("evt-9", "hook", now_s=2.0)


def test_audit_log_newest_first(store_a: StateStore, store_b: StateStore) -> None:
    store_a.record_command("web", "pause", source="cli", now_s=1.0)
    store_b.record_command("web", "promote", source="api:10.0.0.5", now_s=2.0)
    store_a.record_command("api", "abort", source="cli", now_s=3.0)
    assert [c["command"] for c in store_a.list_commands()] == ["abort", "promote", "pause"]
    assert store_b.list_commands("web", limit=1) == [
        {"group": "web", "command": "promote", "source": "api:10.0.0.5", "at": 2.0, "owner": store_b.owner}
    ]


def test_open_close_idempotent_and_use_after_close(db: Path) -> None:
    store = StateStore(db, owner="a")
    store.open()
    store.open()
    assert store.is_open
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="not open"):
        store.load_intent("web")


async def test_async_context_manager(db: Path) -> None:
    async with StateStore(db, owner="a") as store:
        store.save_intent("web", {"x": 1}, now_s=1.0)
    assert not store.is_open
    async with StateStore(db, owner="b") as store:
        assert store.load_intent("web") == {"x": 1}


def test_owner_is_required(db: Path) -> None:
    with pytest.raises(ValueError, match="owner"):
        StateStore(db, owner="")


def test_busy_store_gives_one_clear_error(db: Path) -> None:
    import sqlite3

    with StateStore(db, owner="a", busy_timeout_s=0.05) as store:
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked") as info:
                store.save_intent("web", {"x": 1}, now_s=1.0)
            assert str(db) in str(info.value)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        store.save_intent("web", {"x": 1}, now_s=1.0)
        assert store.load_intent("web") == {"x": 1}

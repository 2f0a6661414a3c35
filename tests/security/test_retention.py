"""Retention on a real SQLite file: history beyond history_max per group or older than
history_days goes with its deployment's delivery records; old claims and commands go; intents
stay. Also the periodic pass (housekeeping.prune_forever) and the allow-lists."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reactor.adapters.store.sqlite import StateStore
from reactor.adapters.store.sqlite_backend import SqliteBackend
from reactor.core.allowlist import backend_refusal, group_refusal, name_allowed
from reactor.engine.housekeeping import prune_forever, prune_once
from reactor.settings import Settings

DAY = 86400.0
NOW = 1_800_000_000.0


def record(group: str, n: int, finished_at: float | str) -> dict:
    return {"group": group, "deployment_id": f"{group}-d{n}", "outcome": "completed",
            "finished_at": finished_at}


@pytest.fixture
def store(tmp_path: Path):
    with StateStore(tmp_path / "s.db", owner="test") as s:
        yield s


def test_history_beyond_max_goes_with_its_delivery_records(store: StateStore) -> None:
    for n in range(5):
        store.append_history(record("web", n, NOW - 10 + n))
        store.claim_delivery(f"web-d{n}:deployment.completed:1", "hook-a", now_s=NOW)
    store.append_history(record("db", 0, NOW))
    store.claim_delivery("db-d0:deployment.started:1", "hook-a", now_s=NOW)
    store.claim_delivery("web-d10:x:1", "hook-a", now_s=NOW)  # a prefix of no pruned deployment
    store.save_intent("web", {"phase": "x"}, now_s=NOW)
    got = store.prune(keep_per_group=2, before_s=None, now_s=NOW)
    assert got == {"history": 3, "deliveries": 3, "commands": 0}
    assert [h["deployment_id"] for h in store.list_history("web")] == ["web-d4", "web-d3"]
    assert [h["deployment_id"] for h in store.list_history("db")] == ["db-d0"]
    assert not store.claim_delivery("web-d4:deployment.completed:1", "hook-a", now_s=NOW)  # kept
    assert not store.claim_delivery("web-d10:x:1", "hook-a", now_s=NOW)  # kept
    assert store.claim_delivery("web-d0:deployment.completed:1", "hook-a", now_s=NOW)  # was pruned
    assert store.load_intent("web") == {"phase": "x"}
    assert store.prune(keep_per_group=2, before_s=None, now_s=NOW)["history"] == 0  # idempotent


def test_history_claims_and_commands_older_than_the_cutoff(store: StateStore) -> None:
    old_iso = datetime.fromtimestamp(NOW - 100 * DAY, UTC).isoformat()
    store.append_history(record("web", 0, old_iso))  # as the engine writes it: ISO-8601
    store.append_history(record("web", 1, NOW - 100 * DAY))  # or epoch seconds
    store.append_history(record("web", 2, datetime.fromtimestamp(NOW - DAY, UTC).isoformat()))
    store.claim_delivery("other:e:1", "h", now_s=NOW - 100 * DAY)
    store.record_command("web", "pause", source="cli", now_s=NOW - 100 * DAY)
    store.record_command("web", "resume", source="cli", now_s=NOW - DAY)
    got = store.prune(keep_per_group=0, before_s=NOW - 90 * DAY, now_s=NOW)
    assert got == {"history": 2, "deliveries": 1, "commands": 1}
    assert [h["deployment_id"] for h in store.list_history("web")] == ["web-d2"]
    assert [c["command"] for c in store.list_commands("web")] == ["resume"]


async def test_backend_prune_and_the_periodic_pass(tmp_path: Path) -> None:
    settings = Settings.model_validate({"state": {"history_max": 1, "history_days": 0}})
    async with SqliteBackend(tmp_path / "b.db", owner="o", lease_ttl_s=5, wall=lambda: NOW) as backend:
        for n in range(3):
            await backend.append_history(record("web", n, NOW))
        assert await prune_once(backend, settings) == {"history": 2, "deliveries": 0, "commands": 0}
        for n in range(3, 6):
            await backend.append_history(record("web", n, NOW))
        passes: list[float] = []

        async def sleep(seconds: float) -> None:  # a plain fake clock's sleep: stops after 2 passes
            passes.append(seconds)
            if len(passes) == 2:
                raise StopAsyncIteration

        with pytest.raises(StopAsyncIteration):
            await prune_forever(backend, settings, clock=lambda: 100.0, interval_s=60.0, sleep=sleep)
        assert passes == [60.0, 60.0]
        assert [h["deployment_id"] for h in await backend.list_history("web")] == ["web-d5"]


async def test_a_failing_prune_is_logged_not_raised(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "never-opened.db", owner="o", lease_ttl_s=5)
    assert await prune_once(backend, Settings()) is None


def test_allow_lists() -> None:
    assert name_allowed("anything", [])
    assert name_allowed("web-eu", ["db", "web-*"]) and not name_allowed("Web-eu", ["web-*"])
    assert group_refusal("web", ["web"]) is None
    refusal = group_refusal("payments", ["web-*", "db"])
    assert refusal is not None and "payments" in refusal and "allowed_groups" in refusal
    assert backend_refusal("be_web", []) is None
    refusal = backend_refusal("stats", ["be_*"])
    assert refusal is not None and "allowed_backends" in refusal

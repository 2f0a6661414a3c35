"""The embedded Marathon's per-write shortcuts give what the plain code gave: timestamps formatted
once per second, JSON copies instead of `copy.deepcopy`, a plan's affected apps kept until its
steps change, and wake-ups of deployments for their own app only (plus changes of no app)."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime

from reactor.localmarathon.cluster import Notifier
from reactor.localmarathon.deployments import Action, ActionKind, Plan
from reactor.localmarathon.model import APP_DEFAULTS, format_ms, json_copy


def reference_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def test_format_ms_matches_strftime_across_seconds_in_any_order() -> None:
    base = 1_796_035_990_000
    samples = [base + d for d in (0, 1, 999, 1000, 1001, 59_999, 60_000, 86_399_999, 86_400_000)]
    for ms in [*samples, *reversed(samples), 0, 999, 1000]:  # a cached second must never leak
        assert format_ms(ms) == reference_ms(ms)


def test_json_copy_equals_deepcopy_and_shares_no_container() -> None:
    defn = {**copy.deepcopy(APP_DEFAULTS), "id": "/a", "labels": {"K": "v"},
            "healthChecks": [{"path": "/h", "portIndex": 0}], "portDefinitions": [{"port": 0}],
            "nested": ({"in": [1, 2]},), "n": None, "f": 1.5, "b": True}
    out = json_copy(defn)
    assert out == copy.deepcopy(defn)

    def containers(value: object) -> list[int]:
        if isinstance(value, dict):
            return [id(value), *(i for v in value.values() for i in containers(v))]
        if isinstance(value, list | tuple):
            return [id(value), *(i for v in value for i in containers(v))]
        return []

    mutable = {i for i in containers(defn)} - {id(v) for v in [defn["nested"]]}
    assert mutable.isdisjoint(containers(out))
    out["healthChecks"][0]["path"] = "/changed"
    out["nested"][0]["in"].append(3)
    assert defn["healthChecks"][0]["path"] == "/h" and defn["nested"][0]["in"] == [1, 2]


def test_affected_apps_follow_a_replaced_step_list() -> None:
    plan = Plan("p", "v", [[Action(ActionKind.SCALE, "/b"), Action(ActionKind.SCALE, "/a")]], {})
    assert plan.affected_apps == ["/a", "/b"]
    assert plan.affected_apps is plan.affected_apps  # kept while the steps stay
    plan.steps = [[Action(ActionKind.RESTART, "/c")]]
    assert plan.affected_apps == ["/c"]


async def _spin(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_waiter_for_one_app_sleeps_through_other_apps_changes() -> None:
    changed = Notifier()
    waiter = asyncio.create_task(changed.wait(60, "/a"))
    anything = asyncio.create_task(changed.wait(60))
    await _spin()
    changed.notify("/b")
    await _spin()
    assert anything.done(), "a waiter for any change wakes on every app's"
    assert not waiter.done(), "woken by another app's change"
    changed.notify("/a")
    await asyncio.wait_for(waiter, 5)


async def test_a_change_of_no_app_wakes_every_waiter() -> None:
    changed = Notifier()
    waiters = [asyncio.create_task(changed.wait(60, app)) for app in ("/a", "/b", None)]
    await _spin()
    assert not any(w.done() for w in waiters)
    changed.notify()
    await asyncio.wait_for(asyncio.gather(*waiters), 5)


async def test_a_wait_still_ends_at_its_timeout() -> None:
    changed = Notifier()
    await asyncio.wait_for(changed.wait(0.01, "/a"), 5)  # returns, no exception

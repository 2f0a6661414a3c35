"""WorkQueue: de-duplication, per-key serialization, parallel keys, requeue-after, backoff, stop."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from reactor.engine.workqueue import TerminalError, Trigger, WorkQueue
from tests.workqueue.recorder import Recorder, eventually


def idle(q: WorkQueue, *keys: str) -> bool:
    """Nothing queued, running or scheduled: no further run can happen without a new add."""
    return len(q) == 0 and q.in_flight == 0 and all(q.due_in(k) is None for k in keys)


async def test_adds_while_queued_collapse_into_one_run() -> None:
    rec = Recorder()
    q = WorkQueue(rec, max_workers=1)
    for _ in range(100):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    async with q:
        await eventually(lambda: rec.finished["b"] == 1, "b ran")
        assert idle(q, "a", "b")
    assert dict(rec.runs) == {"a": 1, "b": 1}


@pytest.mark.parametrize("max_workers", [1, 4])
async def test_adds_during_a_run_cause_exactly_one_more_run(max_workers: int) -> None:
    rec = Recorder()
    gate = rec.gate("a")
    async with WorkQueue(rec, max_workers=max_workers) as q:
        q.add("a")
        await eventually(lambda: rec.runs["a"] == 1, "first run started")
        for _ in range(100):
            q.add("a")
        assert len(q) == 1 and q.in_flight == 1
        gate.set()
        await eventually(lambda: rec.finished["a"] == 2, "second run finished")
        assert idle(q, "a")
    assert rec.runs["a"] == 2
    assert rec.max_active["a"] == 1


async def test_keys_run_in_parallel_but_a_key_never_runs_twice_at_once() -> None:
    rec = Recorder()
    keys = ("a", "b", "c")
    gates = [rec.gate(k) for k in keys]
    async with WorkQueue(rec, max_workers=4) as q:
        for k in keys:
            q.add(k)
        # all three handlers are inside their run at the same moment: that is parallelism
        await eventually(lambda: rec.total_active == 3, "three keys running together")
        for _ in range(10):
            for k in keys:
                q.add(k)
        assert q.in_flight == 3 and len(q) == 3
        for g in gates:
            g.set()
        await eventually(lambda: all(rec.finished[k] == 2 for k in keys), "second runs finished")
        assert idle(q, *keys)
    assert rec.peak_total_active == 3
    assert {k: rec.max_active[k] for k in keys} == dict.fromkeys(keys, 1)
    assert {k: rec.runs[k] for k in keys} == dict.fromkeys(keys, 2)


async def test_max_workers_bounds_parallelism() -> None:
    rec = Recorder()
    gates = {k: rec.gate(k) for k in ("a", "b", "c")}
    rec.gate("c").set()
    async with WorkQueue(rec, max_workers=2) as q:
        for k in ("a", "b", "c"):
            q.add(k)
        await eventually(lambda: rec.runs["a"] == 1 and rec.runs["b"] == 1, "a and b running")
        assert rec.runs["c"] == 0 and len(q) == 1
        gates["a"].set()
        await eventually(lambda: rec.finished["c"] == 1, "c ran")
        assert rec.log.index(("start", "c")) > rec.log.index(("end", "a"))
        gates["b"].set()
    assert rec.peak_total_active == 2


async def test_add_after_fires_in_due_order() -> None:
    rec = Recorder()
    async with WorkQueue(rec, max_workers=1) as q:
        q.add_after("late", 0.05)
        q.add_after("early", 0.01)
        await eventually(lambda: rec.finished["late"] == 1, "late ran")
    assert [k for event, k in rec.log if event == "start"] == ["early", "late"]


async def test_add_after_earliest_wins() -> None:
    rec = Recorder()
    async with WorkQueue(rec) as q:
        q.add_after("k", 30.0)
        q.add_after("k", 0.01)  # earlier: replaces the 30 s timer
        q.add_after("j", 0.01)
        q.add_after("j", 30.0)  # later: ignored
        due_j = q.due_in("j")
        assert due_j is not None and due_j <= 0.01
        await eventually(lambda: rec.finished["k"] == 1 and rec.finished["j"] == 1, "k and j ran")
        assert idle(q, "k", "j")  # no 30 s timer is left behind
    assert dict(rec.runs) == {"k": 1, "j": 1}


async def test_a_run_drops_the_timer_pending_for_its_key() -> None:
    """The handler says when it wants its key again: a timer set before the run (an earlier
    requeue, a batched mark) would only add a run with nothing new to see."""
    rec = Recorder()
    async with WorkQueue(rec, max_workers=1) as q:
        q.add_after("a", 30.0)
        q.add_after("b", 30.0)
        q.add("a")
        await eventually(lambda: rec.finished["a"] == 1, "a ran")
        assert q.due_in("a") is None, "the 30 s timer of a outlived its run"
        b_due = q.due_in("b")
        assert b_due is not None and b_due > 29  # another key's timer is left alone
    assert dict(rec.runs) == {"a": 1}


async def test_add_after_remembers_its_trigger_for_the_run_it_causes() -> None:
    rec = Recorder()
    async with WorkQueue(rec, clock=lambda: 7.0) as q:
        q.add_after("a", 0.01, trigger="instance_health_changed_event", at=5.0)
        assert len(q) == 0 and q.pending_trigger("a") == Trigger("instance_health_changed_event", 5.0)
        q.add_after("b", 0.01, trigger="status_update_event")  # timed by the clock when not given
        await eventually(lambda: rec.finished["a"] == 1 and rec.finished["b"] == 1, "both ran")
    assert rec.triggers["a"] == [Trigger("instance_health_changed_event", 5.0)]
    assert rec.triggers["b"] == [Trigger("status_update_event", 7.0)]


async def test_add_after_before_run_and_non_positive_delay() -> None:
    rec = Recorder()
    q = WorkQueue(rec)
    q.add_after("delayed", 0.01)
    q.add_after("now", 0)
    due = q.due_in("delayed")
    assert due is not None and 0 < due <= 0.01 and len(q) == 1
    async with q:
        await eventually(lambda: rec.finished["delayed"] == 1 and rec.finished["now"] == 1, "both ran")


def test_add_after_without_a_running_loop_is_scheduled_by_run() -> None:
    rec = Recorder()
    q = WorkQueue(rec)  # built in sync code, as an entry point may do
    q.add_after("k", 0.02)
    q.add_after("k", 0.01)  # earliest wins here too
    assert q.due_in("k") == 0.01

    async def main() -> None:
        async with q:
            await eventually(lambda: rec.finished["k"] == 1, "k ran")
            assert idle(q, "k")

    asyncio.run(main())
    assert rec.runs["k"] == 1


async def test_handler_requeue_after_runs_the_key_again() -> None:
    rec = Recorder()
    rec.results["a"] = [0.01, None]
    async with WorkQueue(rec) as q:
        q.add("a")
        await eventually(lambda: rec.finished["a"] == 2, "requeued run finished")
        assert idle(q, "a")
    assert rec.runs["a"] == 2


async def test_handler_errors_are_retried_with_capped_backoff() -> None:
    rec = Recorder()
    rec.results["a"] = [ValueError("one"), ValueError("two"), ValueError("three"), None, ValueError("four")]
    with capture_logs() as logs:
        async with WorkQueue(rec, max_workers=1, backoff_base_s=0.001, backoff_max_s=0.002) as q:
            q.add("a", trigger="status_update_event", at=1.0)
            await eventually(lambda: rec.finished["a"] == 4, "fourth (successful) run")
            q.add("b")  # the loop survived: other keys still run
            await eventually(lambda: rec.finished["b"] == 1, "b ran")
            assert idle(q, "a", "b")
            q.add("a")  # a failure after a success starts the backoff again at the base
            await eventually(lambda: rec.finished["a"] == 6, "retry of the failed fifth run")
    retries = [e["retry_in_s"] for e in logs if e["event"] == "handler failed; retrying"]
    assert retries == [0.001, 0.002, 0.002, 0.001]
    assert all(e["log_level"] == "error" and e["key"] == "a" for e in logs if "retry_in_s" in e)
    # the failed runs did not react to the trigger: each retry is handed it again
    assert rec.triggers["a"][:4] == [Trigger("status_update_event", 1.0)] * 4
    assert rec.triggers["a"][4:] == [None, None]


async def test_terminal_error_is_not_retried() -> None:
    rec = Recorder()
    rec.results["a"] = [TerminalError("bad app definition")]
    with capture_logs() as logs:
        async with WorkQueue(rec, backoff_base_s=0.001) as q:
            q.add("a")
            await eventually(lambda: rec.finished["a"] == 1, "a ran")
            assert idle(q, "a")
    assert rec.runs["a"] == 1
    assert any(e["event"] == "handler failed; not retried (terminal)" for e in logs)


async def test_a_non_number_requeue_is_logged_not_fatal() -> None:
    rec = Recorder()
    rec.results["a"] = ["soon"]
    with capture_logs() as logs:
        async with WorkQueue(rec, max_workers=1) as q:
            q.add("a")
            q.add("b")
            await eventually(lambda: rec.finished["b"] == 1, "b ran after a")
            assert idle(q, "a", "b")
    assert any(e["event"] == "handler returned a non-number as requeue-after" for e in logs)


async def test_earliest_trigger_is_handed_to_the_next_run() -> None:
    rec = Recorder()
    gate = rec.gate("a")
    q = WorkQueue(rec, clock=lambda: 42.0)
    q.add("a", trigger="status_update_event", at=5.0)
    q.add("a", trigger="health_status_changed_event", at=3.0)
    q.add("a", trigger="drain.drained", at=9.0)
    q.add("a")
    assert q.pending_trigger("a") == Trigger("health_status_changed_event", 3.0)
    async with q:
        await eventually(lambda: rec.runs["a"] == 1, "first run")
        assert q.pending_trigger("a") is None  # handed over
        q.add("a", trigger="resync")  # during the run: for the next one, timed by the clock
        gate.set()
        await eventually(lambda: rec.finished["a"] == 2, "second run")
        q.add("a")
        await eventually(lambda: rec.finished["a"] == 3, "third run")
    assert rec.triggers["a"] == [Trigger("health_status_changed_event", 3.0), Trigger("resync", 42.0), None]


async def test_stop_without_grace_cancels_running_handlers_and_drops_queued_keys() -> None:
    rec = Recorder()
    rec.gate("a")
    q = WorkQueue(rec, max_workers=1)
    runner = asyncio.create_task(q.run())
    q.add("a")
    q.add("b")
    q.add_after("c", 0.01)
    await eventually(lambda: rec.runs["a"] == 1, "a running")
    await q.stop(grace_s=0)
    assert runner.done() and runner.exception() is None
    assert ("cancelled", "a") in rec.log
    assert rec.runs["b"] == 0 and rec.runs["c"] == 0
    assert q.due_in("c") is None
    await q.stop()  # idempotent
    assert len(q) == 0  # queued keys were dropped
    q.add("d")  # ignored after stop
    q.add_after("d", 0.01)
    assert len(q) == 0 and q.due_in("d") is None


async def test_stop_with_grace_lets_running_handlers_finish() -> None:
    rec = Recorder()
    gate = rec.gate("a")
    q = WorkQueue(rec, max_workers=1)
    runner = asyncio.create_task(q.run())
    q.add("a")
    q.add("b")
    await eventually(lambda: rec.runs["a"] == 1, "a running")
    stopping = asyncio.create_task(q.stop(grace_s=5.0))
    await eventually(lambda: q.stopping, "stop requested")
    gate.set()
    await stopping
    assert runner.done()
    assert ("end", "a") in rec.log and ("cancelled", "a") not in rec.log
    assert rec.runs["b"] == 0  # no new run starts once stopping


async def test_cancelling_run_cancels_handlers() -> None:
    rec = Recorder()
    rec.gate("a")
    q = WorkQueue(rec)
    runner = asyncio.create_task(q.run())
    q.add("a")
    await eventually(lambda: rec.runs["a"] == 1, "a running")
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert ("cancelled", "a") in rec.log
    await q.stop()  # returns at once: run() has finished


async def test_run_twice_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        WorkQueue(Recorder(), max_workers=0)
    with pytest.raises(ValueError, match="backoff"):
        WorkQueue(Recorder(), backoff_base_s=2.0, backoff_max_s=1.0)
    q = WorkQueue(Recorder())
    await q.stop()  # never started
    with pytest.raises(RuntimeError, match="stopped"):
        await q.run()

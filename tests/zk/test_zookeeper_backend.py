"""The ZooKeeper backend against a real standalone ZooKeeper (tests/zookeeper.py).

Leases with fencing (contention, takeover after the holder dies, SUSPENDED, SIGSTOP past the
session, ZooKeeper restarted) and state (intents, history retention, delivery claims, commands,
the 1 MB znode limit). Session timeouts are short so expiry is quick.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kazoo.protocol.states import KazooState

from reactor.adapters.store import zookeeper_multiread as mr
from reactor.adapters.store.backend import Coordination, StateBackend
from reactor.adapters.store.errors import InvalidRecord, LeaseLost, StoreError
from reactor.adapters.store.factory import build_backend
from reactor.adapters.store.zookeeper_backend import ZooKeeperBackend
from tests.waiting import wait_until
from tests.zookeeper import ZooKeeperServer

SESSION_S = 1.5
ROOT = Path(__file__).resolve().parents[2]


def sent(b: ZooKeeperBackend) -> int:
    """Requests `b` sent to ZooKeeper, its heartbeats (on their own timer) left out."""
    return b._session.ops - b._session.beats


def backend(zk: ZooKeeperServer, owner: str, session_s: float = SESSION_S) -> ZooKeeperBackend:
    return ZooKeeperBackend(zk.hosts, owner=owner, root="/bluegreen", session_timeout_s=session_s)


@pytest.fixture
async def pair(zookeeper: ZooKeeperServer) -> AsyncIterator[tuple[ZooKeeperBackend, ZooKeeperBackend]]:
    # nothing expires in these tests: a longer session keeps trust robust on a loaded machine
    async with backend(zookeeper, "a", session_s=5.0) as a, backend(zookeeper, "b", session_s=5.0) as b:
        yield a, b


async def test_factory_builds_a_backend_satisfying_both_protocols(zookeeper: ZooKeeperServer,
                                                                  tmp_path: Path) -> None:
    built = build_backend("zookeeper", owner="x", state_path=tmp_path / "unused.db", lease_ttl_s=5,
                          zk_hosts=zookeeper.hosts, zk_root="/r", session_timeout_s=SESSION_S)
    assert isinstance(built, ZooKeeperBackend)
    assert isinstance(built, Coordination) and isinstance(built, StateBackend)
    async with built:
        assert await built.acquire("/g") and built.acting_for() == {"/g"}


async def test_two_backends_contend_one_acts_and_release_hands_over(
        pair: tuple[ZooKeeperBackend, ...]) -> None:
    a, b = pair
    assert await a.acquire("/prod/web")
    assert not await b.acquire("/prod/web")
    assert a.may_act("/prod/web") and await a.confirm("/prod/web")
    assert not b.may_act("/prod/web") and not await b.confirm("/prod/web")
    assert await b.holder("/prod/web") == "a" and b.acting_for() == set()
    assert await a.acquire("/prod/web"), "keeping a held lease answers True"
    assert await b.acquire("/prod/api"), "groups are independent"
    await a.release("/prod/web")
    assert not a.may_act("/prod/web")
    assert await b.acquire("/prod/web") and b.acting_for() == {"/prod/web", "/prod/api"}


async def test_heartbeats_keep_an_idle_holder_trusted_past_the_session(zookeeper: ZooKeeperServer) -> None:
    lost: list[set[str]] = []
    async with backend(zookeeper, "a", session_s=2.0) as a:
        a.on_lost(lost.append)
        assert await a.acquire("/g")
        ops = a._session.ops
        await wait_until(lambda: a._session.ops >= ops + 8, what="heartbeats over two sessions")
        await wait_until(lambda: a.may_act("/g"), what="trusted (heartbeats answered)")
        assert await a.confirm("/g") and a.ok and lost == []


async def test_intent_is_fenced_by_the_lease(pair: tuple[ZooKeeperBackend, ...]) -> None:
    a, b = pair
    with pytest.raises(LeaseLost, match="held by nobody"):  # only a holder saves, even when free
        await a.save_intent("/g", {"step": 0}, finished=False)
    assert await a.acquire("/g")
    await a.save_intent("/g", {"step": 1}, finished=False)
    with pytest.raises(LeaseLost):
        await b.save_intent("/g", {"step": "b"}, finished=False)
    assert await b.load_intent("/g") == {"step": 1}
    assert await b.active_intents() == {"/g": {"step": 1}}
    await a.save_intent("/g", {"step": 2}, finished=True)
    assert await b.active_intents() == {} and await b.load_intent("/g") == {"step": 2}


async def test_first_save_of_a_group_read_absent_is_one_round_trip(
        pair: tuple[ZooKeeperBackend, ...]) -> None:
    """A group whose intent was read as absent is created in one transaction (not set, fail,
    parent, create); the knowledge is a hint only: an intent written meanwhile by another
    process, or a root removed under us, still ends stored."""
    a, b = pair
    assert await a.acquire("/warm")
    await a.save_intent("/warm", {"step": 0}, finished=False)  # the process's first: makes the parent
    assert await a.acquire("/new") and await a.load_intent("/new") is None
    ops = sent(a)
    await a.save_intent("/new", {"step": 1}, finished=False)
    assert sent(a) - ops == 1 and await b.load_intent("/new") == {"step": 1}
    ops = sent(a)
    await a.save_intent("/new", {"step": 2}, finished=False)
    assert sent(a) - ops == 1 and await b.load_intent("/new") == {"step": 2}
    # read absent by `a`, then created by `b` while it held the lease: a's create fails, set wins
    assert await a.load_intent("/other") is None
    assert await b.acquire("/other")
    await b.save_intent("/other", {"by": "b"}, finished=False)
    await b.release("/other")
    assert await a.acquire("/other")
    await a.save_intent("/other", {"by": "a"}, finished=False)
    assert await b.load_intent("/other") == {"by": "a"}
    # the whole root removed under a process that had made it: the first save fails, the next works
    assert await a.acquire("/third") and await a.load_intent("/third") is None
    await asyncio.to_thread(a._session.client.delete, "/bluegreen/intents", recursive=True)
    with pytest.raises(StoreError):
        await a.save_intent("/third", {"step": 1}, finished=False)
    await a.save_intent("/third", {"step": 1}, finished=False)
    assert await b.load_intent("/third") == {"step": 1}


async def test_call_many_answers_each_call_in_order_with_its_value_or_its_error(
        pair: tuple[ZooKeeperBackend, ...]) -> None:
    from kazoo.exceptions import NoNodeError
    a, _ = pair
    zk = a._session.client
    await asyncio.to_thread(zk.ensure_path, "/bluegreen/cm")
    await asyncio.to_thread(zk.create, "/bluegreen/cm/x", b"one")
    ops = sent(a)
    got = await a._session.call_many([
        lambda: zk.get_async("/bluegreen/cm/x"), lambda: zk.get_children_async("/bluegreen/cm"),
        lambda: zk.get_async("/bluegreen/cm/missing"), lambda: zk.exists_async("/bluegreen/cm/x")])
    assert got[0][0] == b"one" and got[1] == ["x"] and got[3] is not None
    assert isinstance(got[2], NoNodeError)  # returned, not raised: the others still answer
    assert sent(a) == ops + 4


async def test_multi_read_answers_every_read_in_one_request(pair: tuple[ZooKeeperBackend, ...]) -> None:
    """ZooKeeper 3.8 takes multiRead (asked at connect): listings and data reads in one request,
    each answered in order, a missing znode as its own NoNodeError. Read one by one (a server
    before 3.6), the answers are the same."""
    from kazoo.exceptions import NoNodeError
    a, _ = pair
    assert a._session.multi_read is True
    zk = a._session.client
    await asyncio.to_thread(zk.create, "/bluegreen/mr/x", b"one", makepath=True)
    await asyncio.to_thread(zk.create, "/bluegreen/mr/y", b"", makepath=True)
    reads = [("children", "/bluegreen/mr"), ("data", "/bluegreen/mr/x"), ("data", "/bluegreen/mr/none"),
             ("children", "/bluegreen/none"), ("data", "/bluegreen/mr/y")]
    answers = {}
    for multi in (True, False):
        a._session.multi_read = multi
        ops = sent(a)
        (exists,), got = await a._session.call_with_reads(
            [lambda: zk.exists_async("/bluegreen/mr/x")], reads)
        assert sent(a) - ops == (2 if multi else 1 + len(reads))
        assert exists is not None and sorted(got[0]) == ["x", "y"]
        assert got[1][0] == b"one" and got[1][1].version == 0 and got[4][0] == b""
        assert isinstance(got[2], NoNodeError) and isinstance(got[3], NoNodeError)
        answers[multi] = [sorted(g) if i == 0 else g if isinstance(g, tuple) else type(g)
                          for i, g in enumerate(got)]
    assert answers[True] == answers[False]


def test_multi_read_is_taken_from_3_6_on_as_the_srvr_answer_says() -> None:
    assert mr.takes_multi_read("Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, "
                               "built on 2022-02-25 08:49 UTC\nLatency min/avg/max: 0/0.0/0\n")
    assert mr.takes_multi_read("Zookeeper version: 3.6.0--1, built on 02/25/2020 14:38 GMT")
    assert mr.takes_multi_read("Zookeeper version: 4.0.0-x, built on …")
    assert not mr.takes_multi_read("Zookeeper version: 3.5.9-83df9301aa5c2a5d284a9940177808c01bc35cef")
    assert not mr.takes_multi_read("Zookeeper version: 3.4.14-4c25d480e66aadd371de8bd2fd8da255ac140bcf, "
                                   "built on 03/06/2019 16:18 GMT")
    assert not mr.takes_multi_read("srvr is not executed because it is not in the whitelist.\n")
    assert not mr.takes_multi_read("")


async def test_claims_read_one_by_one_from_a_server_before_3_6(pair: tuple[ZooKeeperBackend, ...]) -> None:
    """A server whose `srvr` names a version before 3.6 gets no multiRead (it would answer out of
    turn and break kazoo's connection): claims read one by one and give the same answers. (ZooKeeper
    3.5 and later answer `srvr` whatever their whitelist; 3.4 without it counts as old.)"""
    a, _ = pair
    groups = [f"/q{i}" for i in range(3)]
    assert await asyncio.gather(*(a.claim(g) for g in groups)) == [(True, None)] * 3
    await a.save_intent("/q1", {"step": 1}, finished=False)
    await asyncio.gather(*(a.release(g) for g in groups))
    a._session.multi_read = False  # as `probe_multi_read` leaves it for a 3.4 or 3.5 server
    ops = sent(a)
    got = await asyncio.gather(*(a.claim(g) for g in groups))
    assert got == [(True, None), (True, {"step": 1}), (True, None)]
    assert sent(a) - ops == 1 + 2 * len(groups)  # the creates, then each read alone


async def test_claims_asked_for_together_create_their_leases_in_one_transaction(
        pair: tuple[ZooKeeperBackend, ...]) -> None:
    """Claims asked for at once: their lease nodes in one ZooKeeper transaction, then every
    listing and intent read at once. Each gets its own answer: the intent stored before, a group
    held by another refused alone (no node of ours left behind); groups claimed for the first
    time ever (no lease parent yet: the transaction is refused) are claimed one by one."""
    a, b = pair
    groups = [f"/m{i}" for i in range(8)]
    got = await asyncio.gather(*(a.claim(g) for g in groups))  # first ever: parents are made
    assert got == [(True, None)] * 8 and a.acting_for() == set(groups)
    for g in groups[:4]:
        await a.save_intent(g, {"g": g}, finished=False)
    await asyncio.gather(*(a.release(g) for g in groups))
    assert await b.claim("/m7") == (True, None)
    batches, ops = a.claims.batches, sent(a)
    got = await asyncio.gather(*(a.claim(g) for g in groups))
    assert got == [(True, {"g": g}) for g in groups[:4]] + [(True, None)] * 3 + [(False, None)]
    assert a.claims.largest == len(groups) and a.claims.batches - batches == 1
    assert sent(a) - ops == 3  # the creates, the reads (one multiRead), /m7's node deleted
    assert a.acting_for() == set(groups[:7]) and b.acting_for() == {"/m7"}
    nodes = await asyncio.to_thread(a._session.client.get_children, a._layout.lease_dir("/m7"))
    assert len(nodes) == 1, nodes  # b's only: a's refused node was deleted
    for g in groups[:7]:  # what a holds is really a's: a fenced save of each goes through
        await a.save_intent(g, {"g": g, "again": True}, finished=False)
    with pytest.raises(LeaseLost):
        await a.save_intent("/m7", {"no": 1}, finished=False)


async def test_claim_takes_the_lease_and_reads_what_the_holder_before_stored(
        pair: tuple[ZooKeeperBackend, ...]) -> None:
    """`claim` sends the lease node, the listing and the intent read at once (one session's
    requests are answered in order): it gets the intent the previous holder saved last, refuses
    while another holds the lease, and works for a group whose lease parent does not exist yet."""
    a, b = pair
    assert await a.claim("/c") == (True, None)  # a new group: the listing came before its parent
    await a.save_intent("/c", {"step": 1}, finished=False)
    assert await b.claim("/c") == (False, None) and not b.may_act("/c")
    assert await a.claim("/c") == (True, {"step": 1})  # held already: confirmed, then read
    await a.save_intent("/c", {"step": 2}, finished=False)
    await a.release("/c")
    assert await b.claim("/c") == (True, {"step": 2}) and b.may_act("/c")
    assert b.acting_for() == {"/c"} and await a.claim("/c") == (False, None)
    assert await b.holder("/c") == "b"
    children = await asyncio.to_thread(b._session.client.get_children, "/bluegreen/leases")
    assert len(children) == 1  # the refused claims left no lease node behind
    nodes = await asyncio.to_thread(b._session.client.get_children, f"/bluegreen/leases/{children[0]}")
    assert len(nodes) == 1, nodes


async def test_saves_asked_for_together_go_in_one_transaction_each_still_fenced(
        pair: tuple[ZooKeeperBackend, ...]) -> None:
    """Group commit: saves of held groups asked for while one is being written share one multi
    (each with the check of its own lease). A group whose lease znode vanished fails alone with
    LeaseLost; the others of the same batch are stored."""
    a, b = pair
    groups = [f"/batch{i}" for i in range(6)]
    for g in groups:
        assert await a.acquire(g) and await a.load_intent(g) is None
    assert await a.acquire("/batch-warm")
    await a.save_intent("/batch-warm", {"step": 0}, finished=False)  # makes the intents parent
    ops = sent(a)
    await asyncio.gather(*(a.save_intent(g, {"step": 1, "g": g}, finished=False) for g in groups))
    assert sent(a) - ops == 1  # asked for in one go: all six in one multi
    assert [await b.load_intent(g) for g in groups] == [{"step": 1, "g": g} for g in groups]
    lost = a._held["/batch3"][0]
    await asyncio.to_thread(a._session.client.delete, lost)  # as if another process took it over
    got = await asyncio.gather(*(a.save_intent(g, {"step": 2, "g": g}, finished=False) for g in groups),
                               return_exceptions=True)
    assert [type(x).__name__ for x in got] == ["NoneType"] * 3 + ["LeaseLost"] + ["NoneType"] * 2
    assert [await b.load_intent(g) for g in groups] == [
        {"step": 1 if g == "/batch3" else 2, "g": g} for g in groups]
    assert not a.may_act("/batch3") and a.may_act("/batch0")


async def test_holder_killed_other_acquires_after_session_expiry(zookeeper: ZooKeeperServer,
                                                                 tmp_path: Path) -> None:
    holder = start_worker(zookeeper, tmp_path, "dead")
    try:
        async with backend(zookeeper, "survivor", session_s=5.0) as b:
            await wait_until(lambda: "acquired" in holder.out(), what="the worker acquires")
            assert await b.holder("/g") == "dead" and not await b.acquire("/g")
            os.kill(holder.proc.pid, signal.SIGKILL)
            assert await wait_until(lambda: b.acquire("/g"), timeout_s=30, what="takeover after expiry")
            await b.save_intent("/g", {"taken": True}, finished=False)
    finally:
        holder.stop()


async def test_suspended_stops_acting_at_once(zookeeper: ZooKeeperServer) -> None:
    lost: list[set[str]] = []
    async with backend(zookeeper, "a", session_s=4.0) as a:
        a.on_lost(lost.append)
        assert await a.acquire("/g") and a.may_act("/g")
        zookeeper.kill()
        await wait_until(lambda: a._session.client.state == KazooState.SUSPENDED, what="SUSPENDED")
        assert not a.may_act("/g") and a.acting_for() == set()
        assert not await a.confirm("/g")
        await wait_until(lambda: not a.ok, what="ok False while suspended")
        assert a.problem and "suspended" in a.problem
        with pytest.raises(StoreError):
            await a.save_intent("/g", {"x": 1}, finished=False)
        zookeeper.start()  # back within the session: the lease is still ours
        await wait_until(a.heartbeat_once, timeout_s=30, what="heartbeat after reconnect")
        assert a.ok and a.may_act("/g") and await a.confirm("/g")


async def test_sigstopped_holder_never_writes_after_resuming(zookeeper: ZooKeeperServer,
                                                             tmp_path: Path) -> None:
    first = start_worker(zookeeper, tmp_path, "first")
    second = None
    try:
        await wait_until(lambda: first.writes() > 10, what="the first worker writes")
        second = start_worker(zookeeper, tmp_path, "second", session_s=10.0)  # robust to a loaded CI
        await wait_until(second.started, what="the second worker is connected")
        os.kill(first.proc.pid, signal.SIGSTOP)
        frozen_at = first.writes()
        await wait_until(lambda: second.writes() > 10, timeout_s=30, what="the second takes over")
        os.kill(first.proc.pid, signal.SIGCONT)
        await wait_until(lambda: "lost" in first.out(), timeout_s=30, what="the first learns it lost")
        seen = second.writes()
        await wait_until(lambda: second.writes() > seen + 20, what="the second keeps writing")
        assert first.writes() == frozen_at, "a replica resumed after its session wrote again"
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_zookeeper_restart_keeps_intents_and_leases(zookeeper: ZooKeeperServer) -> None:
    async with backend(zookeeper, "a", session_s=6.0) as a, backend(zookeeper, "b", session_s=6.0) as b:
        assert await a.acquire("/g")
        await a.save_intent("/g", {"step": 3}, finished=False)
        assert await a.append_history(hist("/h", "d1"))
        assert a._session.multi_read is True
        zookeeper.restart()  # (blocks the loop: nothing of ours runs until it returns)
        assert a._session.multi_read is None  # forgotten with the connection
        await wait_until(lambda: a.acquire("/g"), timeout_s=30, what="lease back after restart")
        await wait_until(lambda: a._session.multi_read is True, timeout_s=10,
                         what="the server asked again about multiRead")
        assert not await b.acquire("/g")
        assert await b.load_intent("/g") == {"step": 3}
        assert [r["deployment_id"] for r in await b.list_history("/h")] == ["d1"]


def hist(group: str, dep: str, at: float = 2.0) -> dict[str, object]:
    return {"group": group, "deployment_id": dep, "outcome": "completed", "started_at": 1.0,
            "finished_at": at}


async def test_history_is_bounded_and_idempotent(pair: tuple[ZooKeeperBackend, ...]) -> None:
    a, b = pair
    a.history_keep = 3
    for i in range(5):
        assert await a.append_history(hist("/g", f"d{i}", at=float(i)))
    assert await a.append_history(hist("/other", "x"))
    assert not await b.append_history(hist("/g", "d4")), "same deployment recorded once"
    assert [r["deployment_id"] for r in await b.list_history("/g")] == ["d4", "d3", "d2"]
    assert [r["deployment_id"] for r in await b.list_history(limit=2)] == ["x", "d4"]
    assert await a.append_history(hist("/g", "d0")), "a pruned deployment's marker is gone too"
    with pytest.raises(InvalidRecord, match="lacks"):
        await a.append_history({"group": "/g"})


async def test_prune_keeps_the_newest_per_group_with_their_claims(pair: tuple[ZooKeeperBackend, ...]) -> None:
    a, b = pair
    for i in range(4):
        assert await a.append_history(hist("/g", f"d{i}", at=float(i)))
        assert await a.claim_delivery(f"d{i}:deployment.completed:1", "slack")
    assert await a.append_history(hist("/h", "h0"))
    await a.record_command("/g", "pause", source="cli")
    counts = await b.prune(history_max=2, history_days=0)
    assert counts == {"history": 2, "deliveries": 2, "commands": 0}
    assert [r["deployment_id"] for r in await a.list_history("/g")] == ["d3", "d2"]
    assert [r["deployment_id"] for r in await a.list_history("/h")] == ["h0"]
    assert not await a.claim_delivery("d3:deployment.completed:1", "slack"), "kept claims stay"
    assert await a.claim_delivery("d0:deployment.completed:1", "slack"), "pruned claims are gone"
    assert await b.prune(history_max=2, history_days=0) == {"history": 0, "deliveries": 0, "commands": 0}



async def test_prune_by_age(zookeeper: ZooKeeperServer) -> None:
    async with backend(zookeeper, "a") as a:
        assert await a.append_history(hist("/g", "old"))
        assert await a.claim_delivery("other:1", "slack")
        await a.record_command("/g", "pause", source="cli")
        assert await a.acquire("/g")
        await a.save_intent("/g", {"kept": True}, finished=True)
        assert await a.prune(history_max=0, history_days=1) == {"history": 0, "deliveries": 0, "commands": 0}
    two_days_later = ZooKeeperBackend(zookeeper.hosts, owner="later", session_timeout_s=SESSION_S,
                                      wall=lambda: time.time() + 2 * 86400)
    async with two_days_later as later:
        assert await later.prune(history_max=0, history_days=1) == {"history": 1, "deliveries": 1,
                                                                    "commands": 1}
        assert await later.list_history() == [] and await later.list_commands() == []
        assert await later.load_intent("/g") == {"kept": True}, "intents are never pruned"


async def test_a_corrupt_znode_is_a_store_error_naming_it(pair: tuple[ZooKeeperBackend, ...]) -> None:
    """Bytes written by another tool (or by hand with zkCli) where an intent or a history record
    belongs: a StoreError naming the znode, `ok` False; never read as 'no intent'."""
    a, b = pair
    assert await a.acquire("/g")
    await a.save_intent("/g", {"step": 1}, finished=False)
    path = a._layout.intent("/g")
    for raw, needle in ((b"\xff\xfenot json", "not JSON"), (b"[1, 2]", "not an object")):
        await asyncio.to_thread(a._session.client.set, path, raw)
        for read in (lambda: b.load_intent("/g"), b.active_intents):
            with pytest.raises(StoreError, match=needle) as err:
                await read()
            assert path in str(err.value) and not b.ok and b.problem and "corrupt" in b.problem
    await a.save_intent("/g", {"step": 2}, finished=False)  # the holder's next save repairs it
    assert await b.load_intent("/g") == {"step": 2} and b.ok


async def test_one_megabyte_limit_gives_a_clear_store_error(pair: tuple[ZooKeeperBackend, ...]) -> None:
    a, b = pair
    assert await a.acquire("/g")
    await a.save_intent("/g", {"small": True}, finished=False)
    with pytest.raises(StoreError, match="znode limit"):
        await a.save_intent("/g", {"blob": "x" * 1_100_000}, finished=False)
    with pytest.raises(StoreError, match="znode limit"):
        await a.append_history({**hist("/g", "big"), "appdef": "y" * 1_100_000})
    assert await b.load_intent("/g") == {"small": True}, "nothing was saved"
    assert a.ok and a.may_act("/g")


async def test_deliveries_and_commands_across_replicas(pair: tuple[ZooKeeperBackend, ...]) -> None:
    a, b = pair
    assert await a.claim_delivery("evt-1", "slack")
    assert not await b.claim_delivery("evt-1", "slack")
    assert await b.claim_delivery("evt-1", "pager")
    assert await a.forget_deliveries(before_s=0) == 0
    assert await a.forget_deliveries(before_s=a._wall() + 60) == 2
    assert await b.claim_delivery("evt-1", "slack"), "claims forgotten by housekeeping"
    a.commands_keep = 2
    for cmd in ("pause", "resume", "undo"):
        await a.record_command("/g", cmd, source="cli")
    await b.record_command("/h", "pause", source="api")
    assert [c["command"] for c in await b.list_commands("/g")] == ["undo", "resume"]
    assert [(c["group"], c["owner"]) for c in await a.list_commands(limit=2)] == [("/h", "b"), ("/g", "a")]


async def test_unreachable_zookeeper_reports_not_ok_without_raising(tmp_path: Path) -> None:
    from tests.waiting import free_port
    async with ZooKeeperBackend(f"127.0.0.1:{free_port()}", owner="a", session_timeout_s=0.5) as a:
        assert not a.ok and a.problem and "not connected" in a.problem
        assert not await a.acquire("/g") and not a.may_act("/g")
        with pytest.raises(StoreError):
            await a.load_intent("/g")


class Worker:
    def __init__(self, proc: subprocess.Popen[bytes], out_path: Path, counter: Path) -> None:
        self.proc, self.out_path, self.counter = proc, out_path, counter

    def out(self) -> str:
        return self.out_path.read_text() if self.out_path.exists() else ""

    def started(self) -> bool:
        return self.counter.exists()

    def writes(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait()


def start_worker(zk: ZooKeeperServer, tmp_path: Path, owner: str, session_s: float = SESSION_S) -> Worker:
    out, counter = tmp_path / f"{owner}.out", tmp_path / f"{owner}.writes"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.zk.fencing_worker", zk.hosts, "/g", owner, str(counter),
             str(session_s)], cwd=ROOT, stdout=stdout, stderr=subprocess.STDOUT)
    return Worker(proc, out, counter)

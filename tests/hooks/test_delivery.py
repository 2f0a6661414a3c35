"""Ordinary hooks of all three kinds fire in publish order; slow or failing hooks stall nobody;
deliveries are claimed (at most once) through a real state store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from reactor.adapters.hooks.webhook import display_url
from reactor.adapters.store import StateStore
from reactor.core.deploy_events import DeployEventName, GateAnswer
from reactor.core.registry import Registry
from reactor.engine.hooks import HookDispatcher, load_hooks
from reactor.engine.metrics import Metrics
from reactor.settings import CommandHookSettings, WebhookSettings
from tests.hooks.conftest import SECRET, SEQUENCE, CommandHook, Receiver, make_event, write_module

RECORDING_MODULE = """
import json
import reactor

def _write(**fields):
    with open(OUT, "a") as fh:
        fh.write(json.dumps(fields) + "\\n")

@reactor.on()
def every_event(event, id, group, blue_app, green_app, tasks, counts, timestamp, **_):
    _write(handler="sync", event=event, id=id, group=group, blue_app=blue_app,
           green_app=green_app, tasks=tasks, counts=counts, timestamp=timestamp)

@reactor.on("blue.killed", "deployment.completed")
async def finishing(event, id, **_):
    _write(handler="async", event=event, id=id)
"""


def _hook_calls(metrics: Metrics) -> dict[tuple[str, str], float]:
    out = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "bluegreen_hook_calls_total":
                out[(s.labels["hook"], s.labels["outcome"])] = s.value
    return out


async def test_all_three_kinds_fire_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              receiver: Receiver, command: CommandHook) -> None:
    module = write_module(tmp_path, monkeypatch, RECORDING_MODULE)
    registry = load_hooks([module.name], entry_point_group=None)
    webhooks = [WebhookSettings(url=receiver.hook_url("all"), secret=SECRET),
                WebhookSettings(url=receiver.hook_url("healthy"), events=["green.healthy"])]
    commands = [CommandHookSettings(argv=command.argv(0))]
    metrics = Metrics()
    async with HookDispatcher(registry, webhooks, commands, metrics=metrics) as hooks:
        for event in SEQUENCE:
            hooks.dispatch(event)
        assert await hooks.flush(20)

    ids = [e.id for e in SEQUENCE]
    assert receiver.got("all") == ids
    assert receiver.got("healthy") == [SEQUENCE[2].id]
    assert all(a["signed_ok"] for a in receiver.arrivals if a["name"] == "all")
    assert [a["signature"] for a in receiver.arrivals if a["name"] == "healthy"] == [None]
    for arrival, event in zip([a for a in receiver.arrivals if a["name"] == "all"], SEQUENCE, strict=True):
        assert arrival["payload"] == event.payload()
        assert (arrival["event"], arrival["delivery"]) == (event.name.value, event.id)

    lines = command.lines()
    assert [c["payload"]["id"] for c in lines] == ids
    assert [c["env_event"] for c in lines] == [e.name.value for e in SEQUENCE]
    assert lines[0]["payload"] == SEQUENCE[0].payload()

    records = module.lines()
    assert [r["id"] for r in records if r["handler"] == "sync"] == ids
    assert [r["id"] for r in records if r["handler"] == "async"] == ids[-2:]
    first = next(r for r in records if r["handler"] == "sync")
    assert first == {"handler": "sync", **{k: v for k, v in SEQUENCE[0].payload().items()
                                          if k not in ("deployment_id", "reason")}}
    calls = _hook_calls(metrics)
    assert calls[(f"{module.name}.every_event", "ok")] == len(SEQUENCE)
    assert calls[("command:" + command.argv()[0], "ok")] == len(SEQUENCE)


async def test_hanging_webhook_stalls_nobody_and_keeps_its_order(receiver: Receiver) -> None:
    first, second = make_event(1), make_event(2)

    async def hang_on_first(record: dict[str, Any]) -> web.StreamResponse:
        if record["payload"]["id"] == first.id:
            # hold the request until the other hook has both events, then never answer
            await receiver.wait(lambda: len(receiver.got("fast")) == 2)
            await asyncio.Event().wait()
        return web.Response(status=204)

    receiver.behaviours["slow"] = hang_on_first
    webhooks = [WebhookSettings(url=receiver.hook_url("slow"), timeout_s=0.5, retries=0),
                WebhookSettings(url=receiver.hook_url("fast"))]
    metrics = Metrics()
    async with HookDispatcher(Registry(), webhooks, [], metrics=metrics) as hooks:
        hooks.dispatch(first)
        hooks.dispatch(second)
        await receiver.wait(lambda: len(receiver.got("slow")) == 2)
        assert await hooks.flush(10)

    order = [(a["name"], a["payload"]["id"]) for a in receiver.arrivals]
    assert receiver.got("slow") == [first.id, second.id]
    assert order.index(("fast", second.id)) < order.index(("slow", second.id))
    calls = _hook_calls(metrics)
    slow = "webhook:" + display_url(receiver.hook_url('slow'))
    assert (calls[(slow, "timeout")], calls[(slow, "ok")]) == (1, 1)
    assert calls[("webhook:" + display_url(receiver.hook_url('fast')), "ok")] == 2


async def test_failing_hooks_are_counted_and_block_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, command: CommandHook) -> None:
    module = write_module(tmp_path, monkeypatch, """
import reactor

@reactor.on("green.scaled")
def broken(**_):
    raise RuntimeError("boom")
""")

    async def fail(record: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=503)

    receiver.behaviours["down"] = fail
    metrics = Metrics()
    webhooks = [WebhookSettings(url=receiver.hook_url("down"), retries=2),
                WebhookSettings(url=receiver.hook_url("ok"))]
    async with HookDispatcher(load_hooks([module.name], entry_point_group=None), webhooks,
                              [CommandHookSettings(argv=command.argv(3))], metrics=metrics) as hooks:
        hooks.dispatch(make_event(1))
        assert await hooks.flush(20)
    assert len(receiver.got("down")) == 3  # first try + 2 retries on 5xx
    assert receiver.got("ok") == [make_event(1).id]
    calls = _hook_calls(metrics)
    assert calls[(f"{module.name}.broken", "error")] == 1
    assert calls[("webhook:" + display_url(receiver.hook_url('down')), "error")] == 1
    assert calls[("command:" + command.argv()[0], "error")] == 1


async def test_hook_raising_cancelled_error_fails_that_delivery_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler that raises CancelledError itself (e.g. from a future it awaited) is one failed
    delivery: the hook's worker goes on with the next events instead of ending silently."""
    module = write_module(tmp_path, monkeypatch, """
import asyncio, json
import reactor

@reactor.on("green.scaled")
async def cancelled_once(id, **_):
    with open(OUT, "a") as fh:
        fh.write(json.dumps({"id": id}) + "\\n")
    if id.endswith(":1"):
        raise asyncio.CancelledError()
""")
    metrics = Metrics()
    async with HookDispatcher(load_hooks([module.name], entry_point_group=None), [], [],
                              metrics=metrics) as hooks:
        for n in (1, 2, 3):
            hooks.dispatch(make_event(n))
        assert await hooks.flush(20)
    assert [r["id"] for r in module.lines()] == [make_event(n).id for n in (1, 2, 3)]
    calls = _hook_calls(metrics)
    assert calls[(f"{module.name}.cancelled_once", "error")] == 1
    assert calls[(f"{module.name}.cancelled_once", "ok")] == 2


async def test_claims_make_deliveries_at_most_once_across_restarts(
        tmp_path: Path, receiver: Receiver) -> None:
    store = StateStore(tmp_path / "state.db", owner="test")
    store.open()
    claimed: list[tuple[str, str]] = []

    def claim(event_id: str, hook: str) -> bool:
        claimed.append((event_id, hook))
        return store.claim_delivery(event_id, hook, now_s=1.0)

    webhooks = [WebhookSettings(url=receiver.hook_url("once")),
                WebhookSettings(url=receiver.hook_url("again"), at_least_once=True)]
    try:
        for _ in range(2):  # the second dispatcher is a restarted reactor re-emitting the events
            async with HookDispatcher(Registry(), webhooks, [], claim=claim) as hooks:
                hooks.dispatch(make_event(1))
                hooks.dispatch(make_event(1))  # a duplicate within one process
                hooks.dispatch(make_event(2))
                assert await hooks.flush(10)
    finally:
        store.close()
    once = "webhook:" + display_url(receiver.hook_url('once'))
    assert receiver.got("once") == [make_event(1).id, make_event(2).id]
    assert receiver.got("again") == [make_event(1).id, make_event(2).id] * 2
    assert claimed == [(make_event(1).id, once), (make_event(2).id, once)] * 2
    assert all(hook == once for _, hook in claimed)  # at_least_once hooks are never claimed


async def test_claim_false_means_not_delivered(receiver: Receiver) -> None:
    metrics = Metrics()
    async with HookDispatcher(Registry(), [WebhookSettings(url=receiver.hook_url("x"))], [],
                              claim=lambda event_id, hook: False, metrics=metrics) as hooks:
        hooks.dispatch(make_event(1))
        assert await hooks.flush(10)
    assert receiver.arrivals == []
    assert _hook_calls(metrics) == {("webhook:" + display_url(receiver.hook_url('x')), "duplicate"): 1}


async def test_failing_claim_skips_the_delivery(receiver: Receiver) -> None:
    def claim(event_id: str, hook: str) -> bool:
        raise OSError("disk full")

    async with HookDispatcher(Registry(), [WebhookSettings(url=receiver.hook_url("x"))], [],
                              claim=claim) as hooks:
        hooks.dispatch(make_event(1))
        assert await hooks.flush(10)
    assert receiver.arrivals == []


async def test_start_and_stop_are_idempotent_and_dispatch_after_stop_is_dropped(
        receiver: Receiver) -> None:
    hooks = HookDispatcher(Registry(), [WebhookSettings(url=receiver.hook_url("x"))], [])
    await hooks.start()
    await hooks.start()
    hooks.dispatch(make_event(1))
    await hooks.stop()  # lets the queued delivery finish
    await hooks.stop()
    hooks.dispatch(make_event(2))
    assert receiver.got("x") == [make_event(1).id]


async def test_slow_sync_handler_times_out_and_its_queue_moves_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = write_module(tmp_path, monkeypatch, """
import json, threading
import reactor

RELEASE = threading.Event()

@reactor.on("green.scaled", "green.healthy", timeout_s=0.2)
def slow_first(event, id, **_):
    if event == "green.scaled":
        RELEASE.wait(10)  # a blocking handler: the dispatcher stops waiting, the thread finishes later
    with open(OUT, "a") as fh:
        fh.write(json.dumps({"id": id}) + "\\n")
""")
    metrics = Metrics()
    scaled, healthy = make_event(1), make_event(2, DeployEventName.GREEN_HEALTHY)
    async with HookDispatcher(load_hooks([module.name], entry_point_group=None), metrics=metrics) as hooks:
        hooks.dispatch(scaled)
        hooks.dispatch(healthy)
        assert await hooks.flush(10)
        assert [r["id"] for r in module.lines()] == [healthy.id]
        __import__(module.name).RELEASE.set()
    calls = _hook_calls(metrics)
    name = f"{module.name}.slow_first"
    assert (calls[(name, "timeout")], calls[(name, "ok")]) == (1, 1)


async def test_unreachable_webhook_is_retried_then_counted(receiver: Receiver) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    metrics = Metrics()
    webhooks = [WebhookSettings(url=dead, retries=1), WebhookSettings(url=dead, gate=True, retries=1),
                WebhookSettings(url=receiver.hook_url("alive"))]
    async with HookDispatcher(Registry(), webhooks, metrics=metrics) as hooks:
        hooks.dispatch(make_event(1))
        assert await hooks.gate(make_event(2, DeployEventName.PROMOTION_GATE)) is GateAnswer.VETO
        assert await hooks.flush(10)
    assert receiver.got("alive") == [make_event(1).id]
    calls = _hook_calls(metrics)
    assert calls[("webhook:" + display_url(dead), "error")] == 1
    assert calls[("webhook:" + display_url(dead) + "#2", "error")] == 1


def test_a_webhook_is_named_without_its_path_query_or_credentials() -> None:
    """Slack, Discord and Teams webhooks carry their secret in the path: metric labels and log
    lines show scheme, host and port, and a digest that tells two hooks of one host apart."""
    slack = "https://u:pw@hooks.slack.com/services/T0/B0/PATHSECRET?token=QUERYSECRET"
    shown = display_url(slack)
    prefix = "https://hooks.slack.com/…"
    assert shown.startswith(prefix) and len(shown) == len(prefix) + 6, shown
    assert not any(s in shown for s in ("PATHSECRET", "QUERYSECRET", "pw", "services"))
    assert display_url(slack.replace("PATHSECRET", "OTHER")) != shown
    assert display_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"

"""Hook dispatch: Python handlers, webhooks and commands, fired on deploy events.

Owns *when and how often* a hook runs, and what its failure means; the transports (how a webhook
is POSTed, how a command runs) live in reactor.adapters.hooks. It must not block a deployment on
an ordinary hook, and must not interpret events beyond their name.

- Ordinary hooks: `dispatch(event)` only enqueues. Each hook has its own queue and worker, so one
  hook sees events in publish order, and a slow or hanging hook delays only itself. A failure or
  timeout is logged and counted (`bluegreen_hook_calls_total{hook,outcome}`), never raised.
- Gates: `await gate(event)` asks every gate hook of the event concurrently: any veto -> veto,
  else any hold -> hold, else allow; no gate hooks -> allow. A gate that raises, times out
  (its own timeout, or `gate_timeout_s` at most), answers non-2xx / garbage, or exits with any
  code but 0 or 75 is a **veto**: a broken gate never lets a deployment through.
- Python handlers are called with the event's payload as keyword arguments (`id`, `event`,
  `group`, `deployment_id`, `blue_app`, `green_app`, `tasks`, `counts`, `reason`, `timestamp` —
  the same JSON values a webhook receives) and must accept `**_` (fields may be added). Sync
  handlers run in a worker thread (a timed-out thread cannot be stopped; it is abandoned).

Delivery guarantee, per (event id, hook): event ids are stable across restarts. An ordinary hook is
delivered **at most once**: before delivery the dispatcher calls `claim(event_id, hook_name)`
(backed by the state store) and skips the delivery when it returns False — so a crash between
claim and delivery loses that delivery. A hook marked `at_least_once` is not claimed: it is
delivered again when a restarted reactor re-emits the event, so it must be idempotent (dedupe by
`id` / `X-Bluegreen-Delivery`). Within one process a delivery is never repeated after success.
Gates are asked every time the engine asks (a gate decision is never cached).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from reactor.adapters.hooks import Command, HookTimedOut, Webhook
from reactor.adapters.hooks.python import ENTRY_POINT_GROUP, HookConfigError, call_handler, load_hooks
from reactor.adapters.hooks.webhook import display_url
from reactor.adapters.hooks.webhook import max_duration_s as webhook_max_duration_s
from reactor.core.deploy_events import GATE_EVENTS, DeployEvent, DeployEventName, GateAnswer
from reactor.core.registry import Registration, Registry
from reactor.engine.metrics import Metrics
from reactor.settings import CommandHookSettings, WebhookSettings

log = structlog.get_logger(__name__)

Claim = Callable[[str, str], bool | Awaitable[bool]]
_EVENT_NAMES = frozenset(e.value for e in DeployEventName)
_GATE_NAMES = frozenset(e.value for e in GATE_EVENTS)
_SEEN_MAX = 10_000


load_hook_modules = load_hooks  # the names reactor.cli uses
HookLoadError = HookConfigError
__all__ = ["ENTRY_POINT_GROUP", "GateVerdict", "HookConfigError", "HookDispatcher", "HookLoadError",
           "as_answer", "combine", "load_hook_modules", "load_hooks"]


@dataclass(eq=False)
class _Hook:
    name: str
    events: frozenset[str]  # empty: every event
    gate: bool
    at_least_once: bool
    timeout_s: float  # the dispatcher's bound (transports also enforce their own timeouts)
    call: Callable[[DeployEvent], Awaitable[Any]]
    queue: asyncio.Queue[DeployEvent | None] = field(default_factory=asyncio.Queue)

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


@dataclass(frozen=True)
class GateVerdict:
    """The combined answer and each gate's vote (hook name, answer, note)."""

    answer: GateAnswer
    votes: tuple[tuple[str, GateAnswer, str], ...] = ()


def as_answer(value: object) -> GateAnswer:
    """A Python gate's return value: allow/hold/veto (any case), True/None = allow, False = veto."""
    if value is None or value is True:
        return GateAnswer.ALLOW
    if isinstance(value, str):
        try:
            return GateAnswer(value.strip().lower())
        except ValueError:
            return GateAnswer.VETO
    return GateAnswer.VETO


def combine(answers: Sequence[GateAnswer]) -> GateAnswer:
    if GateAnswer.VETO in answers:
        return GateAnswer.VETO
    return GateAnswer.HOLD if GateAnswer.HOLD in answers else GateAnswer.ALLOW


def _check_events(key: str, events: Sequence[str], gate: bool) -> frozenset[str]:
    names = frozenset(e for e in events if e != "*")
    unknown = sorted(names - _EVENT_NAMES)
    if unknown:
        raise HookConfigError(key, f"unknown event(s) {unknown}; known: {sorted(_EVENT_NAMES)}")
    if gate:
        if not names or "*" in events:
            return _GATE_NAMES
        if names - _GATE_NAMES:
            raise HookConfigError(key, f"a gate can only answer gate events {sorted(_GATE_NAMES)}, "
                                  f"not {sorted(names - _GATE_NAMES)}")
    return names


class HookDispatcher:
    """Runs hooks on deploy events; an async context manager (start/stop are idempotent)."""

    def __init__(self, registry: Registry, webhooks: Sequence[WebhookSettings] = (),
                 commands: Sequence[CommandHookSettings] = (), *, claim: Claim | None = None,
                 metrics: Metrics | None = None, session: aiohttp.ClientSession | None = None,
                 gate_timeout_s: float = 30.0, handler_timeout_s: float = 60.0,
                 queue_size: int = 10_000, close_timeout_s: float = 5.0) -> None:
        self._claim = claim
        self._metrics = metrics
        self._session = session
        self._own_session = False
        self._webhooks: list[Webhook] = []
        self._webhook_settings = list(webhooks)
        self.gate_timeout_s = gate_timeout_s
        self.queue_size = queue_size
        self.close_timeout_s = close_timeout_s
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._workers: list[asyncio.Task[None]] = []
        self._state = "new"
        self.hooks: list[_Hook] = []
        by_handler: dict[tuple[int, bool], list[Registration]] = {}
        for reg in registry.registrations:  # one hook (one queue, one order) per decorated function
            by_handler.setdefault((id(reg.handler), reg.gate), []).append(reg)
        for regs in by_handler.values():
            self._add_python(regs, handler_timeout_s)
        for i, wh in enumerate(self._webhook_settings):
            events = _check_events(f"hooks.webhooks.{i}.events", wh.events, wh.gate)
            self._add(f"webhook:{display_url(wh.url)}", events, wh.gate, wh.at_least_once,
                      webhook_max_duration_s(wh),
                      self._webhook_call(i, wh.gate))
        for i, cmd in enumerate(commands):
            events = _check_events(f"hooks.commands.{i}.events", cmd.events, cmd.gate)
            command = Command(cmd)
            self._add(f"command:{cmd.argv[0]}", events, cmd.gate, cmd.at_least_once,
                      command.max_duration_s, command.ask if cmd.gate else command.deliver)

    def _add_python(self, regs: list[Registration], default_timeout_s: float) -> None:
        reg = regs[0]
        sets = [_check_events(f"hooks.modules ({r.name})", [r.event], r.gate) for r in regs]
        events = frozenset() if not all(sets) else frozenset().union(*sets)  # empty: every event

        async def call(event: DeployEvent) -> Any:
            return await call_handler(reg.handler, event)

        self._add(reg.name, events, reg.gate, reg.at_least_once, reg.timeout_s or default_timeout_s, call)

    def _add(self, name: str, events: frozenset[str], gate: bool, at_least_once: bool,
             timeout_s: float, call: Callable[[DeployEvent], Awaitable[Any]]) -> None:
        taken = {h.name for h in self.hooks}
        unique, n = name, 1
        while unique in taken:  # the same handler/URL twice: keep names (and claims) distinct
            n += 1
            unique = f"{name}#{n}"
        self.hooks.append(_Hook(unique, events, gate, at_least_once, timeout_s, call))

    def _webhook_call(self, index: int, gate: bool) -> Callable[[DeployEvent], Awaitable[Any]]:
        async def call(event: DeployEvent) -> Any:
            if not self._webhooks:
                raise RuntimeError("HookDispatcher is not started")
            webhook = self._webhooks[index]
            return await (webhook.ask(event) if gate else webhook.deliver(event))

        return call

    async def start(self) -> None:
        if self._state != "new":
            return
        self._state = "running"
        if self._webhook_settings:
            if self._session is None:
                self._session = aiohttp.ClientSession()
                self._own_session = True
            self._webhooks = [Webhook(s, self._session) for s in self._webhook_settings]
        for hook in self.hooks:
            if not hook.gate:
                self._workers.append(asyncio.create_task(self._work(hook), name=f"hook {hook.name}"))

    async def stop(self) -> None:
        """Let queued deliveries finish for up to `close_timeout_s`, then cancel the rest."""
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopped"
        for hook in self.hooks:
            if not hook.gate:
                hook.queue.put_nowait(None)
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=self.close_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> HookDispatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def dispatch(self, event: DeployEvent) -> None:
        """Enqueue the event for every ordinary hook that wants it; never blocks, never raises."""
        if self._state == "stopped":
            log.warning("hooks.dispatch_after_stop", event_id=event.id, deploy_event=event.name.value)
            return
        for hook in self.hooks:
            if hook.gate or not hook.wants(event.name.value):
                continue
            if hook.queue.qsize() >= self.queue_size:
                log.error("hooks.queue_full", hook=hook.name, event_id=event.id)
                self._count(hook.name, "dropped")
                continue
            hook.queue.put_nowait(event)

    def has_gates(self) -> bool:
        """Whether any gate hook is registered (none: the engine skips the gate round)."""
        return any(h.gate for h in self.hooks)

    async def gate(self, event: DeployEvent) -> GateAnswer:
        return (await self.gate_verdict(event)).answer

    async def gate_verdict(self, event: DeployEvent) -> GateVerdict:
        """Ask every gate of the event concurrently; see the module docstring for the rules."""
        hooks = [h for h in self.hooks if h.gate and h.wants(event.name.value)]
        if not hooks:
            return GateVerdict(GateAnswer.ALLOW)
        votes = await asyncio.gather(*(self._ask(h, event) for h in hooks))
        verdict = GateVerdict(combine([a for _, a, _ in votes]), tuple(votes))
        log.info("hooks.gate", event_id=event.id, group=event.group, answer=verdict.answer.value,
                 votes={name: answer.value for name, answer, _ in votes})
        return verdict

    async def _ask(self, hook: _Hook, event: DeployEvent) -> tuple[str, GateAnswer, str]:
        timeout_s = min(hook.timeout_s, self.gate_timeout_s)
        try:
            value = await asyncio.wait_for(hook.call(event), timeout_s)
        except (TimeoutError, HookTimedOut) as exc:
            answer, note, outcome = GateAnswer.VETO, f"timed out: {exc}".rstrip(": "), "timeout"
        except Exception as exc:
            answer, note, outcome = GateAnswer.VETO, f"{type(exc).__name__}: {exc}", "error"
        else:
            answer = value if isinstance(value, GateAnswer) else as_answer(value)
            note, outcome = "", answer.value
        if outcome in ("timeout", "error"):
            log.warning("hooks.gate_failed", hook=hook.name, event_id=event.id, error=note)
        self._count(hook.name, outcome)
        return hook.name, answer, note

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every ordinary hook has handled what was dispatched; False on timeout."""
        queues = [h.queue.join() for h in self.hooks if not h.gate]
        try:
            await asyncio.wait_for(asyncio.gather(*queues), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _work(self, hook: _Hook) -> None:
        while True:
            event = await hook.queue.get()
            try:
                if event is None:
                    return
                await self._deliver(hook, event)
            finally:
                hook.queue.task_done()

    async def _deliver(self, hook: _Hook, event: DeployEvent) -> None:
        key = (event.id, hook.name)
        if key in self._seen or not await self._claimed(hook, event):
            self._count(hook.name, "duplicate")
            return
        try:
            await asyncio.wait_for(hook.call(event), hook.timeout_s)
        except (TimeoutError, HookTimedOut) as exc:
            log.warning("hooks.timeout", hook=hook.name, event_id=event.id, error=str(exc))
            self._count(hook.name, "timeout")
            return
        except asyncio.CancelledError:
            if (me := asyncio.current_task()) is not None and me.cancelling():
                raise  # this worker is being stopped
            # raised by the hook itself (e.g. a future it awaited was cancelled): a failure of
            # this delivery, never the end of the hook's worker
            log.warning("hooks.failed", hook=hook.name, event_id=event.id, error="CancelledError")
            self._count(hook.name, "error")
            return
        except Exception as exc:
            log.warning("hooks.failed", hook=hook.name, event_id=event.id,
                        error=f"{type(exc).__name__}: {exc}")
            self._count(hook.name, "error")
            return
        self._remember(key)
        self._count(hook.name, "ok")

    async def _claimed(self, hook: _Hook, event: DeployEvent) -> bool:
        """At-most-once hooks: record the delivery *before* making it."""
        if hook.at_least_once:
            return True
        self._remember((event.id, hook.name))
        if self._claim is None:
            return True
        try:
            claimed = self._claim(event.id, hook.name)
            return bool(await claimed if inspect.isawaitable(claimed) else claimed)
        except Exception as exc:  # cannot record it: skipping keeps the at-most-once promise
            log.error("hooks.claim_failed", hook=hook.name, event_id=event.id, error=str(exc))
            return False

    def _remember(self, key: tuple[str, str]) -> None:
        self._seen[key] = None
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)

    def _count(self, hook: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.count_hook_call(hook, outcome)

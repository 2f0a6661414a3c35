"""The flow behind `bluegreen deploy`: create GREEN safely, drive it in-process, report.

Owns GREEN's creation (after taking the group's lease, so a daemon and this process never both
act), the in-process Engine limited to the group, the live progress lines and the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from reactor.cli.common import CliError
from reactor.cli.errors import marathon_errors
from reactor.cli.exitcodes import Exit
from reactor.core import labels as L
from reactor.core.adoption import backend_name, pick_blue, target_instances
from reactor.core.appdef import default_group, green_app_id, green_definition
from reactor.core.deploy_events import DeployEvent
from reactor.core.intent import Outcome, Phase, new_intent

ABORT_REASON_PREFIX = "aborted"


class DeployFlow:
    def __init__(self, settings: Any, definition: dict[str, Any], *, group: str | None,
                 batch_size: int | None, json_output: bool, tty: bool, quiet: bool = False) -> None:
        self.settings = settings
        self.definition = definition
        labels = definition.get("labels") or {}
        self.group = group or L.group_of(labels) or default_group(definition["id"])
        self.batch_size = batch_size
        self.json_output = json_output
        self.quiet = quiet
        self.summary: dict[str, Any] = {}
        self.tty = tty and not json_output
        self.started = time.monotonic()
        self.green_id: str | None = None
        self.blue_id: str | None = None
        self.target = 0
        self.events: list[DeployEvent] = []
        self._engine: Any = None
        self._lease_taken = False
        self._stack = contextlib.AsyncExitStack()

    @property
    def engine(self) -> Any:
        """The in-process Engine driving the deployment (after `create_green`)."""
        return self._engine

    def say(self, line: str) -> None:
        if not self.json_output and not self.quiet:
            print(("\r\033[K" if self.tty else "") + line, flush=True)

    # ---- steps ------------------------------------------------------------------------------------
    async def _blue(self, client: Any) -> Any:
        apps = await client.list_apps(embed=())
        ours = [a for a in apps if L.group_of(a.labels) == self.group]
        if not ours:  # migration: an unlabelled app with the definition's id is BLUE
            ours = [a for a in apps if a.id == self.definition["id"]]
        return ours, {a.id for a in apps}

    async def dry_run(self) -> int:
        from reactor.adapters.marathon.client import MarathonClient
        from reactor.adapters.marathon.errors import MarathonError

        blue_desc, target = "unknown (Marathon not reachable)", self.definition.get("instances", 1)
        now = datetime.now(UTC)
        green_id = self.definition["id"]
        try:
            async with MarathonClient(self.settings.marathon.urls, request_timeout_s=5) as client:
                ours, ids = await self._blue(client)
                green_id = green_app_id(self.definition["id"], ids, now)
                blue = pick_blue(ours, None)
                if blue is not None:
                    blue_desc, target = f"{blue.id} ({blue.instances} instances)", blue.instances
                else:
                    blue_desc = "none (first deploy)"
        except (MarathonError, OSError):
            pass
        batch = self.batch_size or self.settings.deploy.batch_size
        green = green_definition(self.definition, green_id=green_id, group=self.group,
                                 target_instances=target, started_at=now, previous=None,
                                 batch_size=self.batch_size)
        plan = {"group": self.group, "blue": blue_desc, "green_app": green_id, "target_instances": target,
                "batch_size": batch, "steps": [
                    f"create {green_id} with 0 instances",
                    f"repeat {max(1, -(-target // batch))}x: scale GREEN by {batch}, wait until healthy, "
                    f"add to the LB, drain {batch} BLUE task(s) until 0 pending operations, kill-and-scale",
                    "delete BLUE"], "app": green}
        print(json.dumps(plan, indent=2))
        return Exit.DONE

    async def create_green(self) -> str:
        try:
            return await self._create_green()
        except BaseException:
            if self._lease_taken:  # nothing was created: the next deploy must not wait for it
                with contextlib.suppress(Exception):
                    await self._engine.backend.release(self.group)
            await self._stack.aclose()
            raise

    async def _create_green(self) -> str:
        from reactor.engine.engine import Engine

        with marathon_errors():
            self._engine = await self._stack.enter_async_context(
                Engine(_without_window(self.settings), only_groups={self.group}, api_optional=True))
            e = self._engine
            await self._check_lb(e)
            if not await e.backend.acquire(self.group):
                holder = await e.backend.holder(self.group)
                raise CliError(f"group {self.group} is being deployed by another reactor ({holder})",
                               Exit.BAD_INPUT)
            self._lease_taken = True
            active = (await e.backend.active_intents()).get(self.group)
            if active:
                phase = active.get("intent", {}).get("phase")
                raise CliError(f"group {self.group} has an unfinished deployment (phase {phase}); "
                               f"resume or roll it back first", Exit.BAD_INPUT)
            ours, ids = await self._blue(e.client)
            # never reuse an id of the group's last deployment: the reactor would take the new
            # app for a side of that finished deployment and never start this one
            last = (await e.backend.load_intent(self.group) or {}).get("intent", {})
            ids |= {last.get("blue_app"), last.get("green_app")} - {None}
            now = datetime.now(UTC)
            blue = pick_blue(ours, None)
            self.blue_id = blue.id if blue else None
            self.target = target_instances(self.definition.get("labels") or {},
                                           blue.instances if blue else None,
                                           int(self.definition.get("instances", 1)))
            self.green_id = green_app_id(self.definition["id"], ids, now)
            body = green_definition(self.definition, green_id=self.green_id, group=self.group,
                                    target_instances=self.target, started_at=now, previous=self.blue_id,
                                    batch_size=self.batch_size)
            await e.client.create_app(body)
            # the intent, with GREEN's definition for `undo`, is recorded while the lease is ours:
            # whoever drives the deployment (this process or the daemon) continues it
            intent = new_intent(
                group=self.group, deployment_id=str(uuid.uuid4()), green_app=self.green_id,
                target_instances=self.target, now=now, blue_app=self.blue_id,
                blue_instances=blue.instances if blue else 0,
                green_instances=int(body.get("instances", 0))).with_green_definition(body)
            await e.backend.save_intent(self.group, {"intent": intent.model_dump(mode="json"),
                                                     "outbox": []}, finished=False)
        self.say(f"created GREEN {self.green_id} (group {self.group}, target {self.target}, "
                 f"BLUE {self.blue_id or 'none'})")
        return self.green_id

    async def detach(self) -> None:
        """Hand GREEN to the daemon: give the group's lease back at once (else the daemon waits
        for it to expire before taking over) and close this process's engine."""
        if self._engine is not None:
            with contextlib.suppress(Exception):
                await self._engine.backend.release(self.group)
        await self._stack.aclose()

    async def _check_lb(self, e: Any) -> None:
        """Before anything is created: the configured load balancer must answer for the backend
        (else GREEN would be created and then wait forever for the LB steps)."""
        from reactor.adapters.lb.errors import LbError, LbTimeout, LbUnavailable

        s = self.settings.lb
        if s.driver.value == "none":
            return
        labels = self.definition.get("labels") or {}
        backend = backend_name(s.haproxy.backend, self.group, labels)
        try:
            await e.lb.observe(backend)
        except (LbUnavailable, LbTimeout) as exc:
            where = ("start HAProxy with 'stats socket <path> level admin' and set [lb.haproxy] socket "
                     "to that path" if s.driver.value == "haproxy" else "fix [lb.command] argv")
            raise CliError(f"{exc}; {where}, or set [lb] driver = \"none\"", Exit.MISSING_COMPONENT) from None
        except LbError as exc:
            raise CliError(f"load balancer: {exc}", Exit.BAD_INPUT) from None

    async def drive(self) -> int:
        e = self._engine
        runner = asyncio.create_task(e.run(), name="engine")
        follower = asyncio.create_task(self._follow(), name="progress")
        try:
            outcome = await self._wait_end(runner)
        finally:
            e.stop()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(runner, 30)
            follower.cancel()
            with contextlib.suppress(BaseException):
                await follower
            await self._stack.aclose()
        if runner.done() and not runner.cancelled() and runner.exception() is not None:
            raise runner.exception()  # type: ignore[misc]
        return self._summary(outcome)

    async def _wait_end(self, runner: asyncio.Task[None]) -> str:
        e = self._engine
        done = e.reconciler.finished(self.group)
        last_line = ""
        while not done.is_set():
            if runner.done():
                return Outcome.FAILED.value
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.5)
            st = e.reconciler.status.get(self.group)
            if st is None:
                continue
            if st.intent.phase is Phase.PAUSED and (st.intent.paused_reason or "").startswith(
                    ABORT_REASON_PREFIX):
                return Outcome.ABORTED.value
            line = self._status_line(st)
            if line != last_line and (self.tty or not line.startswith(last_line[:20])):
                if self.tty and not self.json_output:
                    sys.stdout.write("\r\033[K" + line)
                    sys.stdout.flush()
                last_line = line
        st = e.reconciler.status.get(self.group)
        return (st.intent.outcome or Outcome.FAILED).value if st else Outcome.FAILED.value

    def _status_line(self, st: Any) -> str:
        c = st.counts
        drains = self._engine.drains.observations()
        pend = ", ".join(f"{tid.split('.')[-3][-8:] if tid.count('.') > 2 else tid}: {o.pending}"
                         for tid, o in drains.items() if not o.drained)
        return (f"[{time.monotonic() - self.started:6.1f}s] {st.intent.phase.value}: GREEN healthy "
                f"{c.get('green_healthy', 0)}/{c.get('target', 0)} · BLUE live {c.get('blue_live', 0)} · "
                f"killed {c.get('blue_killed', 0)}" + (f" · pending {pend}" if pend else ""))

    async def _follow(self) -> None:
        async with self._engine.bus.subscribe() as sub:
            async for event in sub:
                self.events.append(event)
                tasks = f" {len(event.tasks)} task(s)" if event.tasks else ""
                if event.name.value == "green.scaled" and "instances" in event.counts:
                    tasks = f" to {event.counts['instances']} of {event.counts.get('target', '?')}"
                reason = f" — {event.reason}" if event.reason else ""
                self.say(f"[{time.monotonic() - self.started:6.1f}s] {event.name.value}{tasks}{reason}")

    def _summary(self, outcome: str) -> int:
        e = self._engine
        st = e.reconciler.status.get(self.group)
        phases: dict[str, float] = {}
        for ev in self.events:
            phases.setdefault(ev.name.value, (ev.timestamp - self.events[0].timestamp).total_seconds())
        requests = Counter({f"{m} {r}": n for (m, r), n in e.request_counts.items()})
        summary = {
            "group": self.group, "outcome": outcome, "green_app": self.green_id, "blue_app": self.blue_id,
            "target_instances": self.target, "duration_s": round(time.monotonic() - self.started, 3),
            "events_at_s": phases, "counts": st.counts if st else {},
            "reason": (st.intent.rollback_reason or st.intent.paused_reason) if st else None,
            "marathon_requests": dict(requests), "marathon_requests_total": sum(requests.values()),
        }
        self.summary = summary
        if self.quiet:
            pass
        elif self.json_output:
            print(json.dumps(summary, indent=2, default=str))
        else:
            self.say(f"\n{outcome} in {summary['duration_s']:.1f}s — {summary['marathon_requests_total']} "
                     f"Marathon requests" + (f" — {summary['reason']}" if summary["reason"] else ""))
        return Exit.DONE if outcome == Outcome.COMPLETED.value else Exit.NOT_DONE


def _without_window(settings: Any) -> Any:
    """The in-process engine ends with this command: a rollback window needs a reactor that keeps
    running (the daemon), so `deploy` without one deletes BLUE right after the last shift."""
    deploy = settings.deploy.model_copy(update={"rollback_window_s": 0.0})
    return settings.model_copy(update={"deploy": deploy})

"""The flow behind `bluegreen deploy`: create GREEN safely, drive it in-process, report.

Owns GREEN's creation (after taking the group's lease, so a daemon and this process never both
act), the in-process Engine limited to the group, the live progress lines and the summary.
"""

from __future__ import annotations

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
from reactor.core.intent import Outcome, new_intent

ABORT_REASON_PREFIX = "aborted"


class DeployFlow:
    def __init__(self, settings: Any, definition: dict[str, Any], *, group: str | None,
                 batch_size: int | None, json_output: bool, tty: bool, quiet: bool = False) -> None:
        self.settings = settings
        self.definition = definition
        labels = definition.get("labels") or {}
        self.group = L.group_of(labels) or default_group(definition["id"]) if group is None else group
        if (problem := L.group_name_problem(self.group)) is not None:
            raise CliError(problem, Exit.BAD_INPUT)
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
        self.posted: dict[str, Any] | None = None  # GREEN's definition as created
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
        from reactor.adapters.marathon.configured import client_from_settings
        from reactor.adapters.marathon.errors import MarathonError

        self._refuse_if_unfinished_locally()
        blue_desc, target = "unknown (Marathon not reachable)", self.definition.get("instances", 1)
        now = datetime.now(UTC)
        green_id, blue_id, known = self.definition["id"], None, False
        try:
            async with client_from_settings(self.settings.marathon, request_timeout_s=5) as client:
                ours, ids = await self._blue(client)
                green_id = green_app_id(self.definition["id"], ids, now)
                known = True
                blue = pick_blue(ours, None)
                if blue is not None:
                    blue_id = blue.id
                    blue_desc, target = f"{blue.id} ({blue.instances} instances)", blue.instances
                else:
                    blue_desc = "none (first deploy)"
        except (MarathonError, OSError, ValueError):
            pass
        target = L.target_instances_of(self.definition.get("labels") or {}) or target
        batch = self.batch_size or self.settings.deploy.batch_size
        green = green_definition(self.definition, green_id=green_id, group=self.group,
                                 target_instances=target, started_at=now, previous=blue_id,
                                 batch_size=self.batch_size,
                                 strip_labels=self.settings.deploy.strip_labels)
        plan = {"group": self.group, "blue": blue_desc, "green_app": green_id, "target_instances": target,
                "batch_size": batch, "steps": _plan_steps(green_id, target, batch,
                                                          has_blue=blue_id is not None or not known),
                "app": green}
        print(json.dumps(plan, indent=2))
        return Exit.DONE

    def _refuse_if_unfinished_locally(self) -> None:
        """As `deploy` would (it reads the intent under the lease): an unfinished deployment of the
        group in the local SQLite store is refused, read-only. (With ZooKeeper the dry run does not
        connect to it; the real deploy still refuses.)"""
        from reactor.adapters.store.errors import StoreError
        from reactor.adapters.store.sqlite import StateStore

        path = self.settings.state.path
        if self.settings.coordination.backend.value != "sqlite" or not path.exists():
            return
        try:
            with StateStore(path, owner="bluegreen-cli:dry-run") as store:
                active = store.active_intents().get(self.group)
        except StoreError as exc:
            raise CliError(str(exc), Exit.BAD_INPUT) from None
        if active:
            raise _unfinished(self.group, active)

    async def create_green(self, *, handover: bool = False) -> str:
        """Create GREEN under the group's lease. `handover`: a daemon drives it, so no lease is
        taken (the daemon acts on GREEN's creation event at once, instead of finding the lease
        held and retrying half a lease later)."""
        try:
            return await self._create_green(handover)
        except BaseException:
            if self._lease_taken:  # nothing was created: the next deploy must not wait for it
                with contextlib.suppress(Exception):
                    await self._engine.backend.release(self.group)
            await self._stack.aclose()
            raise

    async def _create_green(self, handover: bool) -> str:
        from reactor.engine.engine import Engine

        with marathon_errors():
            self._engine = await self._stack.enter_async_context(
                Engine(without_window(self.settings), only_groups={self.group}, api_optional=True))
            e = self._engine
            await self._check_lb(e)
            if handover:
                # a daemon acts for the group: this process never acts, so it takes no lease (a
                # lease held while GREEN's creation event reaches the daemon would make it wait
                # half a lease before acting); the daemon adopts GREEN from its labels and reads
                # GREEN's definition from Marathon for the history (undo)
                pass
            elif not await e.backend.acquire(self.group):
                holder = await e.backend.holder(self.group)
                raise CliError(f"group {self.group} is being deployed by another reactor ({holder}) "
                               "whose API does not answer at [api] listen", Exit.MISSING_COMPONENT)
            else:
                self._lease_taken = True
            active = (await e.backend.active_intents()).get(self.group)
            if active:
                raise _unfinished(self.group, active)
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
                                    batch_size=self.batch_size,
                                    strip_labels=self.settings.deploy.strip_labels)
            self.posted = body
            if self._lease_taken and not await e.backend.confirm(self.group):
                # reading Marathon took longer than the lease (nothing renews it before the engine
                # runs): another reactor may act for the group now
                holder = await e.backend.holder(self.group)
                raise CliError(f"group {self.group}: the lease was lost while reading Marathon (now held "
                               f"by {holder or 'nobody'}); nothing was created", Exit.MISSING_COMPONENT)
            await e.client.create_app(body)
            if self._lease_taken:
                # the intent, with GREEN's definition for `undo`, is recorded while the lease is
                # ours: whoever drives the deployment (this process or the daemon) continues it
                intent = new_intent(
                    group=self.group, deployment_id=str(uuid.uuid4()), green_app=self.green_id,
                    target_instances=self.target, now=now, blue_app=self.blue_id,
                    blue_instances=blue.instances if blue else 0,
                    green_instances=int(body.get("instances", 0))).with_green_definition(body)
                await e.backend.save_intent(self.group, {"intent": intent.model_dump(mode="json"),
                                                         "outbox": []}, finished=False)
        self.say(f"created GREEN {self.green_id} (group {self.group}, target {self.target}, "
                 f"BLUE {self.blue_id or 'none'})")
        asked = self.definition.get("instances")
        if self.blue_id and isinstance(asked, int) and asked != self.target \
                and L.target_instances_of(self.definition.get("labels") or {}) is None:
            self.say(f"note: the target is BLUE's count ({self.target}), not the app's 'instances' "
                     f"({asked}); to change it, set the label {L.TARGET_INSTANCES}")
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

    async def drive(self, config: str | None = None) -> int:
        """Drive the deployment here until it ends; Ctrl-C pauses it and says how to go on."""
        from reactor.cli.local_drive import Interrupted, LocalDrive, interrupted_message

        driver = LocalDrive(self._engine, self.group, say=self.say, tty=self.tty, started=self.started)
        try:
            outcome = await driver.run()
        except Interrupted as exc:
            self.events = driver.events
            print(("\n" if self.tty else "") + interrupted_message(self.group, exc.phase, config),
                  file=sys.stderr)
            return exc.exit_code
        finally:
            self.events = driver.events
            await self._stack.aclose()
        return self._summary(outcome)

    def _summary(self, outcome: str) -> int:
        e = self._engine
        st = e.controllers.status.get(self.group)
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


def without_window(settings: Any) -> Any:
    """The in-process engine ends with this command: a rollback window needs a reactor that keeps
    running (the daemon), so `deploy` without one deletes BLUE right after the last shift."""
    deploy = settings.deploy.model_copy(update={"rollback_window_s": 0.0})
    return settings.model_copy(update={"deploy": deploy})


def _plan_steps(green_id: str, target: int, batch: int, *, has_blue: bool) -> list[str]:
    steps = [f"create {green_id} with 0 instances"]
    rounds = max(1, -(-target // batch))
    if not has_blue:
        return [*steps, f"repeat {rounds}x: scale GREEN by {batch}, wait until healthy, add to the LB",
                "done (first deploy: there is no BLUE to drain or delete)"]
    return [*steps, f"repeat {rounds}x: scale GREEN by {batch}, wait until healthy, add to the LB, "
                    f"drain {batch} BLUE task(s) until 0 pending operations, kill-and-scale", "delete BLUE"]


def _unfinished(group: str, record: dict[str, Any]) -> CliError:
    phase = record.get("intent", {}).get("phase")
    return CliError(f"group {group} has an unfinished deployment (phase {phase}); resume or roll it "
                    "back first", Exit.BAD_INPUT)

"""One reactor deployment under load, start to finish: what the e2e tests and bench_compare run.

Owns the sequence: world up → BLUE v1 put into service by the reactor → load → warm-up →
GREEN v2 deployed by the reactor (faults fired at deploy events) → a tail of load on the result →
load stopped → world down (every task writes its ledger line) → figures. Figures use the same
keys as `reactor.cli.demo.baseline.run_baseline` so both sides print side by side. Asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactor.cli.demo.ledger import LedgerSummary
from reactor.cli.demo.load import LoadGenerator
from tests.e2e.world import (
    APP_ID,
    DEPLOY_TIMEOUT_S,
    At,
    DeployRun,
    LoadShape,
    Timeline,
    World,
    deploy_green,
    timeline,
)

TAIL_S = 1.0


@dataclass
class OursRun:
    deploy: DeployRun
    load: dict[str, Any]
    ledger: LedgerSummary
    timeline: Timeline
    wall0: float  # time.time() when the load started
    load_records: list[Any]
    apps_after: list[dict[str, Any]]  # the group's apps in Marathon when the deployment ended
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return int(self.load["failed"])

    def figures(self) -> dict[str, Any]:
        return {"scenario": "bluegreen-reactor (GREEN app, drain by pending operations, kill-and-scale)",
                "outcome": self.deploy.summary.get("outcome"), "failed_requests": self.failed,
                "abandoned_operations": self.ledger.abandoned,
                "deployment_s": self.deploy.summary.get("duration_s"),
                "sent": self.load["sent"], "failure_reasons": self.load["failure_reasons"]}


async def run_ours(workdir: Path, *, instances: int = 4, batch_size: int = 1,
                   drain_source: str = "prometheus", shape: LoadShape | None = None,
                   green_env: dict[str, str] | None = None, standby: bool = False,
                   retry_on: str | None = None, health: dict[str, Any] | None = None,
                   warmup_s: float = 1.5, tail_s: float = TAIL_S, deploy_timeout_s: float = DEPLOY_TIMEOUT_S,
                   at: Callable[[World], list[At]] | None = None,
                   during: Callable[[World, LoadGenerator, dict[str, Any]], Awaitable[None]] | None = None,
                   ) -> OursRun:
    """BLUE v1 → GREEN v2 by the reactor under `shape`'s load; `at(world)` gives the faults."""
    shape = shape or LoadShape()
    async with World(workdir, standby=standby, retry_on=retry_on, health=health) as world:
        await world.put_blue_in_service(instances)
        load = shape.generator(world.hap.url)
        wall0 = time.time()
        async with load:
            await load.wait_for(lambda s: s.ok + s.failed >= shape.rate_per_s * warmup_s,
                                timeout_s=warmup_s * 10 + 10)
            green = world.definition("v2", instances, env=green_env)
            settings = world.settings(drain_source=drain_source)
            extra: dict[str, Any] = {}  # `during(world, load, extra)` records into it until the end
            watcher = asyncio.create_task(during(world, load, extra)) if during is not None else None
            try:
                run = await deploy_green(settings, green, batch_size=batch_size,
                                         at=at(world) if at else None, timeout_s=deploy_timeout_s)
            finally:
                if watcher is not None:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
            done_s = load.summary().duration_s
            tail_n = max(1, int(tail_s * shape.rate_per_s))
            await load.wait_for(lambda _s: sum(1 for r in load.records if r.start_s > done_s
                                               and r.end_s is not None) >= tail_n, timeout_s=tail_s * 10 + 10)
            apps_after = await world.group_apps()
        summary = load.summary()
    ledger = world.ledger()  # every task got SIGTERM when the world stopped
    return OursRun(deploy=run, load=summary.to_dict(), ledger=ledger,
                   timeline=timeline(load.records, wall0), wall0=wall0, load_records=list(load.records),
                   apps_after=apps_after, extra=extra)


def green_app_ids(apps: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for a in apps if a["id"] != APP_ID]

"""The baseline run: Marathon's own rolling restart behind a marathon-lb-style HAProxy, under load.

What users do today: PUT a new version to the same app id (default upgradeStrategy:
minimumHealthCapacity 1, maximumOverCapacity 1), HAProxy kept in sync by `MarathonLbSyncer`.
`run_baseline` measures it with the same pieces the reactor's end-to-end runs use (real embedded
Marathon with the process executor, real haproxy, real sample-app tasks, the same load) and
returns the figures; it asserts nothing. Must not tune either side.

`python -m reactor.cli.demo.baseline [WORKDIR]` prints the figures as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from reactor.cli.demo.haproxy import DEFAULT_RETRY_ON, HaproxyProcess
from reactor.cli.demo.ledger import read_ledger
from reactor.cli.demo.load import LoadGenerator
from reactor.cli.demo.marathonlb import MarathonLbSyncer
from reactor.cli.demo.scenario import (
    sample_app_definition,
    start_local_marathon_subprocess,
    wait_deployment_done,
    wait_healthy,
)

BACKEND = "web"


async def _request(session: aiohttp.ClientSession, method: str, url: str, body: Any) -> dict[str, Any]:
    async with session.request(method, url, json=body) as resp:
        text = await resp.text()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url} -> {resp.status}: {text[:300]}")
        return dict(json.loads(text)) if text else {}


async def run_baseline(workdir: Path, *, instances: int = 4, app_id: str = "/baseline/web",
                       rate_per_s: float = 50.0, slow_fraction: float = 0.2,
                       slow_ms: tuple[int, int] = (200, 800), warmup_s: float = 1.0, tail_s: float = 1.0,
                       deploy_timeout_s: float = 60.0, max_duration_s: float = 180.0,
                       haproxy_retry_on: str | None = DEFAULT_RETRY_ON,
                       seed: int | None = 7) -> dict[str, Any]:
    """BLUE (v1, `instances` tasks) serving under load; PUT v2 to the same id; wait for the
    deployment to finish and `tail_s` of load on the result; the figures as a dict."""
    workdir = Path(workdir)
    ledger_dir = workdir / "ledger"
    started = time.monotonic()
    async with start_local_marathon_subprocess(workdir=workdir) as lm, \
            HaproxyProcess(workdir, backends=[BACKEND], retry_on=haproxy_retry_on) as hp, \
            aiohttp.ClientSession() as session:
        v1 = sample_app_definition(app_id, version="v1", instances=instances, ledger_dir=ledger_dir)
        await _request(session, "POST", f"{lm.url}/v2/apps", v1)
        await wait_healthy(lm.url, app_id, instances, timeout_s=deploy_timeout_s, version="v1")
        async with MarathonLbSyncer(lm.url, app_id=app_id, stats_socket=hp.stats_socket,
                                    backend=BACKEND) as syncer:
            await syncer.wait_routed(lambda names: len(names) == instances, timeout_s=deploy_timeout_s)
            load = LoadGenerator(hp.url, rate_per_s=rate_per_s, slow_fraction=slow_fraction,
                                 slow_ms=slow_ms, max_duration_s=max_duration_s, seed=seed)
            async with load:
                await load.wait_for(lambda s: s.ok + s.failed >= warmup_s * rate_per_s,
                                    timeout_s=warmup_s * 10 + 10)
                put_at_s = load.summary().duration_s
                v2 = sample_app_definition(app_id, version="v2", instances=instances, ledger_dir=ledger_dir)
                answer = await _request(session, "PUT", f"{lm.url}/v2/apps{app_id}", {"env": v2["env"]})
                deployment_s = await wait_deployment_done(lm.url, str(answer["deploymentId"]),
                                                          timeout_s=deploy_timeout_s)
                done_at_s = load.summary().duration_s
                tail_n = max(1, int(tail_s * rate_per_s))
                await load.wait_for(lambda _s: sum(1 for r in load.records if r.start_s > done_at_s
                                                   and r.end_s is not None) >= tail_n,
                                    timeout_s=tail_s * 10 + 10)
            summary = load.summary()
            ledger = read_ledger(ledger_dir)  # before shutdown: stopping v2 adds its own lines
            tail = [r for r in load.records if r.start_s > done_at_s]
            events = dict(syncer.events_seen)
            syncs = syncer.syncs
        haproxy_version = await hp.version()
    return {
        "scenario": "Marathon rolling restart (PUT same app id), HAProxy synced marathon-lb style",
        "instances": instances,
        "haproxy": haproxy_version,
        "haproxy_retry_on": haproxy_retry_on,
        "failed_requests": summary.failed,
        "abandoned_operations": ledger.abandoned,
        "deployment_s": round(deployment_s, 3),
        "put_at_s": round(put_at_s, 3),
        "total_s": round(time.monotonic() - started, 3),
        "tail_versions": sorted({str(r.version) for r in tail if r.ok}),
        "requests": summary.to_dict(),
        "ledger": ledger.to_dict(),
        "syncer": {"syncs": syncs, "events": events},
    }


def main(argv: list[str]) -> int:
    workdir = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="bluegreen-baseline-"))
    print(json.dumps(asyncio.run(run_baseline(workdir)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

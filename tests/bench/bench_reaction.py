"""Reaction latency: a Marathon event → the reactor's resulting write arriving at Marathon.

    .venv/bin/python -m tests.bench.bench_reaction [DEPLOYMENTS] [INSTANCES]

The production shape: the embedded Marathon (virtual executor) and the reactor daemon
(`python -m reactor run`, lb none, drain none) are separate processes; this process runs a
recording proxy in front of Marathon for the daemon (its REST calls AND its event stream pass
through it, so the event's extra hop is counted against us) and its own subscriber of Marathon's
`/v2/events` directly on Marathon. For every write the proxy receives, the trigger is the event
that made it due, as received by that subscriber:

- GREEN created (`api_post_event` of GREEN) → GREEN's first scale-up (`PUT /v2/apps/{green}`)
- last GREEN task of a batch healthy (`health_status_changed_event` alive / `instance_health_changed_event`
  healthy) → the BLUE kill-and-scale (`POST /v2/tasks/delete?scale=true`)
- BLUE's last kill done (the last BLUE event before it) → `DELETE /v2/apps/{blue}`

Each deployment: N BLUE → N GREEN, batch 1, GREEN tasks healthy 0.3 s after start. Also printed:
the daemon's own `bluegreen_reaction_seconds` histogram (trigger → first write sent, in-process).
Targets: p99 ≤ 50 ms. For scale: zdd.py polls every 5 s, Flagger ticks every 10 s.
"""

from __future__ import annotations

import asyncio
import math
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from reactor.cli.demo.scenario import start_local_marathon_subprocess
from reactor.core.labels import green_labels
from reactor.logs import configure
from tests.e2e.daemon import ReactorDaemon
from tests.e2e.machine import header
from tests.e2e.world import MarathonEvents, now_utc, wait_for
from tests.engine.harness import app_def
from tests.engine.proxy import RecordingProxy

GROUP = "rx"
HEALTH = "healthy-after-0.3s"


def pct(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def definition(app_id: str, n: int, previous: str | None, started_ago_s: float) -> dict[str, Any]:
    labels = green_labels(group=GROUP, target_instances=n, previous=previous,
                          started_at=now_utc() - timedelta(seconds=started_ago_s))
    return app_def(app_id, 0, labels, health=HEALTH)


def event_app(event: dict[str, Any]) -> str | None:
    if event.get("eventType") == "api_post_event":
        return str((event.get("appDefinition") or {}).get("id"))
    value = event.get("appId") or event.get("runSpecId")
    return None if value is None else str(value)


def is_healthy(event: dict[str, Any]) -> bool:
    t = event.get("eventType")
    return (t == "health_status_changed_event" and event.get("alive") is True) or (
        t == "instance_health_changed_event" and event.get("healthy") is True)


class Writes:
    """Arrival time of each write at the proxy (before it is forwarded)."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}

    def on_write(self, n: int, when: str) -> bool:
        if when == "before":
            self.arrived[n] = time.time()
        return False


def concerning(events: MarathonEvents, blue: str, green: str, since: float) -> list[tuple[float, Any]]:
    """The events since `since` that pairing may use for this BLUE/GREEN pair: those of either app,
    and Marathon deployment events that name BLUE (GREEN's id contains BLUE's). Filtering once per
    pair keeps the analysis linear in the events, not events x writes (50 groups: a minute)."""
    return [(t, e) for t, _, e in events.seen if t >= since and (
        event_app(e) in (blue, green)
        or (str(e.get("eventType", "")).startswith("deployment_") and blue in str(e)))]


def pair(proxy: RecordingProxy, writes: Writes, events: MarathonEvents, blue: str, green: str,
         since: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    seen = concerning(events, blue, green, since)
    prefix = blue.strip("/").replace("/", "_") + "."  # task ids of BLUE
    for w in proxy.writes:
        at = writes.arrived.get(w.n)
        if at is None or at < since:
            continue
        before = events_before(seen, at) if timed_write(w, blue, green, prefix) else []
        if w.method == "PUT" and w.path.endswith(green) and w.body == {"instances": 1}:
            trig = [t for t, e in before if e.get("eventType") == "api_post_event" and event_app(e) == green]
            key = "GREEN created -> first scale-up"
        elif w.method == "POST" and w.path == "/v2/tasks/delete" and all(
                str(t).startswith(prefix) for t in (w.body or {}).get("ids", [])):
            trig = [t for t, e in before if event_app(e) == green and is_healthy(e)]
            key = "GREEN batch healthy -> kill BLUE"
        elif w.method == "DELETE" and w.path.endswith(blue):
            trig = [t for t, e in before if event_app(e) == blue or (
                e.get("eventType", "").startswith("deployment_") and blue in str(e))]
            key = "BLUE's last kill done -> delete BLUE"
        else:
            continue
        if trig:
            out[key].append(at - trig[-1])
    return out


def timed_write(w: Any, blue: str, green: str, prefix: str) -> bool:
    """A write that `pair` or `pair_due` times for this BLUE/GREEN pair."""
    return ((w.method == "PUT" and w.path.endswith(green) and w.body == {"instances": 1})
            or (w.method == "POST" and w.path == "/v2/tasks/delete"
                and all(str(t).startswith(prefix) for t in (w.body or {}).get("ids", [])))
            or (w.method == "DELETE" and w.path.endswith(blue)))


def events_before(seen: list[tuple[float, Any]], at: float) -> list[tuple[float, Any]]:
    return [(t, e) for t, e in seen if t <= at]


def histogram(text: str) -> dict[str, tuple[float, float, float]]:
    """trigger -> (count, fraction <= 50 ms, mean s) from the daemon's Prometheus text."""
    buckets: dict[str, dict[float, float]] = defaultdict(dict)
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("bluegreen_reaction_seconds_bucket"):
            labels, value = line.rsplit(" ", 1)
            trig = labels.split('trigger="')[1].split('"')[0]
            le = labels.split('le="')[1].split('"')[0]
            buckets[trig][math.inf if le == "+Inf" else float(le)] = float(value)
        elif line.startswith("bluegreen_reaction_seconds_sum"):
            labels, value = line.rsplit(" ", 1)
            sums[labels.split('trigger="')[1].split('"')[0]] = float(value)
    out = {}
    for trig, b in buckets.items():
        count = b.get(math.inf, 0.0)
        if count:
            out[trig] = (count, b.get(0.05, 0.0) / count, sums.get(trig, 0.0) / count)
    return out


async def main(deployments: int, n: int) -> None:
    configure(fmt="console", level="error")
    with tempfile.TemporaryDirectory(prefix="bgrx-") as tmp:
        work = Path(tmp)
        writes = Writes()
        async with start_local_marathon_subprocess(executor="virtual", workdir=work,
                                                   extra_args=("--lenient",)) as lm, \
                RecordingProxy(lm.url, on_write=writes.on_write) as proxy, \
                MarathonEvents(lm.url) as events, aiohttp.ClientSession() as http:
            daemon = ReactorDaemon(work, [proxy.url], "/nonexistent", drain_source="none", lb_driver="none",
                                   log_level="warning")
            async with daemon:
                async def create(body: dict[str, Any]) -> None:
                    async with http.post(f"{lm.url}/v2/apps", json=body) as r:
                        assert r.status == 201, await r.text()

                blue = "/rx/web-0"
                await create(definition(blue, n, None, 3600))
                await wait_for(lambda: _history(daemon, 1), timeout_s=60, what="first deploy")
                samples: dict[str, list[float]] = defaultdict(list)
                durations = []
                for k in range(1, deployments + 1):
                    green = f"/rx/web-{k}"
                    since = time.time()
                    await create(definition(green, n, blue, 0))
                    await wait_for(lambda k=k: _history(daemon, k + 1), timeout_s=60, what=f"deployment {k}")
                    durations.append(time.time() - since)
                    await asyncio.sleep(0.3)  # let the last events of this deployment arrive (bench pacing)
                    for key, vals in pair(proxy, writes, events, blue, green, since).items():
                        samples[key].extend(vals)
                    blue = green
                internal = histogram(await daemon.metrics_text())
    print(header(f"bench_reaction: {deployments} deployments of {n} → {n} instances, batch 1, lb none, "
                 f"drain none, virtual tasks (healthy 0.3 s after start); reactor = daemon subprocess"))
    print(f"deployment wall time: median {pct(durations, 50):.2f} s\n")
    head = (f"{'Marathon event -> reactor write (received at Marathon)':<42} {'n':>5} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8}")
    print(head)
    print("-" * len(head))
    allv: list[float] = []
    for key, vals in samples.items():
        allv += vals
        print(f"{key:<42} {len(vals):>5} {pct(vals, 50) * 1000:>8.1f} {pct(vals, 99) * 1000:>8.1f} "
              f"{max(vals) * 1000:>8.1f}")
    print(f"{'all':<42} {len(allv):>5} {pct(allv, 50) * 1000:>8.1f} {pct(allv, 99) * 1000:>8.1f} "
          f"{max(allv) * 1000:>8.1f}   target p99 <= 50 ms: {'met' if pct(allv, 99) <= 0.05 else 'NOT met'}")
    print("\nthe daemon's bluegreen_reaction_seconds (trigger marked → first write sent, in-process):")
    for trig, (count, under_50, mean) in sorted(internal.items()):
        print(f"  {trig:<34} n={count:>5.0f}  <=50 ms: {under_50:6.1%}  mean {mean * 1000:6.1f} ms")
    print("\nfor scale: zdd.py polls every 5000 ms; Flagger's control loop ticks every 10000 ms")


async def _history(daemon: ReactorDaemon, n: int) -> bool:
    return len(await daemon.history()) >= n


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(args[0] if args else 25, args[1] if len(args) > 1 else 4))

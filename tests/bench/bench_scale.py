"""Many groups deploying at once on one reactor daemon.

    .venv/bin/python -m tests.bench.bench_scale [GROUPS] [INSTANCES] [sqlite|zookeeper] [--proxy]

With zookeeper, ZooKeeper is warmed up before the daemon starts (`warm_up`: the burst's kinds of
requests, under a scratch root), as a long-running ensemble is; BENCH_ZK_WARM=0 measures it
freshly started instead.

50 groups (default), each a BLUE app at rest with 4 virtual tasks on the embedded Marathon
(virtual executor, tasks healthy 0.3 s after start); then 50 GREEN apps are created at once with
the labels `bluegreen deploy` writes (instances 0) and the daemon (`python -m reactor run`, lb none,
drain none, batch 1) drives them all. Printed: completed/total, wall time until the last one,
reaction latency (Marathon event → write at Marathon) timed by the embedded Marathon itself
(`/_localmarathon/timeline`: each event's publication and each write's arrival on its own clock);
the daemon's own histogram; the CPU seconds of the daemon, the embedded Marathon, ZooKeeper and
the bench itself during the deployments (all share this machine's cores); the daemon's RSS
(current and peak), the load average before and after.

The daemon talks to Marathon directly: nothing of the bench sits in its path. With `--proxy`
(the yardstick of earlier rounds) its requests go through a recording proxy in the bench process,
which redirects `/v2/events` to Marathon itself as a standby does, and the bench reads its own
event stream; a second table then times each write at that proxy from the event as the bench
received it. That hop and the bench's parsing of every event cost a share of the same two cores.

The rows "from the event that made it due" start the clock at the later of that event and the end
of Marathon's deployment on GREEN (the reactor waits for it before scaling GREEN or killing BLUE);
with 50 deployments at once the embedded Marathon needs 0.1-0.4 s to end one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from reactor.cli.demo.scenario import start_local_marathon_subprocess
from reactor.core import labels as L
from reactor.logs import configure
from tests.bench.bench_reaction import (
    Writes,
    concerning,
    definition,
    event_app,
    events_before,
    histogram,
    is_healthy,
    pair,
    pct,
    timed_write,
)
from tests.e2e.daemon import ReactorDaemon
from tests.e2e.machine import header
from tests.e2e.world import MarathonEvents, wait_for
from tests.engine.harness import BLUE_STARTED, app_def
from tests.engine.proxy import RecordingProxy, Write
from tests.zookeeper import ZooKeeperServer

HEALTH = "healthy-after-0.3s"


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mib(pid: int) -> tuple[float, float]:
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


async def healthy_counts(http: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with http.get(f"{url}/v2/apps", params={"embed": "apps.tasks"}) as r:
        apps = (await r.json())["apps"]
    return {a["id"]: sum(1 for t in a.get("tasks") or [] if t.get("state") == "TASK_RUNNING" and all(
        h.get("alive") for h in t.get("healthCheckResults") or [{"alive": False}])) for a in apps}


async def main(groups: int, n: int, backend: str = "sqlite", via_proxy: bool = False) -> None:
    configure(fmt="console", level="error")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bgscale-") as tmp:
        work = Path(tmp)
        zk = ZooKeeperServer(work / "zk") if backend == "zookeeper" else None
        if zk is not None:
            zk.start()
            if os.environ.get("BENCH_ZK_WARM", "1") != "0":
                warm_s = warm_up(zk)
                print(f"ZooKeeper warmed up in {warm_s:.1f} s", file=sys.stderr)
        try:
            history, wall_s, cpu, rss, hwm, internal, samples = await run(work, groups, n, zk, via_proxy)
        finally:
            if zk is not None:
                zk.stop()
    report(groups, n, backend, via_proxy, history, wall_s, cpu, rss, hwm, internal, samples)
    print("load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
        *load_before, *os.getloadavg()))


#: transactions of each kind ZooKeeper serves before the burst (warm_up)
WARM_ROUNDS = 300


def warm_up(zk: ZooKeeperServer, groups: int = 50) -> float:
    """Serve ZooKeeper what a burst asks of it, WARM_ROUNDS times, under a scratch root the
    daemon never reads: 50 ephemeral sequential creates in one transaction, 50 listings and 50
    reads, 50 intent-sized setData in one transaction. A production ensemble is a JVM that has
    been serving for months; one started a second ago runs these code paths interpreted, and
    its first large transactions took 2-3 times as long (2.4 against 6.8 ms for 50 setData,
    measured alone). Returns the seconds it took."""
    from kazoo.client import KazooClient
    started = time.monotonic()
    client = KazooClient(hosts=zk.hosts)
    client.start(timeout=30)
    try:
        data = b"x" * 1500
        client.ensure_path("/bench-warm-up/leases")
        for i in range(groups):
            client.create(f"/bench-warm-up/intents/g{i}", data, makepath=True)
            client.ensure_path(f"/bench-warm-up/leases/g{i}")
        for _ in range(WARM_ROUNDS):
            tx = client.transaction()
            for i in range(groups):
                tx.create(f"/bench-warm-up/leases/g{i}/l-", b"o", ephemeral=True, sequence=True)
            made = tx.commit()
            reads = [client.get_children_async(f"/bench-warm-up/leases/g{i}") for i in range(groups)]
            reads += [client.get_async(f"/bench-warm-up/intents/g{i}") for i in range(groups)]
            for r in reads:
                r.get()
            tx = client.transaction()
            for i in range(groups):
                tx.set_data(f"/bench-warm-up/intents/g{i}", data)
            tx.commit()
            tx = client.transaction()
            for node in made:
                tx.delete(node)
            tx.commit()
        client.delete("/bench-warm-up", recursive=True)
    finally:
        client.stop()
        client.close()
    return time.monotonic() - started


async def run(work: Path, groups: int, n: int, zk: ZooKeeperServer | None,
              via_proxy: bool) -> tuple[Any, ...]:
    writes = Writes()
    async with start_local_marathon_subprocess(executor="virtual", workdir=work,
                                               extra_args=("--lenient",)) as lm, \
            aiohttp.ClientSession() as http:
        async def create(body: dict[str, Any]) -> None:
            async with http.post(f"{lm.url}/v2/apps", json=body) as r:
                assert r.status == 201, await r.text()

        blues = [f"/g{i}/web" for i in range(groups)]
        await asyncio.gather(*(create(app_def(b, n, {L.GROUP: f"g{i}", L.STARTED_AT: L.format_timestamp(
            BLUE_STARTED)}, health=HEALTH)) for i, b in enumerate(blues)))

        async def blues_healthy() -> bool:
            counts = await healthy_counts(http, lm.url)
            return all(counts.get(b, 0) >= n for b in blues)
        await wait_for(blues_healthy, timeout_s=120, what="every BLUE healthy", interval_s=0.5)
        async with contextlib.AsyncExitStack() as stack:
            proxy = events = None
            if via_proxy:
                proxy = await stack.enter_async_context(RecordingProxy(
                    lm.url, on_write=writes.on_write, redirect_events=True))
                events = await stack.enter_async_context(MarathonEvents(lm.url))
            daemon = ReactorDaemon(work, [proxy.url if proxy else lm.url], "/nonexistent",
                                   drain_source="none", lb_driver="none", log_level="warning")
            if zk is not None:
                with daemon.config.open("a") as fh:
                    fh.write(f'\n[coordination]\nbackend = "zookeeper"\nhosts = "{zk.hosts}"\n')
            async with daemon:
                assert daemon.proc is not None and lm.process is not None
                pid = daemon.proc.pid
                await settled(daemon)
                async with http.post(f"{lm.url}/_localmarathon/timeline", json={"record": True}) as r:
                    assert r.status == 200, await r.text()
                watched = {"daemon": pid, "marathon": lm.process.pid, "bench": os.getpid()}
                if zk is not None and zk.proc is not None:
                    watched["zookeeper"] = zk.proc.pid
                cpu0, t0 = {k: cpu_s(v) for k, v in watched.items()}, time.time()
                greens = [b + "-v2" for b in blues]
                bodies = []
                for i, (b, g) in enumerate(zip(blues, greens, strict=True)):
                    body = definition(g, n, b, 0)
                    body["labels"][L.GROUP] = f"g{i}"
                    body["labels"]["LOCALMARATHON_HEALTH"] = HEALTH
                    bodies.append(body)
                await asyncio.gather(*(create(body) for body in bodies))

                async def all_done() -> list[dict[str, Any]] | None:
                    h = await daemon.history(limit=1000)
                    return h if len(h) >= groups else None
                history = await wait_for(all_done, timeout_s=600, what="every group done", interval_s=0.5)
                wall_s = time.time() - t0
                cpu = {k: cpu_s(v) - cpu0[k] for k, v in watched.items()}
                rss, hwm = rss_mib(pid)
                internal = histogram(await daemon.metrics_text())
                await asyncio.sleep(0.3)  # the last events of the run (bench pacing)
                async with http.get(f"{lm.url}/_localmarathon/timeline") as r:
                    at_marathon = AtMarathon(await r.json())
            samples: dict[str, dict[str, list[float]]] = {"proxy": defaultdict(list),
                                                          "marathon": defaultdict(list)}
            sources: list[tuple[str, Any]] = [("marathon", (at_marathon, at_marathon, at_marathon))]
            if proxy is not None:
                sources.append(("proxy", (proxy, writes, events)))
            for b, g in zip(blues, greens, strict=True):
                for where, (p, w, e) in sources:
                    for key, vals in pair(p, w, e, b, g, t0).items():
                        samples[where][key].extend(vals)
                    for key, vals in pair_due(p, w, e, b, g, t0).items():
                        samples[where][key].extend(vals)
    return history, wall_s, cpu, rss, hwm, internal, samples


class AtMarathon:
    """The embedded Marathon's own record (`/_localmarathon/timeline`) in the shapes `pair` reads
    from the proxy, its arrival times and the bench's event stream: each event as Marathon
    published it and each write as it reached Marathon, on Marathon's clock. No proxy hop and no
    event client in the busy bench process lie in the path."""

    def __init__(self, timeline: dict[str, Any]) -> None:
        writes = list(enumerate(timeline["writes"], 1))
        self.writes = [Write(n, w["method"], w["path"], w["body"]) for n, w in writes]
        self.arrived = {n: w["at"] for n, w in writes}
        self.seen = [(e["at"], None, e["event"]) for e in timeline["events"]]


async def settled(daemon: ReactorDaemon) -> None:
    """Wait until the daemon's first reconcile of every group has ended (its work queue empty and
    no round running, three scrapes in a row): the burst then meets a running daemon, not one
    still starting, which is what the figures are about. Started together, the first rounds at
    rest (each group's lease taken and given back) and the burst's first rounds share the time."""
    quiet = 0
    for _ in range(600):
        text = await daemon.metrics_text()
        values = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith(("bluegreen_reconcile_queue_depth ", "bluegreen_reconcile_in_flight "))}
        quiet = quiet + 1 if len(values) == 2 and not any(values.values()) else 0
        if quiet >= 3:
            return
        await asyncio.sleep(0.1)  # bench pacing: scrape the daemon's /metrics
    raise AssertionError("the daemon's work queue never emptied")


def pair_due(proxy: RecordingProxy, writes: Writes, events: MarathonEvents, blue: str, green: str,
             since: float) -> dict[str, list[float]]:
    """As `pair`, but from the event that made the write due: the reactor scales GREEN and kills
    BLUE only once Marathon's deployment on GREEN (its creation, its last scale) has ended, so
    the trigger is the later of `pair`'s event and the last deployment event naming GREEN."""
    out: dict[str, list[float]] = defaultdict(list)
    seen = concerning(events, blue, green, since)
    prefix = blue.strip("/").replace("/", "_") + "."
    for w in proxy.writes:
        at = writes.arrived.get(w.n)
        if at is None or at < since:
            continue
        if not timed_write(w, blue, green, prefix):
            continue
        before = events_before(seen, at)
        if w.method == "PUT" and w.path.endswith(green) and w.body == {"instances": 1}:
            first = [t for t, e in before if e.get("eventType") == "api_post_event" and event_app(e) == green]
            key = "  GREEN created+deployed -> first scale-up"
        elif w.method == "POST" and w.path == "/v2/tasks/delete" and all(
                str(t).startswith(prefix) for t in (w.body or {}).get("ids", [])):
            first = [t for t, e in before if event_app(e) == green and is_healthy(e)]
            key = "  GREEN healthy+deployed -> kill BLUE"
        else:
            continue
        ended = [t for t, e in before if str(e.get("eventType", "")).startswith("deployment_")
                 and e.get("eventType") != "deployment_info" and green in str(e)]
        if first:
            out[key].append(at - max(first[-1], ended[-1] if ended else 0.0))
    return out


def report(groups: int, n: int, backend: str, via_proxy: bool, history: Any, wall_s: float,
           cpu: dict[str, float], rss: float, hwm: float, internal: Any, samples: Any) -> None:
    outcomes: dict[str, int] = defaultdict(int)
    for h in history:
        outcomes[h["outcome"]] += 1
    print(header(f"bench_scale: {groups} groups x {n} instances deploying at once, one daemon, batch 1, "
                 f"lb none, drain none, virtual tasks (healthy 0.3 s after start); coordination {backend}; "
                 + ("the daemon's requests through the bench's recording proxy" if via_proxy else
                    "the daemon connected to Marathon directly")))
    print(f"completed: {outcomes.get('completed', 0)}/{groups} {dict(outcomes)}; wall time until the last: "
          f"{wall_s:.1f} s")
    print(f"daemon RSS {rss:.0f} MiB (peak {hwm:.0f} MiB); CPU seconds over the {wall_s:.1f} s: " + ", ".join(
        f"{who} {secs:.1f} ({secs / wall_s:.0%} of one core)" for who, secs in cpu.items()))
    for where, title in (("marathon", "timed by the embedded Marathon: event published -> write arrived"),
                         ("proxy", "timed in the bench process: event received -> write at its proxy")):
        if samples[where]:
            print(f"Marathon event -> reactor write, {title}")
            table(samples[where])
    print("the daemon's bluegreen_reaction_seconds (trigger marked → first write sent):")
    for trig, (count, under_50, mean) in sorted(internal.items()):
        print(f"  {trig:<34} n={count:>6.0f}  <=50 ms: {under_50:6.1%}  mean {mean * 1000:6.1f} ms")


def table(samples: dict[str, list[float]]) -> None:
    allv = [v for key, vals in samples.items() if not key.startswith(" ") for v in vals]
    head = f"{'':<42} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(head)
    print("-" * len(head))
    due = {k: v for k, v in samples.items() if k.startswith(" ")}
    plain = {k: v for k, v in samples.items() if not k.startswith(" ")}
    for key, vals in [*plain.items(), ("all", allv), ("from the event that made it due:", []), *due.items()]:
        if not vals:
            print(key)
            continue
        print(f"{key:<42} {len(vals):>5} {pct(vals, 50) * 1000:>8.1f} {pct(vals, 99) * 1000:>8.1f} "
              f"{max(vals) * 1000:>8.1f}")


if __name__ == "__main__":
    argv = [a for a in sys.argv[1:] if a != "--proxy"]
    args = [int(a) for a in argv[:2]]
    asyncio.run(main(args[0] if args else 50, args[1] if len(args) > 1 else 4,
                     argv[2] if len(argv) > 2 else "sqlite", via_proxy="--proxy" in sys.argv[1:]))

"""Run as a child process by test_drain_bounds: one DrainWatcher against PORT with SOURCE; prints
one JSON line with the first "unknown" detail and the process's peak RSS (ru_maxrss, KiB)."""

from __future__ import annotations

import asyncio
import json
import resource
import sys

from reactor.adapters.drain import DrainEvent, DrainEventKind, DrainSource, DrainSpec, DrainWatcher


async def main(port: int, source: str, path: str) -> None:
    details: list[str] = []
    got = asyncio.Event()

    def on_event(event: DrainEvent) -> None:
        if event.kind is DrainEventKind.UNKNOWN:
            details.append(event.detail)
            got.set()

    async with DrainWatcher(on_event) as watcher:
        watcher.watch("task-1", DrainSpec(host="127.0.0.1", port=port, source=DrainSource(source),
                                          path=path, request_timeout_s=60, timeout_s=120))
        await asyncio.wait_for(got.wait(), 100)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"detail": details[0], "maxrss_kib": rss_kib}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))

"""Run as a child process by test_drain_bounds: one DrainWatcher against PORT with SOURCE; prints
one JSON line with the first "unknown" detail and the process's peak RSS (VmHWM, KiB)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

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
    rss_kib = peak_rss_kib()
    print(json.dumps({"detail": details[0], "maxrss_kib": rss_kib}))


def peak_rss_kib() -> int:
    """This process's own peak RSS. Not ru_maxrss: Linux keeps it across execve, so a child of a
    big parent (a pytest-xdist worker) would report the parent's peak; VmHWM belongs to the new
    address space that execve made."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))


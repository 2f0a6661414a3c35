"""A replica stand-in for the fencing tests, run as a separate process.

`python -m tests.zk.fencing_worker HOSTS GROUP OWNER COUNTER SESSION_S`: keeps trying to acquire
GROUP on ZooKeeper; while `may_act` and `confirm` allow, appends one line per "write" to
COUNTER (the resource the fencing protects). Prints `acquired` / `lost` on stdout as they happen.
"""

from __future__ import annotations

import asyncio
import sys
import time

from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.zookeeper_backend import ZooKeeperBackend

PACE_S = 0.01  # the worker's own write rate, not a synchronisation


async def main(hosts: str, group: str, owner: str, counter: str, session_s: float) -> None:
    backend = ZooKeeperBackend(hosts, owner=owner, session_timeout_s=session_s)
    backend.on_lost(lambda groups: print("lost", flush=True))
    async with backend:
        runner = asyncio.create_task(backend.run())
        with open(counter, "a", buffering=1) as out:  # noqa: ASYNC230 - a line per write is the point
            while True:
                await asyncio.sleep(PACE_S)
                try:
                    if not backend.may_act(group):
                        if await backend.acquire(group):
                            print("acquired", flush=True)
                        continue
                    if await backend.confirm(group) and backend.may_act(group):
                        out.write(f"{owner} {time.time():.6f}\n")
                except StoreError:
                    continue
        runner.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))

"""Child process for the "disk full" test: a SqliteBackend whose file may not grow (RLIMIT_FSIZE,
the kernel's real EFBIG on write), then may again. Prints one JSON line of what it saw.

`python -m tests.store.full_worker DB`
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys

from reactor.adapters.store.errors import StoreError
from reactor.adapters.store.sqlite_backend import SqliteBackend


async def main(db: str) -> dict[str, object]:
    seen: dict[str, object] = {}
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    async with SqliteBackend(db, owner="full", lease_ttl_s=30) as backend:
        assert await backend.acquire("/g")
        await backend.save_intent("/g", {"step": "small"}, finished=False)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
        try:
            await backend.save_intent("/g", {"blob": "x" * 2_000_000}, finished=False)
            seen["error"] = None
        except StoreError as exc:
            seen["error"] = str(exc)
        seen["ok_after_error"], seen["problem"] = backend.ok, backend.problem
        await backend.renew_once()  # must not raise
        seen["intent_after_error"] = await backend.load_intent("/g")
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        await backend.save_intent("/g", {"blob": "x" * 2_000_000}, finished=False)
        seen["ok_after_recovery"] = backend.ok
        seen["size_after_recovery"] = len((await backend.load_intent("/g") or {}).get("blob", ""))
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))), flush=True)

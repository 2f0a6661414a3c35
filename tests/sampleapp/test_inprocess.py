"""The sample app is importable and runnable in-process (build_app / SampleServer)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from reactor.sampleapp import SampleServer, SampleSettings
from tests.sampleapp.support import wait_until


async def test_in_process_server_abandons_work_and_writes_the_ledger(tmp_path: Path) -> None:
    settings = SampleSettings(port=0, version="v3", task_id="inproc", ledger_dir=str(tmp_path))
    server = SampleServer(settings)
    async with aiohttp.ClientSession() as s, server:
        await server.start()  # idempotent
        url = f"http://127.0.0.1:{server.port}"
        async with s.get(url + "/work?ms=0") as resp:
            assert resp.status == 200
        work = asyncio.create_task(s.get(url + "/work?ms=60000"))
        await wait_until(lambda: server.state.pending == 1, what="one operation in flight")
    await server.stop()  # idempotent
    assert isinstance((await asyncio.gather(work, return_exceptions=True))[0], aiohttp.ClientError)
    line = json.loads((tmp_path / "ledger.jsonl").read_text())
    assert line == {"task": "inproc", "version": "v3", "abandoned": 1, "completed": 1}

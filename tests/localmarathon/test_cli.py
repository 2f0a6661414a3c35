"""`bluegreen local-marathon` as a real process: readiness line, SIGTERM, no orphans, bad input."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp

from tests.localmarathon.conftest import wait_for
from tests.localmarathon.test_process_executor import _dead, read_pids


async def test_cli_serves_and_stops_on_sigterm_without_orphans(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reactor",
        "local-marathon",
        "--port",
        "0",
        "--executor",
        "process",
        "--port-range",
        "33000-33999",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("local-marathon listening on http://127.0.0.1:")
        url = line.split(" on ", 1)[1].strip()
        pids_file = tmp_path / "pids"
        app = {"id": "/cli", "cmd": f"sleep 1000 & echo $$ $! > {pids_file}; wait", "instances": 1}
        async with aiohttp.ClientSession() as http:
            for prefix in ("", "/service/marathon"):
                async with http.get(url + prefix + "/ping") as r:
                    assert (r.status, await r.text()) == (200, "pong")
            async with http.post(url + "/marathon/v2/apps", json=app) as r:
                assert r.status == 201
        pids = await read_pids(pids_file)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert await proc.stdout.read() == b""  # nothing but the one line on stdout
        await wait_for(_dead(*pids), timeout_s=5, what="task processes gone")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_rejects_bad_input_with_exit_2() -> None:
    bad = (["--port-range", "30000-20000"], ["--credentials", "nocolon"], ["--enable-features", "nope"])
    for args in bad:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "reactor",
            "local-marathon",
            "--port",
            "0",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 2 and out == b""
        assert b"bluegreen local-marathon:" in err


async def test_cli_lenient_and_task_killing_flags() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reactor",
        "local-marathon",
        "--port",
        "0",
        "--executor",
        "virtual",
        "--lenient",
        "--enable-features",
        "task_killing",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.split(" on ", 1)[1].strip()
        app = {"id": "/l", "cmd": "x", "instances": 0, "healthChecks": [{"intervalSeconds": 0.5}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/v2/apps", json=app) as r:
                assert r.status == 201, await r.text()  # fractional seconds accepted with --lenient
            async with http.get(url + "/v2/info") as r:
                assert (await r.json())["marathon_config"]["features"] == ["task_killing"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

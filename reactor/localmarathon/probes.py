"""Real health and readiness probes against tasks on 127.0.0.1 (process executor).

Owns: Marathon's pass criteria (reference §5.1): HTTP/HTTPS 200-399 within timeoutSeconds (HTTPS
certificates not verified, 1xx ignored with ignoreHttp1xx), TCP connect, COMMAND exit 0; MESOS_*
variants are treated like their Marathon-level twins. `lastFailureCause` is the status line or
the exception text. Must not: keep health state (health.py does).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp

from reactor.localmarathon.model import HOST, Instance


async def run_probe(
    session: aiohttp.ClientSession,
    inst: Instance,
    check: dict[str, Any],
    port: int | None,
    env: dict[str, str],
) -> tuple[bool | None, str]:
    """(True, "") pass, (False, cause) fail, (None, "") result to ignore (1xx with ignoreHttp1xx)."""
    protocol = str(check.get("protocol", "HTTP")).removeprefix("MESOS_")
    timeout_s = float(check.get("timeoutSeconds", 20))
    try:
        if protocol == "COMMAND":
            return await _command(str((check.get("command") or {}).get("value", "")), env, timeout_s)
        if port is None:
            return False, "no port for the health check"
        if protocol == "TCP":
            return await _tcp(port, timeout_s)
        scheme = "https" if protocol == "HTTPS" else "http"
        url = f"{scheme}://{HOST}:{port}{check.get('path', '/')}"
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=timeout_s), ssl=False, allow_redirects=False
        ) as resp:
            if resp.status < 200 and check.get("ignoreHttp1xx"):
                return None, ""
            if 200 <= resp.status <= 399:
                return True, ""
            return False, f"{resp.status} {resp.reason or ''}".strip()
    except TimeoutError:
        return False, f"Health check timed out after {timeout_s}s"
    except (OSError, aiohttp.ClientError) as exc:
        return False, str(exc) or type(exc).__name__


async def _tcp(port: int, timeout_s: float) -> tuple[bool, str]:
    _reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout_s)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


async def _command(command: str, env: dict[str, str], timeout_s: float) -> tuple[bool, str]:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        rc = await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return (True, "") if rc == 0 else (False, f"Command exited with status {rc}")


async def run_readiness(
    session: aiohttp.ClientSession, check: dict[str, Any], port: int | None
) -> tuple[bool, Any]:
    if port is None:
        return False, None
    scheme = "https" if check.get("protocol") == "HTTPS" else "http"
    url = f"{scheme}://{HOST}:{port}{check.get('path', '/')}"
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=float(check.get("timeoutSeconds", 10))), ssl=False
        ) as resp:
            body = await resp.text(errors="replace")
            ready = resp.status in (check.get("httpStatusCodesForReady") or [200])
            return ready, {"status": resp.status, "contentType": resp.content_type, "body": body}
    except (OSError, TimeoutError, aiohttp.ClientError):
        return False, None

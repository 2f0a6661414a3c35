"""What the DC/OS service-account login costs, against the embedded Marathon with --dcos-auth.

    .venv/bin/python -m tests.bench.bench_dcos_login

Prints: signing one RS256 login JWT (2048-bit key), one login round trip (sign + POST + answer),
and `GET /v2/info` latency through MarathonClient without auth vs. with a DC/OS token (the token
is checked by the server on every call; the client refreshes only at 80 % of its lifetime).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.dcos_auth import DcosToken, load_service_account
from reactor.localmarathon.dcos_auth import DcosAuth, parse_dcos_auth
from reactor.localmarathon.server import LocalMarathon
from tests.marathon.dcos_keys import write_private_key, write_public_key

UID = "bench"
N = 300


def _ms(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"{statistics.median(samples) * 1e3:7.2f} {q[94] * 1e3:7.2f}"


async def _calls(m: MarathonClient) -> list[float]:
    out = []
    for _ in range(N):
        t = time.perf_counter()
        await m.info()
        out.append(time.perf_counter() - t)
    return out


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    account = load_service_account(UID, write_private_key(tmp, "bench"), "http://unused/")
    token = DcosToken(account)
    signs = []
    for _ in range(N):
        t = time.perf_counter()
        token._login_jwt()
        signs.append(time.perf_counter() - t)
    rows = [("sign RS256 login JWT", _ms(signs))]
    auth = DcosAuth(dict([parse_dcos_auth(f"{UID}:{write_public_key(tmp, 'bench')}")]))
    async with LocalMarathon(port=0, dcos_auth=auth) as lm:
        login_url = lm.url + "/acs/api/v1/auth/login"
        logins = []
        async with aiohttp.ClientSession() as s:
            for _ in range(50):
                fresh = DcosToken(load_service_account(UID, tmp / "bench.pem", login_url))
                t = time.perf_counter()
                await fresh.authorization(s, True)
                logins.append(time.perf_counter() - t)
        rows.append(("login round trip", _ms(logins)))
        dcos = DcosToken(load_service_account(UID, tmp / "bench.pem", login_url))
        async with MarathonClient([lm.url], dcos=dcos) as m:
            rows.append(("GET /v2/info, DC/OS token", _ms(await _calls(m))))
    async with LocalMarathon(port=0) as lm, MarathonClient([lm.url]) as m:
        rows.append(("GET /v2/info, no auth", _ms(await _calls(m))))
    print(f"machine: {os.cpu_count()} cpu, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"{'':28} {'p50 ms':>7} {'p95 ms':>7}")
    for name, cells in rows:
        print(f"{name:28} {cells}")


if __name__ == "__main__":
    asyncio.run(main())

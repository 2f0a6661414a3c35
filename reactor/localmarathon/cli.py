"""`bluegreen local-marathon`: run the embedded Marathon until SIGTERM/SIGINT.

Owns: argument parsing, logging set-up (stderr), the single readiness line on stdout
(`local-marathon listening on http://HOST:PORT`), and a clean exit 0 on SIGTERM/SIGINT after all
task processes are stopped. Must not: contain server logic.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from reactor.localmarathon.dcos_auth import DcosAuth, parse_dcos_auth
from reactor.localmarathon.server import KNOWN_FEATURES, LocalMarathon, parse_port_range

EPILOG = """examples:
  bluegreen local-marathon --port 18080 --executor virtual
  bluegreen local-marathon --executor process --standby-port 18081 --credentials admin:secret
"""


def port(value: str) -> int:
    """A TCP port for argparse: 0 (pick a free one) to 65535."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {n}")
    return n


def positive_s(value: str) -> float:
    """Seconds > 0 for argparse."""
    try:
        s = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not s > 0 or s == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {value}")
    return s


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=port, default=8080, help="port to listen on; 0 picks a free one (default 8080)"
    )
    p.add_argument(
        "--executor",
        choices=("process", "virtual"),
        default="process",
        help="process: run each task's cmd locally; virtual: simulated tasks (default process)",
    )
    p.add_argument(
        "--standby-port",
        type=port,
        default=None,
        help="also run a standby that redirects /v2/events and proxies REST to this leader",
    )
    p.add_argument("--credentials", default=None, metavar="USER:PASS", help="require HTTP basic auth")
    p.add_argument("--dcos-auth", action="append", default=[], metavar="UID:PUBLIC_KEY_PEM",
                   help="DC/OS strict mode: serve POST /acs/api/v1/auth/login for this service account "
                        "(PEM text or file; repeatable) and require 'Authorization: token=...'")
    p.add_argument("--token-ttl-s", type=positive_s, default=432000.0,
                   help="lifetime of the tokens --dcos-auth issues (default 432000 = 5 days)")
    p.add_argument("--heartbeat-s", type=positive_s, default=10.0, help="SSE heartbeat period (default 10)")
    p.add_argument("--port-range", default="20000-29999", help="host ports for tasks (default 20000-29999)")
    p.add_argument(
        "--lenient",
        action="store_true",
        help="accept fractional health/readiness check seconds (fast tests; Marathon answers 422)",
    )
    p.add_argument(
        "--enable-features",
        default="",
        metavar="LIST",
        help="Marathon's --enable_features, comma-separated; task_killing shows TASK_KILLING on kills",
    )
    p.add_argument("--log-level", default="info", type=str.lower,
                   choices=("debug", "info", "warning", "error", "critical"), help="log level (default info)")


def features_of(spec: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in (spec or "").split(",") if f.strip())


async def serve(args: argparse.Namespace) -> int:
    lm = LocalMarathon(
        host=args.host,
        port=args.port,
        executor=args.executor,
        heartbeat_s=args.heartbeat_s,
        standby_port=args.standby_port,
        credentials=args.credentials,
        port_range=parse_port_range(args.port_range),
        lenient=args.lenient,
        features=features_of(args.enable_features),
        dcos_auth=dcos_auth_of(args),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with lm:
        print(f"local-marathon listening on {lm.url}", flush=True)
        if lm.standby_url:
            print(f"local-marathon standby on {lm.standby_url}", file=sys.stderr, flush=True)
        await stop.wait()
    return 0


def dcos_auth_of(args: argparse.Namespace) -> DcosAuth | None:
    """The `--dcos-auth` accounts, or None; raises ValueError naming a bad one."""
    specs = getattr(args, "dcos_auth", None) or []
    if not specs:
        return None
    return DcosAuth(dict(parse_dcos_auth(s) for s in specs), token_ttl_s=args.token_ttl_s)


def run(args: argparse.Namespace) -> int:
    from reactor.logs import configure

    configure(fmt="auto", level=getattr(args, "log_level", "info"))
    try:
        try:
            port_range = parse_port_range(args.port_range)
        except ValueError as exc:
            raise ValueError(f"--port-range: {exc}") from None
        if args.credentials is not None and ":" not in args.credentials:
            raise ValueError("--credentials must be USER:PASS")
        del port_range
        unknown = [f for f in features_of(args.enable_features) if f not in KNOWN_FEATURES]
        if unknown:
            known = ", ".join(KNOWN_FEATURES)
            raise ValueError(f"--enable-features: unknown feature {unknown[0]!r} (known: {known})")
        dcos_auth_of(args)  # bad --dcos-auth: one line and exit 2 before anything listens
        return asyncio.run(serve(args))
    except (ValueError, OSError) as exc:
        print(f"bluegreen local-marathon: {exc}", file=sys.stderr)
        return 2

"""`status`, `history`, `promote`, `abort`, `rollback`, `resume`: talk to the daemon's HTTP API.

Owns the client side of the API (`[api] listen`, bearer token from config/env) and how its
answers are printed; it never touches Marathon or the state store directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from reactor.cli.common import CliError, add_config_argument, read_secret, report, settings_from
from reactor.cli.exitcodes import Exit

EXAMPLES = {
    "status": "examples:\n  bluegreen status\n  bluegreen status web --json",
    "history": "examples:\n  bluegreen history\n  bluegreen history web --json",
    "promote": "example:\n  bluegreen promote web     # let a held deployment shift traffic",
    "abort": "example:\n  bluegreen abort web       # pause: keep BLUE and GREEN as they are",
    "rollback": "example:\n  bluegreen rollback web    # restore BLUE, remove GREEN",
    "resume": "example:\n  bluegreen resume web      # continue a paused deployment",
}


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.epilog = EXAMPLES[name]
    add_config_argument(p)
    if name in ("status", "history"):
        p.add_argument("group", nargs="?", help="only this group")
        p.add_argument("--json", action="store_true", help="print JSON")
    else:
        p.add_argument("group", help="the deployment group")
    p.add_argument("--api", metavar="HOST:PORT", help="daemon API address (default: [api] listen)")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except CliError as exc:
        return report(exc)


async def _request(method: str, url: str, token: str | None) -> tuple[int, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=15)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.request(method, url, headers=headers) as resp:
            body = await resp.json(content_type=None)
            return resp.status, body
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CliError(f"cannot reach the daemon API at {url}: {exc or type(exc).__name__}"
                       " (is 'bluegreen run' running?)", Exit.MARATHON_UNREACHABLE) from None
    except ValueError:
        raise CliError(f"the daemon API at {url} answered something that is not JSON",
                       Exit.MARATHON_UNREACHABLE) from None


def api_base_url(api: str | None, settings: Any) -> str:
    """`--api` (HOST:PORT or a URL) or `[api] listen` as a URL; a wildcard listen is called on
    loopback. A bad address is one line and exit 2."""
    from reactor.core.listen import client_url

    try:
        return client_url(api or settings.api.listen, tls=settings.api.tls_cert_file is not None)
    except ValueError as exc:
        raise CliError(f"--api: {exc}" if api else f"[api] {exc}", Exit.BAD_INPUT) from None


async def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    base = api_base_url(args.api, settings)
    token = read_secret(settings.api.token, settings.api.token_file)
    cmd = args.command
    if cmd == "status":
        url = f"{base}/v1/deployments" + (f"/{args.group}" if args.group else "")
        status, body = await _request("GET", url, token)
    elif cmd == "history":
        url = f"{base}/v1/history" + (f"?group={args.group}" if args.group else "")
        status, body = await _request("GET", url, token)
    else:
        status, body = await _request("POST", f"{base}/v1/deployments/{args.group}/{cmd}", token)
    if status >= 400:
        message = body.get("message") or body.get("error") if isinstance(body, dict) else body
        if status == 401:
            message = ("the daemon refused our API token (401): use the daemon's [api] token" if token
                       else "no API token (401): set [api] token or token_file in --config, "
                       "or BLUEGREEN_API__TOKEN")
        code = Exit.BAD_INPUT if status in (400, 401, 403, 404, 409) else Exit.MARATHON_UNREACHABLE
        raise CliError(f"{cmd} {getattr(args, 'group', '') or ''}: {message}".replace("  ", " "), code)
    if getattr(args, "json", False) or cmd not in ("status", "history"):
        print(json.dumps(body, indent=2, default=str))
    else:
        _print_table(cmd, body)
    return Exit.DONE


def _print_table(cmd: str, body: Any) -> None:
    rows = body if isinstance(body, list) else body.get("deployments", body.get("history", [body]))
    if not rows:
        print("no deployments" if cmd == "status" else "no finished deployments")
        return
    for row in rows:
        if cmd == "status":
            blockers = "; ".join(row.get("blockers") or []) or "-"
            print(f"{row.get('group')}: {row.get('phase')}  blue={row.get('blue_app')} "
                  f"green={row.get('green_app')}  {blockers}")
        else:
            print(f"{row.get('group')}: {row.get('outcome')}  {row.get('green_app')} "
                  f"in {row.get('duration_s', 0):.1f}s  finished {row.get('finished_at')}")

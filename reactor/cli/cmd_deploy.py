"""`bluegreen deploy APP.json`: validate, create GREEN with the contract's labels, drive it.

Owns the user-facing flow: local validation (exit 2, nothing sent), `--dry-run` (plan + JSON,
nothing sent), GREEN's creation, then either `--detach` (a running daemon takes over) or an
in-process Engine limited to the group, with live progress and a summary (`--json`: one JSON
object at the end). Exit codes per the contract.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reactor.cli.common import CliError, add_config_argument, report, settings_from
from reactor.cli.exitcodes import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("examples:\n  bluegreen deploy app.json\n"
                "  bluegreen deploy app.json --group web --batch-size 2 --json\n"
                "  bluegreen deploy app.json --dry-run\n"
                "  bluegreen deploy app.json --detach     # a running 'bluegreen run' drives it")
    p.add_argument("app_json", metavar="APP.json", help="Marathon app definition of the new version")
    add_config_argument(p)
    p.add_argument("--group", help="deployment group (default: BLUEGREEN_GROUP label, else the app id)")
    p.add_argument("--batch-size", type=int, metavar="N", help="GREEN tasks started per step")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the app JSON; send nothing")
    p.add_argument("--detach", action="store_true", help="create GREEN and leave it to the daemon")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
        from reactor import logs

        # the progress lines (terminal) or the one JSON object (--json) are the output: info logs
        # would bury them, so only warnings and errors are logged then (to stderr)
        quiet_logs = args.json or sys.stdout.isatty()
        logs.configure(settings.log.format.value if not args.json else "json",
                       "warning" if quiet_logs else settings.log.level)
        definition = _load(args)
        return asyncio.run(_run(args, settings, definition))
    except CliError as exc:
        return report(exc)


def _load(args: argparse.Namespace) -> dict[str, Any]:
    from reactor.core.appdef import AppDefinitionError, parse_app_definition

    if args.batch_size is not None and args.batch_size < 1:
        raise CliError("--batch-size must be at least 1", Exit.BAD_INPUT)
    try:
        raw = Path(args.app_json).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.app_json}: {exc.strerror}", Exit.BAD_INPUT) from None
    try:
        return parse_app_definition(raw)
    except AppDefinitionError as exc:
        raise CliError(f"{args.app_json}: invalid app definition: {exc}", Exit.BAD_INPUT) from None


async def _run(args: argparse.Namespace, settings: Any, definition: dict[str, Any]) -> int:
    from reactor.cli.deploy_flow import DeployFlow

    flow = DeployFlow(settings, definition, group=args.group, batch_size=args.batch_size,
                      json_output=args.json, tty=sys.stdout.isatty())
    if args.dry_run:
        return await flow.dry_run()
    green = await flow.create_green()
    if args.detach:
        await flow.detach()
        flow.say(f"GREEN {green} created in group {flow.group}; the daemon ('bluegreen run') drives it.")
        if args.json:
            print(json.dumps({"group": flow.group, "green_app": green, "detached": True}))
        return Exit.DONE
    return await flow.drive()


def batches(target: int, batch: int) -> int:
    return max(1, math.ceil(target / max(batch, 1)))


def now_utc() -> datetime:
    return datetime.now(UTC)

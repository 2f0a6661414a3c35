"""`bluegreen deploy APP.json|-`: validate, create GREEN with the contract's labels, drive it.

Owns the user-facing flow: reading the definition (file or stdin, `--set` overrides), local
validation (exit 2, nothing sent), `--dry-run` (plan + JSON, nothing sent), GREEN's creation, then
who acts: a daemon answering at `[api]` drives it (`--detach` returns at once, else its progress is
followed live — never a second actor); with no daemon an in-process Engine limited to the group
drives it under the group's lease, with live progress and a summary (`--json`: one JSON object at
the end). Exit codes per the contract.
"""

from __future__ import annotations

import argparse
import asyncio
import io
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
                "  bluegreen deploy app.json --detach     # a running 'bluegreen run' drives it\n"
                "  bluegreen deploy app.json --set instances=4 --set container.docker.image=web:2\n"
                "  curl -s $MARATHON/v2/apps/web | jq .app | bluegreen deploy - --set env.LEVEL=debug\n\n"
                "With a daemon ('bluegreen run') answering at [api] listen, the daemon drives the\n"
                "deployment and this command follows it live; without one, this command drives it itself.\n"
                "Driving it itself, Ctrl-C (or SIGTERM) pauses the deployment and prints the commands that\n"
                "continue or roll it back; following a daemon, Ctrl-C only stops following.\n"
                "The instance count is BLUE's (label BLUEGREEN_TARGET_INSTANCES overrides it); the app's\n"
                "own 'instances' counts only when there is no BLUE.")
    p.add_argument("app_json", metavar="APP.json",
                   help="Marathon app definition of the new version ('-' reads it from stdin)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a key of the definition (dotted path; VALUE is JSON if it parses)")
    add_config_argument(p)
    p.add_argument("--group", help="deployment group (default: BLUEGREEN_GROUP label, else the app id)")
    p.add_argument("--batch-size", type=int, metavar="N", help="GREEN tasks started per step")
    add_drive_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
        configure_logs(args, settings)
        definition = _load(args)
        return asyncio.run(_run(args, settings, definition))
    except CliError as exc:
        return report(exc)


def configure_logs(args: argparse.Namespace, settings: Any) -> None:
    from reactor import logs

    # the progress lines (terminal) or the one JSON object (--json) are the output: info logs
    # would bury them, so only warnings and errors are logged then (to stderr)
    quiet_logs = args.json or sys.stdout.isatty()
    logs.configure(settings.log.format.value if not args.json else "json",
                   "warning" if quiet_logs else settings.log.level)


def add_drive_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by `deploy` and `undo`."""
    p.add_argument("--dry-run", action="store_true", help="print the plan and the app JSON; send nothing")
    p.add_argument("--detach", action="store_true", help="create GREEN and leave it to the daemon")
    p.add_argument("--api", metavar="HOST:PORT", help="daemon API address (default: [api] listen)")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")


def _load(args: argparse.Namespace) -> dict[str, Any]:
    from reactor.cli import overrides
    from reactor.core.appdef import AppDefinitionError, parse_app_definition

    if args.batch_size is not None and args.batch_size < 1:
        raise CliError("--batch-size must be at least 1", Exit.BAD_INPUT)
    name = "stdin" if args.app_json == "-" else args.app_json
    try:
        raw = sys.stdin.buffer.read() if args.app_json == "-" else Path(args.app_json).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}", Exit.BAD_INPUT) from None
    try:
        definition = parse_app_definition(raw)
        if args.overrides:
            changed = overrides.apply(definition, args.overrides)
            definition = parse_app_definition(json.dumps(changed).encode())
        return definition
    except overrides.OverrideError as exc:
        raise CliError(str(exc), Exit.BAD_INPUT) from None
    except AppDefinitionError as exc:
        after = " (after --set)" if args.overrides else ""
        raise CliError(f"{name}: invalid app definition{after}: {exc}", Exit.BAD_INPUT) from None


async def deploy(args: argparse.Namespace, settings: Any, definition: dict[str, Any]) -> int:
    """Deploy `definition` (validated) per args: dry-run, detach, follow a daemon or drive here."""
    return await _run(args, settings, definition)


async def _run(args: argparse.Namespace, settings: Any, definition: dict[str, Any]) -> int:
    from reactor.cli.apiclient import DaemonApi
    from reactor.cli.deploy_flow import DeployFlow

    flow = DeployFlow(settings, definition, group=args.group, batch_size=args.batch_size,
                      json_output=args.json, tty=sys.stdout.isatty())
    if args.dry_run:
        return await flow.dry_run()
    api = DaemonApi.from_settings(settings, args.api)
    daemon = await api.reachable(flow.group)
    green = await flow.create_green(handover=daemon or args.detach)
    if args.detach or daemon:
        await flow.detach()
    if args.detach:
        who = "the daemon drives it" if daemon else (
            f"no daemon answers at {api.base} yet: 'bluegreen run' will drive it when it starts")
        flow.say(f"GREEN {green} created in group {flow.group}; {who}. "
                 f"Follow it: bluegreen watch {flow.group}")
        if args.json:
            print(json.dumps({"group": flow.group, "green_app": green, "detached": True}))
        return Exit.DONE
    if daemon:
        return await _follow_daemon(args, api, flow, green)
    return await flow.drive(config=args.config)


async def _follow_daemon(args: argparse.Namespace, api: Any, flow: Any, green: str) -> int:
    """The daemon drives GREEN: show its progress (the watch view) until the deployment ends."""
    from reactor.cli.cmd_watch import follow

    flow.say(f"the daemon at {api.base} drives it; following (Ctrl-C stops following, "
             "the deployment goes on)")
    try:
        row = await follow(api, flow.group, until_done=True, green_app=green,
                           out=io.StringIO() if args.json else None)
    except asyncio.CancelledError:
        cfg = f" --config {args.config}" if args.config else ""
        print(f"\nstopped following; the daemon goes on. Follow again: bluegreen watch {flow.group}{cfg}",
              file=sys.stderr)
        return 130
    outcome = (row or {}).get("outcome") or (row or {}).get("phase")
    if args.json:
        print(json.dumps({"group": flow.group, "green_app": green, "blue_app": flow.blue_id,
                          "outcome": outcome, "driven_by": "daemon", "phase": (row or {}).get("phase"),
                          "counts": (row or {}).get("counts")}, indent=2))
    else:
        flow.say(f"{outcome}: {green} (driven by the daemon)")
    return Exit.DONE if outcome == "completed" else Exit.NOT_DONE


def batches(target: int, batch: int) -> int:
    return max(1, math.ceil(target / max(batch, 1)))


def now_utc() -> datetime:
    return datetime.now(UTC)

"""`bluegreen undo GROUP [--to N]`: a new blue-green deployment of an earlier definition.

Owns choosing the definition from the group's history in the state store (no daemon
needed to read it) and turning it back into a user definition (the per-deployment contract labels
removed); the deployment itself is `deploy`'s (daemon or in-process, dry-run, detach, --json).
`--to N` is the number `bluegreen history GROUP` shows (#1 = the newest); without it, the last
completed deployment before the current version.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from reactor.cli.common import CliError, add_config_argument, report, settings_from
from reactor.cli.exitcodes import Exit

PER_DEPLOYMENT_LABELS = ("BLUEGREEN_COLOUR", "BLUEGREEN_PREVIOUS", "BLUEGREEN_STARTED_AT",
                         "BLUEGREEN_TARGET_INSTANCES", "BLUEGREEN_BATCH_SIZE")

STAMP = re.compile(r"-\d{14}(-\d+)?$")  # green_app_id's suffix when the requested id was taken


def add_arguments(p: argparse.ArgumentParser) -> None:
    from reactor.cli.cmd_deploy import add_drive_arguments

    p.epilog = ("examples:\n  bluegreen history web          # numbered, #1 = newest\n"
                "  bluegreen undo web             # back to the version before the current one\n"
                "  bluegreen undo web --to 3 --dry-run")
    p.add_argument("group", help="the deployment group")
    add_config_argument(p)
    p.add_argument("--to", type=int, metavar="N", help="history entry to deploy again (#N in 'history')")
    add_drive_arguments(p)


def run(args: argparse.Namespace) -> int:
    from reactor.cli.cmd_control import read_history
    from reactor.cli.cmd_deploy import configure_logs, deploy

    try:
        settings = settings_from(args)
        configure_logs(args, settings)
        rows = read_history(settings, args.group, 1000)
        number, record = choose(rows, args.group, args.to)
        definition = user_definition(record["green_definition"])
        if not args.json:
            print(f"undo {args.group}: deploying #{number} again ({record.get('green_app')}, "
                  f"finished {record.get('finished_at')})")
        args.batch_size = None
        return asyncio.run(deploy(args, settings, definition))
    except CliError as exc:
        return report(exc)


def choose(rows: list[dict[str, Any]], group: str, to: int | None) -> tuple[int, dict[str, Any]]:
    """(#N, record) to deploy again; one CliError line when there is none."""
    if not rows:
        raise CliError(f"undo {group}: no finished deployments in the history", Exit.BAD_INPUT)
    if to is not None:
        if not 1 <= to <= len(rows):
            raise CliError(f"undo {group}: --to must be from 1 to {len(rows)} (see 'bluegreen history "
                           f"{group}')", Exit.BAD_INPUT)
        number, record = to, rows[to - 1]
    else:
        completed = [(n, r) for n, r in enumerate(rows, 1) if r.get("outcome") == "completed"]
        if len(completed) < 2:
            raise CliError(f"undo {group}: no earlier completed deployment to go back to "
                           f"(see 'bluegreen history {group}')", Exit.BAD_INPUT)
        number, record = completed[1]
    if not isinstance(record.get("green_definition"), dict):
        raise CliError(f"undo {group}: history #{number} kept no app definition (it finished before "
                       "definitions were kept)", Exit.BAD_INPUT)
    return number, record


def user_definition(kept: dict[str, Any]) -> dict[str, Any]:
    """The kept GREEN definition as a user would write it: per-deployment labels removed, the
    instance count left to the deployment (BLUE's count, as for any deploy)."""
    out = dict(kept)
    labels = {k: v for k, v in (kept.get("labels") or {}).items() if k not in PER_DEPLOYMENT_LABELS}
    out["labels"] = labels
    out["instances"] = max(1, int(kept.get("instances") or 1))
    out["id"] = STAMP.sub("", str(kept["id"]))  # the id the user asked for (a stamp is added if taken)
    return out

"""`status`, `history`, `promote`, `pause` (alias `abort`), `rollback`, `resume`.

Owns the operator commands' client side: status and control go through the daemon's HTTP API
(`[api] listen`, bearer token from config/env); `history` reads the local state store (no daemon
needed). Human lines by default, `--json` for the raw answers. It never touches Marathon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

from reactor.cli import render
from reactor.cli.apiclient import DaemonApi
from reactor.cli.common import CliError, add_config_argument, report, settings_from
from reactor.cli.exitcodes import Exit

EXAMPLES = {
    "status": "examples:\n  bluegreen status\n  bluegreen status web --json\n"
              "  bluegreen status web --watch     # live view (same as 'bluegreen watch web')",
    "history": "examples:\n  bluegreen history\n  bluegreen history web --json",
    "promote": "example:\n  bluegreen promote web     # let a held deployment shift traffic",
    "pause": "example:\n  bluegreen pause web       # stop moving: keep BLUE and GREEN as they are\n"
             "  bluegreen resume web      # continue\n  bluegreen rollback web    # go back to BLUE",
    "abort": "Same as 'bluegreen pause': stop moving forward, keep BLUE and GREEN as they are.\n"
             "Coming from Argo Rollouts? Argo's 'abort' (go back to stable) is our 'rollback'.\n\n"
             "example:\n  bluegreen abort web",
    "rollback": "example:\n  bluegreen rollback web    # restore BLUE, remove GREEN",
    "resume": "example:\n  bluegreen resume web      # continue a paused deployment",
}
# the API's command for each CLI command (`pause` is the API's `abort`)
API_COMMAND = {"promote": "promote", "pause": "abort", "abort": "abort", "rollback": "rollback",
               "resume": "resume"}
HISTORY_LIMIT = 50


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.epilog = EXAMPLES[name]
    add_config_argument(p)
    if name in ("status", "history"):
        p.add_argument("group", nargs="?", help="only this group")
    else:
        p.add_argument("group", help="the deployment group")
    p.add_argument("--json", action="store_true", help="print JSON")
    if name == "status":
        p.add_argument("--watch", "-w", action="store_true", help="live view until Ctrl-C")
    if name != "history":
        p.add_argument("--api", metavar="HOST:PORT", help="daemon API address (default: [api] listen)")


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "history":
            return _history(args)
        if args.command == "status" and args.watch:
            from reactor.cli import cmd_watch

            return cmd_watch.run(args)
        return asyncio.run(_run(args))
    except CliError as exc:
        return report(exc)


def _history(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    rows = read_history(settings, args.group, HISTORY_LIMIT)
    if args.json:
        print(json.dumps({"history": rows}, indent=2, default=str))
    else:
        print("\n".join(render.history_lines(rows)))
    return Exit.DONE


def read_history(settings: Any, group: str | None, limit: int) -> list[dict[str, Any]]:
    """Finished deployments, newest first, from the state store itself (no daemon needed): the
    local SQLite file, or ZooKeeper where the replicas keep it. The records keep GREEN's whole
    definition (for `undo`), which the daemon's HTTP API does not serve."""
    from reactor.adapters.store.errors import StoreError
    from reactor.adapters.store.sqlite import StateStore

    if settings.coordination.backend.value == "zookeeper":
        return asyncio.run(_zookeeper_history(settings, group, limit))
    path = settings.state.path
    if not path.exists():
        return []
    try:
        with StateStore(path, owner="bluegreen-cli:history") as store:
            return store.list_history(group, limit)
    except StoreError as exc:
        raise CliError(f"cannot read the history in {path}: {exc}", Exit.BAD_INPUT) from None


async def _zookeeper_history(settings: Any, group: str | None, limit: int) -> list[dict[str, Any]]:
    from reactor.adapters.store.errors import StoreError
    from reactor.adapters.store.factory import build_backend

    c = settings.coordination
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # its retries: the one line below says it
    try:
        async with build_backend("zookeeper", owner="bluegreen-cli:history", state_path=settings.state.path,
                                 lease_ttl_s=settings.state.lease_ttl_s, zk_hosts=c.hosts, zk_root=c.root,
                                 session_timeout_s=c.session_timeout_s) as backend:
            return await backend.list_history(group, limit)
    except StoreError as exc:
        raise CliError(f"cannot read the history in ZooKeeper ({c.hosts}{c.root}): {exc}",
                       Exit.MISSING_COMPONENT) from None


async def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    api = DaemonApi.from_settings(settings, args.api)
    group = args.group
    if args.command == "status":
        path = f"/v1/deployments/{group}" if group else "/v1/deployments"
        body = await api.request("GET", path, f"status {group or ''}".strip())
        if args.json:
            print(json.dumps(body, indent=2, default=str))
        else:
            rows = [body] if group else body.get("deployments", [])
            print("\n".join(render.status_lines(rows, include_finished=bool(group))))
        return Exit.DONE
    cmd = args.command
    if not await api.reachable(group):
        from reactor.cli.cmd_deploy import configure_logs
        from reactor.cli.local_control import run_locally

        configure_logs(args, settings)  # warnings and errors only: the progress lines are the output
        return await run_locally(settings, group, cmd, API_COMMAND[cmd], json_output=args.json,
                                 config=args.config)
    answer = await api.request("POST", f"/v1/deployments/{group}/{API_COMMAND[cmd]}", f"{cmd} {group}")
    row = await _after(api, group, answer)
    if args.json:
        print(json.dumps({**answer, "phase_after": (row or {}).get("phase")}, indent=2, default=str))
    else:
        print(render.command_line(cmd, group, answer, row))
    return Exit.DONE


async def _after(api: DaemonApi, group: str, answer: dict[str, Any], timeout_s: float = 5.0) -> Any:
    """The group's row once the daemon has applied the command (its phase or counts moved), or
    the last row seen when `timeout_s` passes (the answer is then the phase at that time)."""
    before = answer.get("phase")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    row: Any = None
    while loop.time() < deadline:
        try:
            row = await api.request("GET", f"/v1/deployments/{group}", f"status {group}")
        except CliError:
            # the command was accepted; a `deploy` process serving the API may have finished the
            # deployment and exited already: the answer stands, the new phase is unknown
            return row
        if row.get("phase") != before or row.get("promoted"):
            return row
        await asyncio.sleep(0.1)  # polling interval of a bounded wait for the daemon's next step
    return row

"""`resume` / `rollback` / `promote` / `pause` when no daemon answers: act here, under the lease.

Owns the daemon-less path of the control commands (the way out after Ctrl-C on `deploy`, or when
the daemon is down): an Engine limited to the group records the command exactly as the API would
(same validation, same audit row) and drives the deployment here until it ends (`pause`: until it
is paused). If another reactor holds the group's lease, nothing is done: exit 3 naming it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from reactor.cli.common import CliError
from reactor.cli.errors import marathon_errors
from reactor.cli.exitcodes import Exit


async def run_locally(settings: Any, group: str, cmd: str, api_cmd: str, *, json_output: bool,
                      config: str | None) -> int:
    from reactor.cli.deploy_flow import without_window
    from reactor.cli.local_drive import Interrupted, LocalDrive, interrupted_message
    from reactor.engine.api import CommandRejected, UnknownGroup
    from reactor.engine.engine import Engine

    with marathon_errors():
        # as `deploy` without a daemon: no rollback window (it needs a reactor that keeps running;
        # this command would otherwise sit silent through it)
        async with Engine(without_window(settings), only_groups={group}, serve_api=False) as e:
            holder = await e.backend.holder(group)
            if holder is not None and holder != e.owner:
                raise CliError(f"{cmd} {group}: another reactor acts for the group ({holder}) but its "
                               "API does not answer here; use its --api", Exit.MISSING_COMPONENT)
            try:
                await e.control().command(group, api_cmd, source="cli:local")
            except UnknownGroup:
                raise CliError(f"{cmd} {group}: no deployment for group {group!r}", Exit.BAD_INPUT) from None
            except CommandRejected as exc:
                raise CliError(f"{cmd} {group}: {exc.reason}", Exit.BAD_INPUT) from None
            say = (lambda line: None) if json_output else print
            say(f"no daemon answers: {cmd} {group} runs here until the deployment "
                f"{'is paused' if api_cmd == 'abort' else 'ends'} (Ctrl-C pauses it)")
            driver = LocalDrive(e, group, say=say, tty=sys.stdout.isatty() and not json_output,
                                started=time.monotonic())
            try:
                outcome = await driver.run()
            except Interrupted as exc:
                print(interrupted_message(group, exc.phase, config), file=sys.stderr)
                return exc.exit_code
    ok = outcome == {"abort": "aborted", "rollback": "rolled_back"}.get(api_cmd, "completed")
    if json_output:
        print(json.dumps({"group": group, "command": cmd, "outcome": outcome, "driven_by": "cli"}))
    else:
        print(("\n" if sys.stdout.isatty() else "") + f"{group}: {outcome}")
    return Exit.DONE if ok else Exit.NOT_DONE

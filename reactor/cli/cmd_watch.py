"""`bluegreen watch [GROUP]` (and `status --watch`): a live view of what the daemon drives.

Owns the follow loop: the daemon's /v1/events (SSE) says when something happened, a read of
/v1/deployments after each event (and every second, for counts and pending operations that move
without an event) gives the state. On a terminal the view is redrawn in place with plain ANSI
(no curses, no extra dependency); otherwise one line per event and per change of a group's line.
`follow()` is also what an attached `deploy` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any, TextIO

from reactor.cli.apiclient import ApiRefused, DaemonApi
from reactor.cli.common import CliError, add_config_argument, report, settings_from
from reactor.cli.exitcodes import Exit
from reactor.cli.watchview import LAST_EVENTS, WatchModel

REFRESH_S = 1.0
FINAL_EVENT_S = 3.0
FINAL_EVENTS = ("deployment.completed", "rollback.completed", "deployment.failed")
FINISHED = ("done", "rolled_back", "failed")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("examples:\n  bluegreen watch            # every group, until Ctrl-C\n"
                "  bluegreen watch web        # one group\n"
                "  bluegreen watch web --until-done   # exit when its deployment ends (0 = completed)")
    add_config_argument(p)
    p.add_argument("group", nargs="?", help="only this group")
    p.add_argument("--until-done", action="store_true",
                   help="exit when the group's deployment ends (needs GROUP)")
    p.add_argument("--json", action="store_true", help="print each deploy event as one JSON line")
    p.add_argument("--api", metavar="HOST:PORT", help="daemon API address (default: [api] listen)")


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
        until_done = bool(getattr(args, "until_done", False))
        if until_done and not args.group:
            raise CliError("--until-done needs a GROUP", Exit.BAD_INPUT)
        api = DaemonApi.from_settings(settings, args.api)
        row = asyncio.run(follow(api, args.group, until_done=until_done, json_lines=args.json,
                                 recent=LAST_EVENTS, say_waiting=True))
    except CliError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return Exit.DONE  # watching is read-only: Ctrl-C leaves everything as it is
    return Exit.DONE if row is None or row.get("phase") == "done" else Exit.NOT_DONE


class Screen:
    """Redraws in place on a terminal; prints change lines otherwise."""

    def __init__(self, out: TextIO, model: WatchModel, *, tty: bool, json_lines: bool) -> None:
        self.out, self.model, self.tty, self.json_lines = out, model, tty and not json_lines, json_lines
        self._last: dict[str, str] = {}
        self._drawn = 0
        self.final_seen = asyncio.Event()  # a deployment's last event (completed, rolled back, failed)
        self.final_greens: set[str] = set()  # ... of the deployments of these GREEN apps

    def event(self, event: dict[str, Any]) -> None:
        line = self.model.apply_event(event)
        if line is None:
            return
        if event.get("event") in FINAL_EVENTS:
            self.final_greens.add(str(event.get("green_app")))
            self.final_seen.set()
        if self.json_lines:
            self.out.write(json.dumps(event) + "\n")
        elif not self.tty:
            self.out.write(f"{event.get('group')}: {line}\n")
        self.out.flush()

    def rows(self, rows: list[dict[str, Any]]) -> None:
        self.model.apply_rows(rows)
        if self.tty:
            self._redraw()
        elif not self.json_lines:
            for group in sorted(self.model.groups):
                if not self.model.groups[group].row:
                    continue
                line = self.model.summary_line(group)
                if self._last.get(group) != line:
                    self._last[group] = line
                    self.out.write(line + "\n")
            self.out.flush()

    def _redraw(self) -> None:
        lines = self.model.screen()
        up = f"\033[{self._drawn}F" if self._drawn else ""
        self.out.write(up + "".join(f"\033[2K{ln}\n" for ln in lines) + "\033[J")
        self.out.flush()
        self._drawn = len(lines)


async def follow(api: DaemonApi, group: str | None, *, until_done: bool = False, json_lines: bool = False,
                 out: TextIO | None = None, tty: bool | None = None,
                 green_app: str | None = None, recent: int = 0,
                 say_waiting: bool = False) -> dict[str, Any] | None:
    """Follow the daemon until Ctrl-C (or, with `until_done`, until GROUP's deployment — the one
    of `green_app` when given — ends); the group's last status row. `recent`: start with the last
    N events the daemon buffered. `say_waiting`: one line on stderr when GROUP has no deployment yet."""
    out = out or sys.stdout
    model = WatchModel(group)
    screen = Screen(out, model, tty=out.isatty() if tty is None else tty, json_lines=json_lines)
    changed = asyncio.Event()
    found = await _refresh(api, group, screen)  # no daemon: one line, exit 3, before any stream
    if say_waiting and not found:
        print(f"bluegreen: no deployment for group {group!r} yet; waiting for one (Ctrl-C to stop)",
              file=sys.stderr, flush=True)

    async def listen() -> None:
        async for event in api.events(group, recent):
            screen.event(event)
            changed.set()

    stream = asyncio.create_task(listen(), name="watch-events")
    try:
        while True:
            if until_done and group and _ended(model, group, green_app):
                await _final_event(screen, stream, model.groups[group].row.get("green_app"))
                return model.groups[group].row
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the cancellation
            # Ctrl-C sends when the event is set at the same moment, and the watch then never ends
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_S):
                    await changed.wait()
            changed.clear()
            if stream.done():
                stream.result()  # the daemon went away: its one line
                raise CliError("the daemon closed its event stream (stopped?)", Exit.MISSING_COMPONENT)
            await _refresh(api, group, screen)
    finally:
        stream.cancel()
        with contextlib.suppress(BaseException):
            await stream


async def _final_event(screen: Screen, stream: asyncio.Task[None], green: Any) -> None:
    """The status read can see the end before the stream delivers the last event: wait for that
    event (of this GREEN's deployment) a little, bounded, so the view ends with it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FINAL_EVENT_S
    while str(green) not in screen.final_greens and not stream.done() and loop.time() < deadline:
        screen.final_seen.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):  # (not wait_for: see follow)
                await screen.final_seen.wait()


def _ended(model: WatchModel, group: str, green_app: str | None) -> bool:
    view = model.groups.get(group)
    if view is None or view.row.get("phase") not in FINISHED:
        return False
    return green_app is None or view.row.get("green_app") == green_app


async def _refresh(api: DaemonApi, group: str | None, screen: Screen) -> bool:
    """Read the status rows into the screen; False when GROUP has no deployment (yet)."""
    if group:
        try:
            row = await api.request("GET", f"/v1/deployments/{group}", f"status {group}")
        except ApiRefused as exc:
            if exc.status != 404:  # 404: no deployment for the group yet; keep watching
                raise
            return False
        screen.rows([row])
    else:
        screen.rows((await api.request("GET", "/v1/deployments", "status")).get("deployments", []))
    return True

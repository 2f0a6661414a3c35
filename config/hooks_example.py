"""An example hooks module for bluegreen-reactor.

Use it with
    [hooks]
    modules = ["hooks_example"]
and the directory holding this file on PYTHONPATH (e.g. `PYTHONPATH=config bluegreen run ...`).

Handlers are called with the event's fields as keyword arguments: `id`, `event`, `group`,
`deployment_id`, `blue_app`, `green_app`, `tasks`, `counts`, `reason`, `timestamp` (the same JSON
values a webhook receives). Always accept `**_`: fields may be added in later versions.
Plain functions run in a worker thread; `async def` handlers run on the reactor's event loop
(never block in them).
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

import reactor

log = structlog.get_logger("hooks_example")


@reactor.on()  # no event names: every event
def log_every_event(event: str, group: str, green_app: str | None, counts: dict[str, int],
                    **_: object) -> None:
    log.info("deploy event", deploy_event=event, group=group, green_app=green_app, counts=counts)


@reactor.on("deployment.failed", "rollback.completed")
async def shout_on_failure(event: str, group: str, reason: str | None, **_: object) -> None:
    log.warning("deployment did not go through", deploy_event=event, group=group, reason=reason)


@reactor.gate("promotion.gate", timeout_s=5)
def change_freeze(group: str, **_: object) -> str:
    """Veto while a stop file exists; hold (wait for `bluegreen promote`) while BLUEGREEN_HOLD is set."""
    stop_file = Path(os.environ.get("BLUEGREEN_STOP_FILE", "/etc/bluegreen/STOP"))
    if stop_file.exists():
        log.warning("change freeze: vetoing promotion", group=group, stop_file=str(stop_file))
        return "veto"
    if os.environ.get("BLUEGREEN_HOLD"):
        return "hold"
    return "allow"

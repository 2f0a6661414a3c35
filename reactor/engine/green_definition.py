"""GREEN's app definition for one group's history (what `undo` deploys again).

Owns where the definition comes from: the `api_post_event` that created (or last updated) GREEN,
as the cluster view keeps it; otherwise one read from Marathon, started after the round's writes
were sent (a deployment adopted without that event: GREEN created while no reactor ran), and
folded into the intent by a later round. Holds nothing the store needs: lost with the process,
it is read again.
"""

from __future__ import annotations

from typing import Any

import structlog

from reactor.core.intent import Intent
from reactor.engine.deps import Deps

log = structlog.get_logger(__name__)


class GreenDefinition:
    def __init__(self, group: str, deps: Deps) -> None:
        self.group = group
        self.deps = deps
        # as read from Marathon (app id, definition), kept until the group's deployment ends so
        # that an intent reloaded without it (lease lost, store error) gets it
        self._read: tuple[str, dict[str, Any]] | None = None
        self._reading = False

    def fold(self, intent: Intent) -> Intent:
        """The intent with GREEN's definition, when it lacks it and one is known: as posted (50
        groups adopted at once otherwise cost 50 GETs, each delaying the groups behind it), else
        as read."""
        if intent.green_definition is not None:
            return intent
        if (posted := self.deps.view.definition(intent.green_app)) is not None:
            return intent.with_green_definition(posted)
        if self._read is not None and self._read[0] == intent.green_app:
            return intent.with_green_definition(self._read[1])
        return intent

    def read_if_missing(self, intent: Intent) -> None:
        """Read it once when the intent lacks it and no `api_post_event` brought it. Called after
        the round's writes were sent: nothing else depends on it, so it never delays a reaction,
        and a failed read is a warning."""
        green_id = intent.green_app
        if (intent.green_definition is not None or self._reading
                or self.deps.view.definition(green_id) is not None
                or (self._read is not None and self._read[0] == green_id)):
            return
        self._reading = True

        async def read() -> None:
            try:
                self._read = (green_id, await self.deps.marathon.app_definition(green_id))
            except Exception as exc:
                log.warning("GREEN's definition not read; undo will not offer it", app=green_id,
                            error=str(exc))
                return
            finally:
                self._reading = False
            self.deps.mark({self.group}, "definition")

        self.deps.spawn(read(), f"definition:{self.group}")

    def forget(self) -> None:
        """The group's deployment ended."""
        self._read = None

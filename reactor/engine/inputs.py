"""What operators and gates hand one group's controller between its rounds.

Owns the group's queued operator commands, its gate question in flight and the answer, and the
ones a round has
folded into an intent not saved yet: a save that fails gives them back (an accepted command is
never lost with a failed save); a lease found to be another's drops them (the holder serves
commands from then on). It decides nothing about what a command does (the planner does).
"""

from __future__ import annotations

from datetime import datetime

from reactor.core import actions as A
from reactor.core.deploy_events import GateAnswer
from reactor.core.intent import Command, Intent
from reactor.engine.deps import Deps

Answer = tuple[GateAnswer, str | None]


class OperatorInputs:
    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._answer: Answer | None = None
        self._unsaved: tuple[list[Command], Answer | None] = ([], None)  # folded, not stored yet
        self._asking = False

    def ask_gate(self, deps: Deps, group: str, action: A.RequestGate) -> None:
        """Ask the registered gates in the background, one question at a time; the answer (a
        gate's failure is a veto) waits here for the group's next round, which it marks."""
        gate = deps.gate
        if gate is None or self._asking:
            return
        self._asking = True

        async def ask() -> None:
            try:
                answer, reason = await gate(action.event), None
            except Exception as exc:  # a gate's failure is a veto (documented)
                answer, reason = GateAnswer.VETO, f"gate failed: {exc}"
            finally:
                self._asking = False
            self.gate_answer(answer, reason)
            deps.mark({group}, "gate")

        deps.spawn(ask(), f"gate:{group}")

    def command(self, command: Command) -> None:
        self._commands.append(command)

    def gate_answer(self, answer: GateAnswer, reason: str | None) -> None:
        self._answer = (answer, reason)

    def fold(self, intent: Intent, now: datetime) -> Intent:
        """`intent` with the queued commands and gate answer applied; they are unsaved until
        `saved()`."""
        for command in self._commands:
            intent = intent.with_command(command, now)
        if self._commands or self._answer is not None:
            commands, answer = self._unsaved
            self._unsaved = ([*commands, *self._commands], self._answer or answer)
        self._commands = []
        if self._answer is not None:
            intent = intent.with_gate_answer(*self._answer)
            self._answer = None
        return intent

    def saved(self) -> None:
        """The intent they were folded into is stored."""
        self._unsaved = ([], None)

    def restore(self) -> None:
        """Its save failed: back to the queue, ahead of what came meanwhile."""
        (commands, answer), self._unsaved = self._unsaved, ([], None)
        self._commands[:0] = commands
        if answer is not None and self._answer is None:
            self._answer = answer

    def drop(self) -> int:
        """The lease is another's: forget what was folded; how many commands that was."""
        (commands, _), self._unsaved = self._unsaved, ([], None)
        return len(commands)

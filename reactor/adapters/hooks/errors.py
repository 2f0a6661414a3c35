"""Typed failures of the hook transports (webhooks, commands)."""

from __future__ import annotations


class HookTransportError(Exception):
    """A hook could not be delivered or did not answer usefully."""


class HookTimedOut(HookTransportError):
    """The hook did not answer within its timeout (a command is killed, with its process group)."""


class HookRejected(HookTransportError):
    """The hook answered with a failure: a non-2xx status, or a command's non-zero exit."""

    def __init__(self, message: str, *, status: int | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.exit_code = exit_code

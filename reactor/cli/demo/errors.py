"""Typed errors of the demo pieces; the CLI maps each to one line and an exit code.

Owns only the exception types. Must not print, log or decide exit codes itself.
"""

from __future__ import annotations


class DemoError(Exception):
    """Base of every error raised by reactor.cli.demo."""


class ComponentMissing(DemoError):
    """A required external program is not installed (CLI exit code 3)."""

    def __init__(self, component: str, install_hint: str) -> None:
        super().__init__(f"{component} is not installed; install it with: {install_hint}")
        self.component = component
        self.install_hint = install_hint


class ComponentFailed(DemoError):
    """An external program or helper process did not start or answer in time."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"{component}: {detail}")
        self.component = component
        self.detail = detail

"""Helpers shared by CLI commands: loading settings with one clear error, printing errors.

Owns the mapping of typed errors to one line on stderr and an exit code; commands stay short.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from reactor.cli.exitcodes import Exit
from reactor.settings import ConfigError, Settings, load_settings


class CliError(Exception):
    """One line for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


def add_config_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", default=None,
                   help="TOML config file (default: built-in defaults + BLUEGREEN_* environment)")


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        problems = "; ".join(f"{path}: {problem_text(msg)}" for path, msg in exc.problems)
        raise CliError(f"invalid configuration {exc.source}: {problems}", Exit.BAD_INPUT) from None


def problem_text(message: str) -> str:
    """A validation message without pydantic's 'Value error, ' prefix."""
    return message.removeprefix("Value error, ")


def fail(message: str, code: Exit) -> NoReturn:
    raise CliError(message, code)


def report(exc: CliError) -> int:
    from reactor.logs import redact_text

    # a message may quote a URL with credentials (e.g. Marathon unreachable at http://u:p@h)
    print(f"bluegreen: {redact_text(str(exc))}", file=sys.stderr)
    return int(exc.code)


def read_secret(value: object, file: object) -> str | None:
    """A secret from its value (SecretStr) or from a file; None when neither is set."""
    from reactor.settings import secret_value

    try:
        return secret_value(value, file)  # type: ignore[arg-type]
    except OSError as exc:
        raise CliError(f"cannot read token file {file}: {exc.strerror}", Exit.BAD_INPUT) from None

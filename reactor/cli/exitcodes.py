"""Exit codes of the `bluegreen` command (interface.md)."""

from enum import IntEnum


class Exit(IntEnum):
    DONE = 0
    NOT_DONE = 1  # rolled back, aborted or failed
    BAD_INPUT = 2  # bad usage, config or input; nothing was changed
    MISSING_COMPONENT = 3  # e.g. no haproxy binary
    MARATHON_UNREACHABLE = 4  # Marathon unreachable or refusing

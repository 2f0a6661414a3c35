"""Typed errors of the state store: what callers catch at the adapter boundary.

Owns the exception classes only; it must not import sqlite3 or know how the store works.
"""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The state file cannot be used (unreadable, corrupt, not a database, permission denied...).

    The message names the path; nothing in the file was changed.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"state store {self.path}: {problem}")

    def __reduce__(self) -> tuple[object, ...]:  # picklable across processes (multiprocessing)
        return (type(self), (self.path, self.problem))


class InvalidRecord(StoreError, ValueError):
    """A value handed to the store cannot be stored (missing key, not JSON-serializable)."""


class LeaseLost(Exception):
    """Another owner holds a live lease on the group: this process must not act on it."""

    def __init__(self, group: str, holder: str | None) -> None:
        self.group = group
        self.holder = holder
        super().__init__(f"group {group!r}: lease held by {holder or 'nobody'}, not by this process")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.group, self.holder))


class RevisionConflict(Exception):
    """The intent changed since it was read (compare-and-set failed): re-read and re-plan."""

    def __init__(self, group: str, expected: int, actual: int) -> None:
        self.group = group
        self.expected = expected
        self.actual = actual
        super().__init__(f"group {group!r}: intent is at revision {actual}, expected {expected}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.group, self.expected, self.actual))

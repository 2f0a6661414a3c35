"""Allow-lists of the operator: which groups the reactor may act on, which LB backends it may touch.

Owns the matching rule of `[deploy] allowed_groups` and `[lb] allowed_backends`: an empty list
allows everything; otherwise a name must match one entry, literally or as an fnmatch pattern
(`web-*`, `team-?`), case-sensitively. Anyone who may set Marathon labels can name a group or a
backend (`BLUEGREEN_GROUP`, `BLUEGREEN_LB_BACKEND`); these lists bound what that person can make
the reactor do. Pure: the engine calls these before acting and reports the refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase


def name_allowed(name: str, allowed: Sequence[str]) -> bool:
    """True when `allowed` is empty or one entry matches `name` (literal or fnmatch pattern)."""
    return not allowed or any(name == pattern or fnmatchcase(name, pattern) for pattern in allowed)


def group_refusal(group: str, allowed_groups: Sequence[str]) -> str | None:
    """None when the reactor may act on `group`; else the one-line reason (for logs and status)."""
    if name_allowed(group, allowed_groups):
        return None
    return f"group {group!r} is not in [deploy] allowed_groups ({', '.join(allowed_groups)})"


def backend_refusal(backend: str, allowed_backends: Sequence[str]) -> str | None:
    """None when the reactor may change `backend` (the name after templating); else the reason."""
    if name_allowed(backend, allowed_backends):
        return None
    return f"LB backend {backend!r} is not in [lb] allowed_backends ({', '.join(allowed_backends)})"

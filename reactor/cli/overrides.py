"""`deploy --set KEY=VALUE`: override keys of the app definition before it is validated.

Owns the syntax: KEY is a dotted path (`container.docker.image`, `env.LOG_LEVEL`; a number selects
a list element: `portDefinitions.0.port`), VALUE is JSON when it parses (`4`, `true`, `[1,2]`,
`{"a":1}`, `null`) and a string otherwise. A bad KEY=VALUE raises OverrideError with one line.
Pure: no I/O.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+$")


class OverrideError(ValueError):
    """A --set argument that cannot apply; the message names it."""


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    if not sep:
        raise OverrideError(f"--set {item!r}: expected KEY=VALUE, e.g. --set instances=4")
    parts = key.strip().split(".")
    bad = next((p for p in parts if not _SEGMENT.match(p)), None)
    if bad is not None:
        raise OverrideError(f"--set {item!r}: bad key {key.strip()!r} (dotted names like "
                            "container.docker.image)")
    return parts, parse_value(raw)


def apply(definition: dict[str, Any], items: list[str]) -> dict[str, Any]:
    """A copy of `definition` with every KEY=VALUE applied in order."""
    out = copy.deepcopy(definition)
    for item in items:
        parts, value = parse(item)
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, item, ".".join(parts[:i + 1]))
        _assign(node, parts[-1], value, item)
    return out


def _child(node: Any, part: str, item: str, where: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, item)]
    if not isinstance(node, dict):
        raise OverrideError(f"--set {item!r}: {where.rsplit('.', 1)[0]} is not an object")
    if part not in node or node[part] is None:
        node[part] = {}
    return node[part]


def _assign(node: Any, part: str, value: Any, item: str) -> None:
    if isinstance(node, list):
        node[_index(node, part, item)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise OverrideError(f"--set {item!r}: the parent of {part!r} is not an object")


def _index(node: list[Any], part: str, item: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise OverrideError(f"--set {item!r}: {part!r} is not an index of a list of {len(node)}")
    return int(part)

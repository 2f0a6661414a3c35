"""Reading a pending-operations count out of a metrics payload (Prometheus text or JSON).

Pure functions; every failure is a MetricUnreadable whose message names the problem, so the
watcher can report it as UNKNOWN without ever treating a bad payload as drained.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


class MetricUnreadable(Exception):
    """The payload did not yield a pending count; str(exc) says why."""


def count_from_number(value: Any, where: str) -> int:
    """A non-negative count; fractions round up so that 0.5 pending is never 'drained'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricUnreadable(f"{where} is not a number: {_short(value)}")
    if math.isnan(value) or math.isinf(value):
        raise MetricUnreadable(f"{where} is {value}")
    if value < 0:
        raise MetricUnreadable(f"{where} is negative: {value}")
    return math.ceil(value)


def count_from_prometheus(text: str, metric: str, labels: Mapping[str, str]) -> int:
    """Sum of the samples named `metric` whose labels include `labels`."""
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises assorted types on garbage; none may escape
        raise MetricUnreadable(f"not Prometheus text exposition: {exc}") from None
    total = 0.0
    found = 0
    for family in families:
        for sample in family.samples:
            if sample.name != metric:
                continue
            if any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            found += 1
            total += sample.value
    if not found:
        matcher = f" with labels {dict(labels)}" if labels else ""
        names = sorted({s.name for f in families for s in f.samples})
        raise MetricUnreadable(f"metric {metric!r}{matcher} not found; payload has {_names(names)}")
    return count_from_number(total, f"metric {metric!r}")


def count_from_json(raw: bytes | str, path: str) -> int:
    """The number at dotted `path` (list items by index) of a JSON document."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetricUnreadable(f"not JSON: {exc}") from None
    return count_from_document(doc, path)


def count_from_document(doc: Any, path: str) -> int:
    if isinstance(doc, int | float) and not isinstance(doc, bool) and path in ("", "."):
        return count_from_number(doc, "payload")
    node = doc
    walked: list[str] = []
    for key in path.split("."):
        walked.append(key)
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise MetricUnreadable(f"JSON path {path!r} not found at {'.'.join(walked)!r}")
    return count_from_number(node, f"JSON path {path!r}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(names: list[str]) -> str:
    if not names:
        return "no samples"
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")

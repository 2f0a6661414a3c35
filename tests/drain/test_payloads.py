"""Reading a pending count out of Prometheus text and JSON: table-driven, every failure named."""

from __future__ import annotations

import re

import pytest

from reactor.adapters.drain import MetricUnreadable
from reactor.adapters.drain.payloads import count_from_json, count_from_prometheus

PROM = """# TYPE pending_operations gauge
pending_operations{pool="db"} 2
pending_operations{pool="cache"} 3
other_metric 7
"""


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("pending_operations 0\n", {}, 0),
    ("pending_operations 4.0\n", {}, 4),
    ("pending_operations 0.25\n", {}, 1),  # a fraction is not drained
    (PROM, {}, 5),
    (PROM, {"pool": "db"}, 2),
])
def test_prometheus_counts(text: str, labels: dict[str, str], expected: int) -> None:
    assert count_from_prometheus(text, "pending_operations", labels) == expected


@pytest.mark.parametrize(("text", "labels", "problem"), [
    ("this is not metrics at all", {}, "not Prometheus text exposition"),
    ("pending_operations lots\n", {}, "not Prometheus text exposition"),
    ("other_metric 1\n", {}, "metric 'pending_operations' not found; payload has other_metric"),
    ("", {}, "not found; payload has no samples"),
    (PROM, {"pool": "queue"}, "with labels {'pool': 'queue'} not found"),
    ("pending_operations NaN\n", {}, "is nan"),
    ("pending_operations -1\n", {}, "is negative"),
])
def test_prometheus_problems_are_named(text: str, labels: dict[str, str], problem: str) -> None:
    with pytest.raises(MetricUnreadable) as info:
        count_from_prometheus(text, "pending_operations", labels)
    assert problem in str(info.value)


@pytest.mark.parametrize(("raw", "path", "expected"), [
    ('{"gauges": {"db.pending": {"value": 3}}}', "gauges.db.pending.value", None),
    ('{"gauges": {"pending_operations": {"value": 3}}}', "gauges.pending_operations.value", 3),
    ('{"queues": [{"depth": 0}, {"depth": 2}]}', "queues.1.depth", 2),
    ('{"pending": 0}', "pending", 0),
])
def test_json_counts(raw: str, path: str, expected: int | None) -> None:
    if expected is None:  # dots inside a key cannot be addressed: the path is split on dots
        with pytest.raises(MetricUnreadable, match=re.escape("not found at 'gauges.db'")):
            count_from_json(raw, path)
    else:
        assert count_from_json(raw, path) == expected


@pytest.mark.parametrize(("raw", "problem"), [
    (b"<html>oops</html>", "not JSON"),
    (b'{"gauges": {}}', "JSON path 'gauges.pending.value' not found at 'gauges.pending'"),
    (b'{"gauges": {"pending": {"value": "three"}}}', "is not a number: 'three'"),
    (b'{"gauges": {"pending": {"value": true}}}', "is not a number: True"),
    (b'{"gauges": {"pending": {"value": null}}}', "is not a number: None"),
    (b'{"gauges": {"pending": {"value": -2}}}', "is negative"),
])
def test_json_problems_are_named(raw: bytes, problem: str) -> None:
    with pytest.raises(MetricUnreadable) as info:
        count_from_json(raw, "gauges.pending.value")
    assert problem in str(info.value)

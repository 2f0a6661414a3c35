"""config/grafana-dashboard.json and config/alerts.yml: they only query metrics the reactor exports
(names taken from the reactor's own metrics registry), the dashboard covers what operators watch,
and the rules pass `promtool check rules` and promtool's unit tests (tests/observability/alerts_test.yml)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from reactor.engine.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "config" / "grafana-dashboard.json"
ALERTS = REPO / "config" / "alerts.yml"

# PromQL words that look like identifiers but are not metric names
_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "rate", "increase", "irate", "delta",
    "histogram_quantile", "absent", "and", "or", "unless", "bool", "on", "ignoring", "group_left",
    "group_right", "topk", "bottomk", "label_values", "offset", "le", "clamp_min", "clamp_max",
}
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "gauge": ("",)}


def exported_series() -> set[str]:
    """Every series name the reactor's registry can expose (counter X → X_total, histogram → _bucket…)."""
    names = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """Identifiers of an expression that name metrics: strings, label matchers, ranges, grouping
    clauses, functions and Grafana variables removed."""
    text = re.sub(r"label_values\(([^,()]+),[^)]*\)", r" \1 ", expr)  # Grafana: (metric, label)
    text = re.sub(r'"[^"]*"', " ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {w for w in words if w not in _PROMQL_WORDS}


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["definition"]))
    return out


def alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]


def test_the_parser_finds_metric_names() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, outcome) (rate(bluegreen_drain_seconds_bucket'
            '{job=~"$job"}[$__rate_interval]))) and on (group) up == 0')
    assert metric_names(expr) == {"bluegreen_drain_seconds_bucket", "up"}
    assert metric_names("label_values(bluegreen_build_info, job)") == {"bluegreen_build_info"}
    assert "bluegreen_deployments_total" in exported_series()
    assert "bluegreen_reaction_seconds_bucket" in exported_series()
    assert "bluegreen_phase" in exported_series()


def test_dashboard_and_alerts_query_only_exported_metrics() -> None:
    exported = exported_series()
    unknown = [(where, name) for where, expr in dashboard_exprs() + alert_exprs()
               for name in metric_names(expr) if name not in exported]
    assert unknown == [], f"queries of metrics the reactor does not export: {unknown}"


def test_dashboard_covers_what_operators_watch() -> None:
    used = {name for _, expr in dashboard_exprs() for name in metric_names(expr)}
    for needed in ("bluegreen_deployments_total", "bluegreen_reaction_seconds_bucket",
                   "bluegreen_drain_seconds_bucket", "bluegreen_marathon_requests_total",
                   "bluegreen_event_stream_reconnects_total", "bluegreen_event_stream_connected",
                   "bluegreen_store_errors_total", "bluegreen_forced_kills_total"):
        assert needed in used, needed
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p.get("targets") for p in dash["panels"] if p["type"] != "row")


def test_alerts_cover_the_failure_modes() -> None:
    names = {name for name, _ in alert_exprs()}
    assert {"BluegreenDeploymentStuck", "BluegreenEventStreamDisconnected", "BluegreenStoreErrors",
            "BluegreenForcedKills"} <= names


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: .ci/setup installs Debian's 'prometheus' package"
    check = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent)
    assert unit.returncode == 0, unit.stdout + unit.stderr

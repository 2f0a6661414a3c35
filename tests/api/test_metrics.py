"""Metrics: own registry, phase gauge semantics, label values as documented."""

from __future__ import annotations

from prometheus_client import REGISTRY

from reactor.engine.metrics import Metrics


def _samples(m: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in m.registry.collect():
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_set_phase_keeps_only_the_current_phase_per_group() -> None:
    m = Metrics()
    m.set_phase("web", "scaling_green")
    m.set_phase("db", "draining")
    m.set_phase("web", "draining")
    m.set_phase("web", "draining")
    assert _samples(m, "bluegreen_phase") == {
        (("group", "db"), ("phase", "draining")): 1.0,
        (("group", "web"), ("phase", "draining")): 1.0,
    }
    m.clear_phase("web")
    m.clear_phase("nothing")
    assert list(_samples(m, "bluegreen_phase")) == [(("group", "db"), ("phase", "draining"))]


def test_counters_and_histograms() -> None:
    m = Metrics()
    m.count_deployment("completed", 120.0)
    m.count_deployment("rolled_back")
    m.observe_reaction("instance_health_changed_event", 0.0004)
    m.count_marathon_request("get", "/v2/apps/{id}", 200)
    m.count_marathon_event("status_update_event")
    m.count_stream_reconnect()
    m.observe_drain("drained", 3.0)
    m.count_hook_call("webhook:http://h/x", "ok")
    m.count_forced_kill(2)
    assert _samples(m, "bluegreen_deployments_total") == {
        (("outcome", "completed"),): 1.0, (("outcome", "rolled_back"),): 1.0}
    assert _samples(m, "bluegreen_deployment_duration_seconds_count") == {(("outcome", "completed"),): 1.0}
    reaction = _samples(m, "bluegreen_reaction_seconds_bucket")
    assert reaction[(("le", "0.001"), ("trigger", "instance_health_changed_event"))] == 1.0
    assert _samples(m, "bluegreen_marathon_requests_total") == {
        (("method", "GET"), ("route", "/v2/apps/{id}"), ("status", "200")): 1.0}
    assert _samples(m, "bluegreen_event_stream_reconnects_total") == {(): 1.0}
    assert _samples(m, "bluegreen_forced_kills_total") == {(): 2.0}
    assert _samples(m, "bluegreen_hook_calls_total") == {
        (("hook", "webhook:http://h/x"), ("outcome", "ok")): 1.0}


def test_instances_are_independent_and_not_global() -> None:
    a, b = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    a.count_stream_reconnect()
    assert _samples(b, "bluegreen_event_stream_reconnects_total") == {(): 0.0}
    assert REGISTRY.get_sample_value("bluegreen_event_stream_reconnects_total") is None
    assert b"bluegreen_event_stream_reconnects_total 1.0" in a.render()

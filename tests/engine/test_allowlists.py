"""`[deploy] allowed_groups` and `[lb] allowed_backends` bound what Marathon labels can make the
reactor do (anyone who may set labels could otherwise point it at any group or HAProxy backend).
Real embedded Marathon, real HAProxy, the production Engine."""

from __future__ import annotations

from pathlib import Path

from tests.engine.harness import (
    BLUE_ID,
    GREEN_ID,
    blue_def,
    green_def,
    haproxy_pool,
    local_marathon,
    make_settings,
    running_engine,
    wait_until,
)


async def test_a_group_outside_allowed_groups_is_left_alone(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest), haproxy_pool(tmp_path) as (proxy, lb):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        settings = make_settings(tmp_path, lm.url, deploy={"allowed_groups": ["api-*"]},
                                 lb={"driver": "haproxy", "haproxy": {"socket": str(proxy.sock)}})
        async with running_engine(settings) as run:
            await rest.create(green_def(2))
            await wait_until(lambda: run.engine.view.app(GREEN_ID) is not None, what="GREEN seen")
            await wait_until(lambda: "web" in run.engine._refused_groups, what="web refused")
            status = dict(run.engine.controllers.status)
        apps = await rest.apps()
        pool = await lb.observe("web")
    assert "web" not in status
    assert apps[GREEN_ID]["instances"] == 0  # never scaled
    assert pool == {}  # the group at rest was not put into service either


async def test_a_backend_outside_allowed_backends_is_never_touched(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest), haproxy_pool(tmp_path) as (proxy, lb):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        settings = make_settings(tmp_path, lm.url, lb={
            "driver": "haproxy", "haproxy": {"socket": str(proxy.sock)}, "allowed_backends": ["api"]})
        async with running_engine(settings) as run:
            registry = run.engine.metrics.registry

            def refused() -> float:
                return registry.get_sample_value(
                    "bluegreen_lb_errors_total",
                    {"operation": "observe", "error": "BackendNotAllowed"}) or 0.0
            await wait_until(lambda: refused() >= 1, what="the backend refused")
        pool = await lb.observe("web")
    assert pool == {}  # the group at rest would be put into service on an allowed backend


async def test_an_allowed_backend_is_served(tmp_path: Path) -> None:
    """The positive control of the test above: same world, the backend allowed by pattern."""
    async with local_marathon() as (lm, rest), haproxy_pool(tmp_path) as (proxy, lb):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        settings = make_settings(tmp_path, lm.url, lb={
            "driver": "haproxy", "haproxy": {"socket": str(proxy.sock)}, "allowed_backends": ["w*"]})
        async with running_engine(settings):
            async def served() -> bool:
                return sum(s.state.value == "ready" for s in (await lb.observe("web")).values()) == 2
            await wait_until(served, what="the group at rest put into service")

"""`[deploy] allowed_groups` and `[lb] allowed_backends` bound what Marathon labels can make the
reactor do (anyone who may set labels could otherwise point it at any group or HAProxy backend).
Real embedded Marathon, real HAProxy, the production Engine."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from tests.engine.harness import (
    BLUE_ID,
    GREEN_ID,
    GROUP,
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


async def test_invalid_labels_set_in_marathon_are_one_warning_and_no_write(tmp_path: Path) -> None:
    """A GREEN created in Marathon directly (not by `deploy`, which validates its labels) with a
    BLUEGREEN_* label that cannot be read: one warning naming it, nothing sent, no traceback
    (each round used to fail in the work queue, retried forever), and the lease given back (it
    was kept, so a `bluegreen deploy` without the daemon found the group held)."""
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(2))
        await rest.wait_app_healthy(BLUE_ID, 2)
        async with running_engine(make_settings(tmp_path, lm.url)) as run:
            await wait_until(lambda: run.engine.synced_once, what="engine synced")
            before = await rest.stats()
            with capture_logs() as logs:
                await rest.create(green_def(2, extra={"BLUEGREEN_BATCH_SIZE": "0"}))
                await wait_until(lambda: any(e["event"].startswith("invalid BLUEGREEN_* labels")
                                             for e in logs), what="the warning")
                for k in range(3):  # later rounds of the group say nothing new
                    run.engine.mark({GROUP}, f"test.{k}")
                    await wait_until(lambda: len(run.engine.queue) == 0 and run.engine.queue.in_flight == 0,
                                     what="rounds done")
                    # doing nothing for the group, it holds no lease: a CLI may still act for it
                    assert not run.engine.backend.may_act(GROUP)
                    assert await run.engine.backend.holder(GROUP) is None
            after = await rest.stats()
    said = [e for e in logs if e["event"].startswith("invalid BLUEGREEN_* labels")]
    assert len(said) == 1 and "BLUEGREEN_BATCH_SIZE" in said[0]["error"], said
    assert not [e for e in logs if e.get("exc_info") or e["log_level"] in ("error", "critical")], logs
    writes = ("PUT /v2/apps/{id}", "POST /v2/tasks/delete", "DELETE /v2/apps/{id}")
    assert all(after.get(w, 0) == before.get(w, 0) for w in writes), (before, after)

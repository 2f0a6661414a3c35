"""Whole deployments driven by the real Engine against the embedded Marathon (virtual tasks).

Each test ends with the invariants: after a rollback BLUE has its original count, all healthy,
and GREEN is gone; after completion BLUE is gone and GREEN serves the target; exactly one
history record with the outcome; deploy events in a sensible order.
"""

from __future__ import annotations

from pathlib import Path

from reactor.adapters.store.sqlite import StateStore
from reactor.core.registry import Registry
from tests.engine.harness import (
    BLUE_ID,
    GREEN_ID,
    CapacitySampler,
    PoolSampler,
    RunningEngine,
    assert_order,
    assert_rolled_back,
    blue_def,
    green_def,
    haproxy_pool,
    local_marathon,
    make_settings,
    running_engine,
    task_ports,
    wait_until,
)


def assert_batches(run: RunningEngine, sizes: list[int]) -> None:
    """GREEN grew batch by batch, each batch healthy (green.healthy) before the next scale."""
    events = [e for e in run.events() if e.name.value in ("green.scaled", "green.healthy")]
    scaled = [e.counts.get("instances") for e in events if e.name.value == "green.scaled"]
    assert scaled == sizes, f"GREEN scaled to {scaled}, expected {sizes}"
    names = [e.name.value for e in events]
    assert names == ["green.scaled", "green.healthy"] * len(sizes), names


def assert_one_history(run: RunningEngine, outcome: str) -> dict:
    with StateStore(run.engine.settings.state.path, owner="test") as store:
        history = store.list_history("web")
    assert len(history) == 1, history
    assert history[0]["outcome"] == outcome, history[0]
    return history[0]


async def test_happy_path_six_instances_batch_two(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(6))
        await rest.wait_app_healthy(BLUE_ID, 6)
        settings = make_settings(tmp_path, lm.url, deploy={"batch_size": 2})
        async with running_engine(settings) as run, CapacitySampler(rest) as sampler:
            await rest.create(green_def(6))
            record = await run.wait_finished()
            await rest.wait_app_healthy(GREEN_ID, 6)
        apps = await rest.apps()
    assert record["outcome"] == "completed", record
    assert_one_history(run, "completed")
    assert BLUE_ID not in apps
    assert apps[GREEN_ID]["instances"] == 6
    sampler.assert_floor(6)
    sampler.assert_blue_outlived_green_ramp(6)
    names = run.event_names()
    assert_order(names, "deployment.started", "green.scaled", "green.healthy", "traffic.shifted",
                 "blue.draining", "blue.drained", "blue.killed", "deployment.completed")
    assert_batches(run, [2, 4, 6])
    killed = [t for e in run.events() if e.name.value == "blue.killed" for t in e.tasks]
    assert len(killed) == len(set(killed)) == 6
    assert names.count("deployment.completed") == 1 and names[-1] == "deployment.completed"


async def test_happy_path_with_real_haproxy(tmp_path: Path) -> None:
    async with task_ports() as ports, local_marathon(ports.range) as (lm, rest), \
            haproxy_pool(tmp_path) as (proxy, lb):
        await rest.create(blue_def(6))
        await rest.wait_app_healthy(BLUE_ID, 6)
        blue_tasks = (await rest.apps())[BLUE_ID]["tasks"]
        for t in blue_tasks:  # BLUE serves before the deployment (as the previous deploy left it)
            await lb.add("web", t["id"], t["host"], t["ports"][0])
        settings = make_settings(tmp_path, lm.url, deploy={"batch_size": 2, "health_timeout_s": 120},
                                 lb={"driver": "haproxy", "haproxy": {"socket": str(proxy.sock)}})
        async with running_engine(settings) as run, CapacitySampler(rest) as sampler, \
                PoolSampler(lb, "web") as pool:
            await rest.create(green_def(6))
            # LB changes raise no event: the engine must look again by itself, long before the
            # 120 s health timeout would wake it
            record = await run.wait_finished(timeout_s=30)
        apps = await rest.apps()
        final = await lb.observe("web")
    assert record["outcome"] == "completed", record
    assert BLUE_ID not in apps
    green_ids = {t["id"] for t in apps[GREEN_ID]["tasks"]}
    ready = {tid for tid, s in final.items() if s.state.value == "ready"}
    assert ready == green_ids
    assert not {t["id"] for t in blue_tasks} & set(final), "killed BLUE tasks left in the backend"
    sampler.assert_floor(6)
    pool.assert_ready_floor(6)
    assert_order(run.event_names(), "deployment.started", "green.scaled", "green.healthy",
                 "traffic.shifted", "blue.draining", "blue.drained", "blue.killed", "deployment.completed")
    assert_batches(run, [2, 4, 6])


async def test_first_deploy_without_blue(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        settings = make_settings(tmp_path, lm.url, deploy={"batch_size": 1})
        async with running_engine(settings) as run:
            await rest.create(green_def(3, previous=None))
            record = await run.wait_finished()
            await rest.wait_app_healthy(GREEN_ID, 3)
    assert record["outcome"] == "completed" and record["blue_app"] is None, record
    assert_one_history(run, "completed")
    names = run.event_names()
    assert_order(names, "deployment.started", "green.scaled", "green.healthy", "deployment.completed")
    assert not {"blue.draining", "blue.killed", "rollback.started"} & set(names), names


async def test_green_never_healthy_rolls_back_with_blue_intact(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(4))
        await rest.wait_app_healthy(BLUE_ID, 4)
        settings = make_settings(tmp_path, lm.url, deploy={"batch_size": 2, "health_timeout_s": 1.0})
        async with running_engine(settings) as run, CapacitySampler(rest) as sampler:
            await rest.create(green_def(4, health="unhealthy"))
            record = await run.wait_finished()
            await assert_rolled_back(rest, 4, record)
    assert_one_history(run, "rolled_back")
    assert "not healthy within 1s" in (record["reason"] or ""), record
    sampler.assert_floor(4)
    names = run.event_names()
    assert_order(names, "deployment.started", "green.scaled", "rollback.started", "rollback.completed")
    assert not {"traffic.shifted", "blue.draining", "blue.killed"} & set(names), names


async def test_green_turning_unhealthy_midway_rolls_back(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(6))
        await rest.wait_app_healthy(BLUE_ID, 6)
        # min_healthy_s spaces the batches so that GREEN turns bad after some BLUE tasks are gone
        settings = make_settings(tmp_path, lm.url, deploy={"batch_size": 1, "min_healthy_s": 0.3})
        async with running_engine(settings) as run:
            await rest.create(green_def(6, health="unhealthy-after-1.0s"))
            record = await run.wait_finished()
            await assert_rolled_back(rest, 6, record)
    assert_one_history(run, "rolled_back")
    assert "became unhealthy" in (record["reason"] or ""), record
    names = run.event_names()
    assert_order(names, "green.healthy", "traffic.shifted", "blue.killed", "rollback.started",
                 "rollback.completed")
    assert names.index("rollback.started") > max(i for i, n in enumerate(names) if n == "blue.killed")


async def _drain_timeout_run(tmp_path: Path, policy: str) -> tuple[RunningEngine, dict, dict, set[str]]:
    """BLUE tasks keep 5 pending operations forever; GREEN tasks have none."""
    async with task_ports() as ports, local_marathon(ports.range) as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        blue = (await rest.apps())[BLUE_ID]
        ports.busy(blue, pending=5)
        settings = make_settings(tmp_path, lm.url, deploy={"batch_size": 1},
                                 drain={"source": "prometheus", "interval_s": 0.05, "timeout_s": 0.5,
                                        "on_timeout": policy, "require_lb_idle": False})
        async with running_engine(settings) as run:
            await rest.create(green_def(3))
            if policy == "pause":
                st = await run.wait_phase("paused")
                assert "drain timeout" in (st.intent.paused_reason or ""), st.intent.paused_reason
                assert "5 pending" in st.intent.paused_reason
                apps = await rest.apps()
                assert apps[BLUE_ID]["instances"] == 3, "a busy BLUE task was killed"
                await run.engine.control().command("web", "rollback", source="test")
            record = await run.wait_finished()
            if record["outcome"] == "rolled_back":
                await assert_rolled_back(rest, 3, record)
            apps = await rest.apps()
    return run, record, apps, {t["id"] for t in blue["tasks"]}


async def test_drain_timeout_pause_then_operator_rollback(tmp_path: Path) -> None:
    run, record, apps, blue_tasks = await _drain_timeout_run(tmp_path, "pause")
    assert record["outcome"] == "rolled_back"
    assert {t["id"] for t in apps[BLUE_ID]["tasks"]} == blue_tasks, "BLUE tasks were replaced"
    assert_order(run.event_names(), "blue.draining", "deployment.paused", "rollback.started",
                 "rollback.completed")
    assert "blue.killed" not in run.event_names()


async def test_drain_timeout_rollback_policy(tmp_path: Path) -> None:
    run, record, apps, blue_tasks = await _drain_timeout_run(tmp_path, "rollback")
    assert record["outcome"] == "rolled_back"
    assert "drain timeout" in record["reason"], record
    assert {t["id"] for t in apps[BLUE_ID]["tasks"]} == blue_tasks, "BLUE tasks were replaced"
    assert_order(run.event_names(), "blue.draining", "rollback.started", "rollback.completed")
    assert "blue.killed" not in run.event_names() and "deployment.paused" not in run.event_names()


async def test_drain_timeout_force_kills_and_counts(tmp_path: Path) -> None:
    run, record, apps, blue_tasks = await _drain_timeout_run(tmp_path, "force")
    assert record["outcome"] == "completed", record
    assert BLUE_ID not in apps and apps[GREEN_ID]["instances"] == 3
    assert record["counts"]["forced"] == 3, record
    killed = [e for e in run.events() if e.name.value == "blue.killed"]
    assert {t for e in killed for t in e.tasks} == blue_tasks
    assert all("forced after drain timeout" in (e.reason or "") for e in killed)
    assert "blue.drained" not in run.event_names()
    exposition = run.engine.metrics.render().decode()
    assert "bluegreen_forced_kills_total 3.0" in exposition.splitlines(), exposition


async def _held_at_promotion(rest, run: RunningEngine) -> None:
    st = await run.wait_phase("awaiting_promotion")
    assert any("promote" in b for b in st.blockers), st.blockers
    await rest.wait_app_healthy(GREEN_ID, 1)


async def test_promotion_held_until_promote(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url, deploy={"auto_promote": False})
        async with running_engine(settings) as run:
            await rest.create(green_def(3))
            await _held_at_promotion(rest, run)
            # held: a further reconcile (forced by a resync of the whole world) changes nothing
            run.engine.mark({"web"}, trigger="test")
            await wait_until(lambda: run.engine.queue is not None, what="queue")
            assert (await rest.apps())[BLUE_ID]["instances"] == 3
            assert not {"traffic.shifted", "blue.draining"} & set(run.event_names())
            reply = await run.engine.control().command("web", "promote", source="test")
            assert reply["accepted"]
            record = await run.wait_finished()
    assert record["outcome"] == "completed"
    assert_one_history(run, "completed")
    assert_order(run.event_names(), "green.healthy", "traffic.shifted", "blue.killed", "deployment.completed")


async def test_abort_then_resume_continues(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url, deploy={"auto_promote": False})
        async with running_engine(settings) as run:
            await rest.create(green_def(3))
            await _held_at_promotion(rest, run)
            control = run.engine.control()
            await control.command("web", "abort", source="test")
            st = await run.wait_phase("paused")
            assert st.intent.paused_reason == "aborted by operator"
            await control.command("web", "resume", source="test")
            await run.wait_phase("awaiting_promotion")
            await control.command("web", "promote", source="test")
            record = await run.wait_finished()
    assert record["outcome"] == "completed"
    assert_order(run.event_names(), "green.healthy", "deployment.paused", "deployment.resumed",
                 "traffic.shifted", "deployment.completed")


async def test_foreign_scale_of_blue_pauses_with_reason(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url, deploy={"auto_promote": False})
        async with running_engine(settings) as run:
            await rest.create(green_def(3))
            await _held_at_promotion(rest, run)
            await rest.scale(BLUE_ID, 5)
            st = await run.wait_phase("paused")
            assert st.intent.paused_reason is not None
            assert f"BLUE app {BLUE_ID} was scaled to 5 by someone else" in st.intent.paused_reason
            # the operator accepts it and rolls back: BLUE keeps its original 3 restored + extras
            await run.engine.control().command("web", "rollback", source="test")
            record = await run.wait_finished()
    assert record["outcome"] == "rolled_back"
    assert_order(run.event_names(), "green.healthy", "deployment.paused", "rollback.started",
                 "rollback.completed")


async def test_foreign_scale_of_green_pauses_with_reason(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url, deploy={"auto_promote": False})
        async with running_engine(settings) as run:
            await rest.create(green_def(3))
            await _held_at_promotion(rest, run)
            await rest.scale(GREEN_ID, 3)  # someone "helps" by scaling GREEN up to target
            st = await run.wait_phase("paused")
            assert f"GREEN app {GREEN_ID} was scaled to 3 by someone else" in (st.intent.paused_reason or "")
            assert (await rest.apps())[BLUE_ID]["instances"] == 3
            await run.engine.control().command("web", "rollback", source="test")
            record = await run.wait_finished()
            await assert_rolled_back(rest, 3, record)


async def test_gate_veto_rolls_back(tmp_path: Path) -> None:
    registry = Registry()
    asked: list[str] = []

    @registry.gate("promotion.gate")
    def no_friday_deploys(**event: object) -> str:
        asked.append(str(event.get("green_app")))
        return "veto"

    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url)
        async with running_engine(settings, registry=registry) as run:
            await rest.create(green_def(3))
            record = await run.wait_finished()
            await assert_rolled_back(rest, 3, record)
    assert asked == [GREEN_ID]
    assert "vetoed by the promotion gate" in record["reason"], record
    names = run.event_names()
    assert_order(names, "green.healthy", "promotion.gate", "rollback.started", "rollback.completed")
    assert not {"traffic.shifted", "blue.killed"} & set(names), names


async def test_daemon_started_before_green_starts_no_deployment_for_a_group_at_rest(tmp_path: Path) -> None:
    async with local_marathon() as (lm, rest):
        await rest.create(blue_def(3))
        await rest.wait_app_healthy(BLUE_ID, 3)
        settings = make_settings(tmp_path, lm.url)
        async with running_engine(settings) as run:
            await wait_until(lambda: run.engine.synced_once, what="first sync")
            await rest.create(green_def(3))
            record = await run.wait_finished()
            await wait_until(lambda: run.event_names().count("deployment.completed") >= 1, what="completion")
    assert record["outcome"] == "completed" and record["blue_app"] == BLUE_ID, record
    assert_one_history(run, "completed")
    assert run.event_names().count("deployment.started") == 1, run.event_names()

"""The chaos soak's CI run: 12 back-to-back deployments, each with a seeded random fault.

Twelve draws cover every fault kind at least once (plan.py shuffles whole rounds). Every
deployment must keep every invariant (tests/soak/invariants.py); a violation names the fault,
its moment and the seed, so `python -m tests.soak --deployments 12 --seed 12` reproduces it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.plan import KINDS, draw_plan
from tests.soak.report import table, violations
from tests.soak.runner import Soak, SoakConfig

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
SEED = 12
DEPLOYMENTS = 12


def test_plan_is_reproducible_and_covers_every_fault() -> None:
    plan = draw_plan(DEPLOYMENTS, SEED)
    assert plan == draw_plan(DEPLOYMENTS, SEED)
    assert plan != draw_plan(DEPLOYMENTS, SEED + 1)
    assert draw_plan(DEPLOYMENTS + 20, SEED)[:DEPLOYMENTS] == plan  # a longer run starts the same
    assert {d.kind for d in plan} == set(KINDS)
    assert all(0.2 <= d.at_s <= 4.0 for d in plan)


async def test_soak_of_twelve_deployments(workdir: Path) -> None:
    draws = draw_plan(DEPLOYMENTS, SEED)
    results = await Soak(workdir, SoakConfig(instances=2, rate_per_s=20.0)).run(draws)
    print("\n" + table(results))
    assert len(results) == DEPLOYMENTS, violations(results)
    assert violations(results) == []
    assert sum(r.outcome == "rolled_back" for r in results) == sum(d.bad_green for d in draws)

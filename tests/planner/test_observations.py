"""Which intent changes a round may save later (Intent.only_observations_differ): what the planner
records from watching GREEN, never a decision."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reactor.core.intent import Intent, Phase, new_intent

from .sim import T0


def _intent() -> Intent:
    return new_intent(group="web", deployment_id="d1", blue_app="/web-blue", green_app="/web-green",
                      target_instances=3, now=T0, blue_instances=3, green_instances=0)


@pytest.mark.parametrize("update", [
    {"green_seen": ("g.1",)},
    {"green_ever_healthy": ("g.1",)},
    {"green_seen": ("g.1", "g.2"), "green_ever_healthy": ("g.1",)},
])
def test_what_was_seen_of_green_may_wait(update: dict[str, object]) -> None:
    before = _intent()
    assert before.only_observations_differ(before.model_copy(update=update))


def test_greens_recorded_bounds_may_wait_but_not_the_count_we_asked_for() -> None:
    before = _intent()
    seen = before.green.model_copy(update={"high": 2, "config_version": "c1"})
    asked = before.green.expect(2)
    assert before.only_observations_differ(before.model_copy(update={"green": seen}))
    assert not before.only_observations_differ(before.model_copy(update={"green": asked}))


@pytest.mark.parametrize("update", [
    {"phase": Phase.SHIFTING},
    {"killed": {"b.1": T0}},
    {"draining": {"b.1": T0}},
    {"green_failed": ("g.1",)},
    {"seq": 1},
    {"green_scaled_at": T0 + timedelta(seconds=1)},
    {"green_seen": ("g.1",), "batch": 2},  # an observation together with a decision
])
def test_decisions_never_wait(update: dict[str, object]) -> None:
    before = _intent()
    assert not before.only_observations_differ(before.model_copy(update=update))


def test_no_change_is_not_a_deferred_change() -> None:
    before = _intent()
    assert not before.only_observations_differ(before)


def test_a_change_that_restates_the_intent_is_no_copy_and_a_real_one_is_checked() -> None:
    """A third of a plan's updates restate a value the intent holds: `changed` returns the intent
    itself then, and still refuses a misspelt field or a wrong type."""
    before = _intent()
    assert before.changed(seq=before.seq, draining={}) is before
    after = before.changed(seq=before.seq + 1)
    assert after is not before and after.seq == before.seq + 1 and before.seq == 0
    with pytest.raises(ValueError, match="no field"):
        before.changed(sqe=0)
    with pytest.raises(TypeError, match="must be an int"):
        before.changed(seq=True)

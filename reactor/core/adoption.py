"""When a deployment starts, which app is BLUE, the target count and the LB backend: pure decisions.

Owns the choices the daemon (adopting what it sees in Marathon) and the CLI (`deploy`, creating
GREEN) must make identically: the newest labelled app of a group is GREEN, the newest other one
BLUE; the target is GREEN's label, else BLUE's count; a lone app at its count is a group at rest.
Must not do I/O, read a clock, or log: `now` and the new deployment id are handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from reactor.core import labels as L
from reactor.core.intent import Intent, new_intent
from reactor.core.models import App

_EPOCH = datetime.min.replace(tzinfo=UTC)


def newest_app(apps: Iterable[App]) -> App | None:
    """The app with the latest BLUEGREEN_STARTED_AT label (the GREEN of a deployment), or None."""
    dated = [(L.started_at_of(a.labels), a.id, a) for a in apps]
    dated = [x for x in dated if x[0] is not None]
    return max(dated, key=lambda x: (x[0], x[1]))[2] if dated else None


def pick_blue(apps: Iterable[Any], green_id: str | None) -> Any | None:
    """BLUE: the newest app of the group other than GREEN (by start label, then by count)."""
    blues = [a for a in apps if a.id != green_id]
    if not blues:
        return None
    return max(blues, key=lambda a: (L.started_at_of(a.labels) or _EPOCH, a.instances))


def target_instances(labels: dict[str, str], blue_instances: int | None, fallback: int) -> int:
    """GREEN's BLUEGREEN_TARGET_INSTANCES label, else BLUE's count, else `fallback`."""
    target = L.target_instances_of(labels)
    if target is not None:
        return target
    return blue_instances if blue_instances is not None else fallback


def backend_name(template: str, group: str, labels: dict[str, str] | None) -> str:
    """The LB backend of a group: GREEN's BLUEGREEN_LB_BACKEND label, else the configured template."""
    o = L.overrides_of(labels) if labels is not None else L.Overrides()
    return o.lb_backend or template.format(group=group)


def recreated(app: App, finished: Intent) -> bool:
    """The app carries an id of the last deployment but was created after it ended (a new
    deployment that reuses a freed id)."""
    started = L.started_at_of(app.labels)
    return started is not None and finished.finished_at is not None and started > finished.finished_at


def continues(intent: Intent | None, green: App | None) -> bool:
    """The recorded intent is still the group's deployment (unfinished, or GREEN is one of its sides)."""
    if intent is None:
        return False
    if not intent.finished:
        return True
    sides = (intent.green_app, intent.blue_app)
    return green is not None and green.id in sides and not recreated(green, intent)


def start_or_continue(group: str, apps: Sequence[App], intent: Intent | None, *, may_start: bool,
                      new_id: Callable[[], str], now: datetime) -> Intent | None:
    """The intent to drive for a group now: the recorded one while it applies, a new one when the
    group's newest app is neither side of the last deployment (and `may_start`), else None
    (nothing to deploy: the group is at rest). `new_id()` names a new deployment; it is called
    only when one starts (ids are random: the caller's source, not read in every round)."""
    green = newest_app(apps)
    if green is None:
        return intent if intent is not None and not intent.finished else None
    if continues(intent, green):
        return intent
    if not may_start:
        return None
    blue = pick_blue(apps, green.id)
    target = target_instances(green.labels, blue.instances if blue is not None else None,
                              max(green.instances, 1))
    if blue is None and green.instances >= target:
        return None  # a lone app already at its count: the group is at rest, nothing to deploy
    return new_intent(
        group=group, deployment_id=new_id(), green_app=green.id, target_instances=target,
        now=now, blue_app=blue.id if blue else None,
        blue_instances=blue.instances if blue else 0, green_instances=green.instances)


def serving_apps(apps: Sequence[App], intent: Intent | None) -> list[App]:
    """The apps whose healthy tasks belong in the pool when no deployment runs: the group's newest
    app (the last GREEN, or the lone app), plus a BLUE kept for a rollback window if it has tasks."""
    green = newest_app(apps)
    if green is None:
        # unlabelled-start apps (e.g. created by hand with the group label only): all of them
        return list(apps)
    return [green]

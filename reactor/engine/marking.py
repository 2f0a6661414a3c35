"""When the groups a Marathon event changed are due for a round: at once, or within LOCKED_BATCH_S.

Owns that one rule. Task and health events of an app that a Marathon deployment holds, and an app
definition posted (`api_post_event`: Marathon starts a deployment on the app for it), mark their
groups within LOCKED_BATCH_S instead of at once. Nothing can be written to that app until the
deployment ends, and its end (`deployment_success`/`_failed`) marks at once; meanwhile its events
come in bursts (the post and the deployment's start; a task's staging, start and health; a batch
turning healthy a few ms before its deployment ends), each of which ran a round that could do
nothing, or adopted a new GREEN before its creation ended and so needed a second round and save
to scale it. With 50 groups deploying at once those rounds stood between the deployment ends and
the writes due on them. The delay is bounded, so nothing else waits longer than that (e.g. a
healthy GREEN task joining the LB pool before its deployment ends, a foreign change seen).
It must not mark anything itself (the engine does) nor read anything but the view it is given.
"""

from __future__ import annotations

from reactor.core import events as ev
from reactor.core.view import ClusterView

#: task and health events: batched while a Marathon deployment holds their app
BATCHED_WHILE_LOCKED = frozenset({
    "status_update_event", "instance_changed_event", "instance_health_changed_event",
    "health_status_changed_event", "failed_health_check_event", "add_health_check_event",
    "remove_health_check_event", "unknown_instance_terminated_event",
})
LOCKED_BATCH_S = 0.05


def mark_within(event: ev.MarathonEvent, event_type: str, app_id: str | None, view: ClusterView) -> float:
    """Seconds within which the event's groups are due: 0 (at once) or LOCKED_BATCH_S. `view` is
    the cluster view with the event already applied."""
    if isinstance(event, ev.ApiPostEvent):
        return LOCKED_BATCH_S
    if event_type in BATCHED_WHILE_LOCKED and app_id is not None and view.deployment_ids_for(app_id):
        return LOCKED_BATCH_S
    return 0.0

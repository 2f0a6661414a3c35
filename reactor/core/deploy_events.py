"""Deploy events of interface.md: the names, and the one model every transport carries.

Owns the event vocabulary that hooks, webhooks, the API's event stream and logs share. Event ids
are deterministic (derived from the deployment and the step they describe), so a restarted
reactor that re-plans the same step emits the same id and deliveries can be de-duplicated.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DeployEventName(StrEnum):
    DEPLOYMENT_STARTED = "deployment.started"
    GREEN_SCALED = "green.scaled"
    GREEN_HEALTHY = "green.healthy"
    PROMOTION_GATE = "promotion.gate"
    TRAFFIC_SHIFTED = "traffic.shifted"
    BLUE_DRAINING = "blue.draining"
    BLUE_DRAINED = "blue.drained"
    BLUE_KILLED = "blue.killed"
    DEPLOYMENT_PAUSED = "deployment.paused"
    DEPLOYMENT_RESUMED = "deployment.resumed"
    ROLLBACK_STARTED = "rollback.started"
    ROLLBACK_COMPLETED = "rollback.completed"
    DEPLOYMENT_COMPLETED = "deployment.completed"
    DEPLOYMENT_FAILED = "deployment.failed"


GATE_EVENTS = frozenset({DeployEventName.PROMOTION_GATE})


class GateAnswer(StrEnum):
    ALLOW = "allow"
    HOLD = "hold"
    VETO = "veto"


class DeployEvent(BaseModel):
    """One deploy event. `id` is stable across restarts for the same logical occurrence."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: DeployEventName
    group: str
    deployment_id: str
    blue_app: str | None
    green_app: str | None
    tasks: tuple[str, ...] = ()
    counts: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None
    timestamp: datetime

    def payload(self) -> dict[str, Any]:
        """The JSON object sent to webhooks/commands and streamed by the API."""
        return {"event": self.name.value, **self.model_dump(mode="json", exclude={"name"})}

"""App labels of the blue-green contract (interface.md) and the per-app overrides read from them.

Owns label names, group membership (incl. marathon-lb's HAPROXY_DEPLOYMENT_GROUP for migration),
and parsing/validation of the optional BLUEGREEN_* overrides. Labels are written only when GREEN
is created (any later label change restarts every task), so nothing here builds label updates
for a live app.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

GROUP = "BLUEGREEN_GROUP"
COLOUR = "BLUEGREEN_COLOUR"
TARGET_INSTANCES = "BLUEGREEN_TARGET_INSTANCES"
STARTED_AT = "BLUEGREEN_STARTED_AT"
PREVIOUS = "BLUEGREEN_PREVIOUS"
MLB_GROUP = "HAPROXY_DEPLOYMENT_GROUP"
MLB_STARTED_AT = "HAPROXY_DEPLOYMENT_STARTED_AT"
MLB_TARGET_INSTANCES = "HAPROXY_DEPLOYMENT_TARGET_INSTANCES"
MLB_COLOUR = "HAPROXY_DEPLOYMENT_COLOUR"


class Colour(StrEnum):
    BLUE = "blue"
    GREEN = "green"


# label -> field of Overrides
OVERRIDE_LABELS: dict[str, str] = {
    "BLUEGREEN_BATCH_SIZE": "batch_size",
    "BLUEGREEN_DRAIN_PATH": "drain_path",
    "BLUEGREEN_DRAIN_METRIC": "drain_metric",
    "BLUEGREEN_DRAIN_PORT_INDEX": "drain_port_index",
    "BLUEGREEN_DRAIN_TIMEOUT_S": "drain_timeout_s",
    "BLUEGREEN_ON_DRAIN_TIMEOUT": "on_drain_timeout",
    "BLUEGREEN_HEALTH_TIMEOUT_S": "health_timeout_s",
    "BLUEGREEN_LB_BACKEND": "lb_backend",
    "BLUEGREEN_LB_PORT_INDEX": "lb_port_index",
}


class Overrides(BaseModel):
    """Optional per-app settings read from GREEN's labels; None = use the config file's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int | None = Field(None, ge=1)
    drain_path: str | None = None
    drain_metric: str | None = None
    drain_port_index: int | None = Field(None, ge=0)
    drain_timeout_s: float | None = Field(None, gt=0)
    on_drain_timeout: str | None = Field(None, pattern="^(pause|rollback|force)$")
    health_timeout_s: float | None = Field(None, gt=0)
    lb_backend: str | None = Field(None, min_length=1)
    lb_port_index: int | None = Field(None, ge=0)


class LabelError(ValueError):
    """A BLUEGREEN_* label with a value that cannot be used; names the label."""


def group_of(labels: Mapping[str, str]) -> str | None:
    """The group an app belongs to, or None for apps that are not ours."""
    return labels.get(GROUP) or labels.get(MLB_GROUP) or None


GROUP_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-")
MAX_GROUP_LEN = 200


def group_name_problem(group: str) -> str | None:
    """Why `group` cannot name a group `deploy` creates (it goes into labels, URLs of the API, LB
    backend names and ZooKeeper paths), or None."""
    if not group.strip():
        return "a group name must not be empty"
    if len(group) > MAX_GROUP_LEN:
        return f"a group name has at most {MAX_GROUP_LEN} characters, got {len(group)}"
    if bad := sorted(set(group) - GROUP_CHARS):
        return f"group {group!r}: only letters, digits and _ . : / - are allowed, not {''.join(bad)!r}"
    return None


def colour_of(labels: Mapping[str, str]) -> Colour | None:
    raw = (labels.get(COLOUR) or labels.get(MLB_COLOUR) or "").lower()
    return Colour(raw) if raw in ("blue", "green") else None


def parse_timestamp(raw: str) -> datetime:
    """ISO-8601 (Marathon writes `...T..:..:..SSSZ`); naive values are taken as UTC."""
    value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    """Marathon's format: UTC with exactly three fraction digits and a `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def started_at_of(labels: Mapping[str, str]) -> datetime | None:
    raw = labels.get(STARTED_AT) or labels.get(MLB_STARTED_AT)
    if not raw:
        return None
    try:
        return parse_timestamp(raw)
    except ValueError:
        return None


def target_instances_of(labels: Mapping[str, str]) -> int | None:
    raw = labels.get(TARGET_INSTANCES) or labels.get(MLB_TARGET_INSTANCES)
    try:
        value = int(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def overrides_of(labels: Mapping[str, str]) -> Overrides:
    """Parse the BLUEGREEN_* overrides; raises LabelError naming each bad label. Read several
    times by every round: the parse of the same override labels is remembered (Overrides is
    frozen; a bad label is parsed, and refused, each time)."""
    return _overrides(tuple((label, labels[label]) for label in OVERRIDE_LABELS if label in labels))


@functools.lru_cache(maxsize=1024)
def _overrides(items: tuple[tuple[str, str], ...]) -> Overrides:
    data = {OVERRIDE_LABELS[label]: value for label, value in items}
    try:
        return Overrides.model_validate(data)
    except ValidationError as exc:
        by_field = {v: k for k, v in OVERRIDE_LABELS.items()}
        problems = [f"{by_field.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()]
        raise LabelError("; ".join(problems)) from None


def green_labels(
    *, group: str, target_instances: int, started_at: datetime, previous: str | None
) -> dict[str, str]:
    """The labels `bluegreen deploy` sets when it creates GREEN (never changed afterwards)."""
    labels = {
        GROUP: group,
        COLOUR: Colour.GREEN.value,
        TARGET_INSTANCES: str(target_instances),
        STARTED_AT: format_timestamp(started_at),
    }
    if previous:
        labels[PREVIOUS] = previous
    return labels

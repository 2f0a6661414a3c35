"""The seeded fault schedule of a soak: which fault, when, with which parameters, per deployment.

Owns: the catalogue of fault kinds and drawing a reproducible plan from a seed (every kind comes
up once before any repeats, so a short run covers them all). Must not: touch the world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

STREAM_DROP = "stream-drop"
BURST_503 = "503-burst"
FAILOVER = "failover"
DUPLICATES = "duplicate-events"
REORDER = "reorder-events"
EVENT_DELAY = "event-delay"
REACTOR_KILL = "reactor-sigkill"
HAPROXY_RESTART = "haproxy-restart"
GREEN_NEVER_HEALTHY = "green-never-healthy"
GREEN_UNHEALTHY_AFTER = "green-unhealthy-after"

KINDS = (STREAM_DROP, BURST_503, FAILOVER, DUPLICATES, REORDER, EVENT_DELAY, REACTOR_KILL,
         HAPROXY_RESTART, GREEN_NEVER_HEALTHY, GREEN_UNHEALTHY_AFTER)
BAD_GREEN = frozenset({GREEN_NEVER_HEALTHY, GREEN_UNHEALTHY_AFTER})


@dataclass(frozen=True)
class Draw:
    """One deployment's fault: `kind`, fired `at_s` after GREEN is created, with `params`."""

    index: int
    kind: str
    at_s: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def bad_green(self) -> bool:
        return self.kind in BAD_GREEN

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"#{self.index} {self.kind} at {self.at_s:.2f}s" + (f" ({args})" if args else "")


def _params(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == BURST_503:
        return {"count": rng.randint(2, 6)}
    if kind == FAILOVER:
        return {"election_s": round(rng.uniform(1.0, 4.0), 2)}
    if kind == REORDER:
        return {"window_ms": rng.randint(100, 800), "seed": rng.randint(0, 2**31)}
    if kind == EVENT_DELAY:
        return {"delay_ms": rng.randint(200, 1500)}
    if kind == GREEN_UNHEALTHY_AFTER:
        return {"after_s": round(rng.uniform(1.0, 3.0), 2)}
    return {}


def draw_plan(deployments: int, seed: int, *, max_at_s: float = 4.0,
              kinds: tuple[str, ...] = KINDS) -> list[Draw]:
    """`deployments` draws: kinds shuffled in rounds (each kind once per round), moments uniform.

    Deployment i's draw depends only on (seed, i, kinds): a longer run with the same seed starts
    with the same deployments, so a violation seen in a short run reproduces in a long one.
    """
    order = random.Random(seed)
    drawn: list[str] = []
    while len(drawn) < deployments:
        round_ = list(kinds)
        order.shuffle(round_)
        drawn.extend(round_)
    out = []
    for i, kind in enumerate(drawn[:deployments]):
        rng = random.Random(f"{seed}/{i}")
        out.append(Draw(i + 1, kind, round(rng.uniform(0.2, max_at_s), 2), _params(kind, rng)))
    return out

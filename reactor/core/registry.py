"""The registry of user hook handlers: `@reactor.on(event)` and `@reactor.gate(event)`.

Owns only the mapping event name -> handlers (plain data; calling them is the engine's job).
`DEFAULT` is the registry the package-level decorators fill when a hooks module is imported;
an engine may also be handed an explicit `Registry` (tests do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Registration:
    event: str  # a deploy event name, or "*" for all
    handler: Handler
    gate: bool = False
    at_least_once: bool = False
    timeout_s: float | None = None

    @property
    def name(self) -> str:
        return f"{getattr(self.handler, '__module__', '?')}.{getattr(self.handler, '__qualname__', '?')}"


@dataclass
class Registry:
    registrations: list[Registration] = field(default_factory=list)

    def on(self, *events: str, at_least_once: bool = False,
           timeout_s: float | None = None) -> Callable[[Handler], Handler]:
        """Register an ordinary handler; called with the event's fields as keyword arguments."""
        return self._decorator(events or ("*",), gate=False, at_least_once=at_least_once,
                               timeout_s=timeout_s)

    def gate(self, *events: str, timeout_s: float | None = None) -> Callable[[Handler], Handler]:
        """Register a gate: returns "allow", "hold" or "veto" (or True/False/None)."""
        return self._decorator(events or ("promotion.gate",), gate=True, at_least_once=True,
                               timeout_s=timeout_s)

    def _decorator(self, events: tuple[str, ...], **kw: Any) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            for ev in events:
                self.registrations.append(Registration(event=ev, handler=fn, **kw))
            return fn

        return register

    def handlers_for(self, event: str, *, gate: bool) -> list[Registration]:
        return [r for r in self.registrations if r.gate == gate and r.event in (event, "*")]


DEFAULT = Registry()

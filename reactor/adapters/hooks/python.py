"""The Python transport of hooks: loading hook modules and calling their handlers.

Owns how `[hooks] modules` and `bluegreen.hooks` entry points become registrations, and the
calling convention of handlers: the event's payload as keyword arguments (sync handlers in a
worker thread). It must not decide when or how often a handler runs (reactor.engine.hooks does).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from reactor.core.deploy_events import DeployEvent
from reactor.core.registry import DEFAULT, Registry
from reactor.settings import ConfigError

ENTRY_POINT_GROUP = "bluegreen.hooks"


class HookConfigError(ConfigError):
    """A hook that cannot be loaded or is mis-declared; names the key / module at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__("[hooks]", [(key, message)])


def load_hooks(modules: Sequence[str], *, entry_point_group: str | None = ENTRY_POINT_GROUP,
               registry: Registry = DEFAULT) -> Registry:
    """Import the `[hooks] modules` and the `bluegreen.hooks` entry points; return their hooks.

    A module registers by being imported (its `@reactor.on` / `@reactor.gate` decorators fill
    `registry`). An entry point may name a module, or a callable taking the registry.
    Raises HookConfigError naming the module that cannot be imported.
    """
    before = len(registry.registrations)
    already: set[str] = set()
    for i, name in enumerate(modules):
        if name in sys.modules:
            already.add(name)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                raise HookConfigError(f"hooks.modules.{i}", f"no module named {name!r} "
                                      "(is its directory on PYTHONPATH?)") from None
            raise HookConfigError(f"hooks.modules.{i}",
                                  f"module {name!r} failed to import: {exc}") from None
        except Exception as exc:
            raise HookConfigError(f"hooks.modules.{i}", f"module {name!r} failed to import: "
                                  f"{type(exc).__name__}: {exc}") from None
    if entry_point_group:
        for ep in importlib.metadata.entry_points(group=entry_point_group):
            try:
                obj = ep.load()
                if callable(obj) and not isinstance(obj, ModuleType):
                    obj(registry)
            except Exception as exc:
                raise HookConfigError(f"entry point {entry_point_group}:{ep.name}",
                                      f"{ep.value!r} failed to load: {type(exc).__name__}: {exc}") from None
    earlier = [r for r in registry.registrations[:before]
               if getattr(r.handler, "__module__", None) in already]
    return Registry(earlier + registry.registrations[before:])


async def call_handler(handler: Callable[..., Any], event: DeployEvent) -> Any:
    """Call with the payload as keyword arguments; a sync handler runs in a worker thread."""
    kwargs = event.payload()
    if inspect.iscoroutinefunction(handler):
        result = await handler(**kwargs)
    else:
        result = await asyncio.to_thread(handler, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result

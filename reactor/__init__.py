"""bluegreen-reactor: event-driven blue-green deployments on Marathon.

The package root stays import-light: `reactor.on` and `reactor.gate` (hook decorators) are
resolved lazily so that importing any sub-package does not pull in the engine.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "gate", "on"]


def __getattr__(name: str) -> Any:
    if name in ("on", "gate"):
        import reactor.core.registry as registry

        return getattr(registry.DEFAULT, name)
    raise AttributeError(name)

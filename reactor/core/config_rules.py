"""Value rules of the configuration that need more than a type: names, URLs, events, levels.

Owns the checks `reactor.settings` attaches to its keys (each raises ValueError with a sentence
naming the bad value, which the settings report under the key's path). Pure: no I/O, no
environment, no file access (readable files are checked by `settings.file_problems`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from reactor.core.deploy_events import DeployEventName

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def env_names(names: list[str]) -> list[str]:
    """`env_passthrough`: variable names only (the values are read when a command runs)."""
    for name in names:
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment variable name")
    return names


def http_url(url: str) -> str:
    """An http:// or https:// URL with a host (webhooks, Marathon)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    return url


def known_events(names: list[str]) -> list[str]:
    """Deploy event names a hook subscribes to: each must exist (a typo would never fire)."""
    known = {e.value for e in DeployEventName}
    for name in names:
        if name not in known:
            raise ValueError(f"unknown event {name!r} (one of {', '.join(sorted(known))})")
    return names


def log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise ValueError(f"unknown log level {value!r} (one of {', '.join(LOG_LEVELS)})")
    return value.lower()

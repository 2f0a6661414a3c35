"""What makes a configuration unusable, said as (key path, message) pairs: `ConfigError`.

Owns the wording of configuration problems: pydantic's validation errors by key path (naming the
BLUEGREEN_* variable that gave a value), environment overrides that are not JSON, and `*_file`
keys naming files that cannot be read (or empty token files). `reactor.settings` raises them;
nothing here reads the configuration itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError
from pydantic_settings.exceptions import SettingsError

if TYPE_CHECKING:
    from reactor.settings import Settings

ENV_PREFIX = "BLUEGREEN_"
ENV_DELIMITER = "__"


class ConfigError(Exception):
    """A config file that cannot be used; `problems` lists (key path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(f"{path}: {msg}" for path, msg in problems)
        super().__init__(f"invalid configuration {source}: {lines}")


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if (var := _env_var_of(err["loc"])) is not None:
            path = f"{path} (from {var})"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        out.append((path, msg))
    return out


def _env_var_of(loc: tuple[int | str, ...]) -> str | None:
    """The BLUEGREEN_* variable set in the environment that gave the value at `loc` (the longest
    one: `BLUEGREEN_DEPLOY__BATCH_SIZE`, else `BLUEGREEN_DEPLOY` holding JSON), or None."""
    names = {k.upper(): k for k in os.environ if k.upper().startswith(ENV_PREFIX)}
    for n in range(len(loc), 0, -1):
        name = ENV_PREFIX + ENV_DELIMITER.join(str(p).upper() for p in loc[:n])
        if name in names:
            return names[name]
    return None


def env_problem(exc: SettingsError) -> tuple[str, str]:
    """pydantic-settings names the field, not the variable: name the variable."""
    field = re.search(r'field "(\w+)"', str(exc))
    var = _env_var_of((field.group(1),)) if field else None
    cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
    return (var or "(environment)", f"not valid JSON{cause}" if var else str(exc))


def unknown_sections(sections: set[str]) -> list[tuple[str, str]]:
    """Each `BLUEGREEN_<SECTION>__<KEY>` variable whose section is none of `sections`: a typo
    such as BLUEGREEN_MARATHONN__URLS was silently ignored (an unknown key of a known section is
    refused by the model). Variables without `__` are left alone: one may be a whole known
    section given as JSON (the model checks it), or not config at all (a hook command gets
    BLUEGREEN_EVENT and BLUEGREEN_EVENT_ID)."""
    out = []
    for var in sorted(os.environ):
        name = var.upper()
        if not name.startswith(ENV_PREFIX) or ENV_DELIMITER not in name[len(ENV_PREFIX):]:
            continue
        section = name[len(ENV_PREFIX):].split(ENV_DELIMITER, 1)[0].lower()
        if section not in sections:
            out.append((var, f"unknown section {section!r} (sections: {', '.join(sorted(sections))})"))
    return out


def file_problems(settings: Settings) -> list[tuple[str, str]]:
    """Every `*_file` key (token, key, certificate, CA files) that names a file we cannot read:
    `run` would fail on it later, so the configuration is refused now."""
    out = []
    for section, model in settings:
        if not isinstance(model, BaseModel):
            continue
        for key, value in model:
            if key.endswith("_file") and isinstance(value, Path) and not _readable(value):
                out.append((f"{section}.{key}", f"cannot read {str(value)!r}"))
            elif key.endswith("token_file") and isinstance(value, Path) and not _has_text(value):
                out.append((f"{section}.{key}", f"{str(value)!r} is empty: no token to send or to check"))
    return out


def _has_text(path: Path) -> bool:
    try:
        return bool(path.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return True  # unreadable is reported as such; not UTF-8 is the token's own business


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError:
        return False
    return os.path.isfile(path)

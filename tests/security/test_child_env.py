"""Child processes get no secret: a hook command and the LB command dump their environment while
the reactor's own environment holds the API token and Marathon's password."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reactor.adapters.hooks.command import Command
from reactor.adapters.lb.command import CommandLoadBalancer
from reactor.settings import CommandHookSettings
from tests.hooks.conftest import make_event

SECRETS = {"BLUEGREEN_API__TOKEN": "api-token-value-1", "BLUEGREEN_MARATHON__PASSWORD": "marathon-pw-2",
           "AWS_SECRET_ACCESS_KEY": "aws-secret-3"}
DUMP = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w')); print('{}')"


@pytest.fixture
def secret_environment() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(SECRETS)
    os.environ["CHAT_URL"] = "https://chat.example/hook"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def read_env(path: Path) -> dict[str, str]:
    import json

    return dict(json.loads(path.read_text()))


async def test_a_hook_command_environment_has_no_secret(secret_environment: None, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    hook = Command(CommandHookSettings(argv=[sys.executable, "-c", DUMP, str(out)],
                                       env_passthrough=["CHAT_URL"]))
    assert await hook.run(make_event(1)) == 0
    env = read_env(out)
    for value in SECRETS.values():
        assert value not in env.values()
    assert not any(k.startswith("BLUEGREEN_") and not k.startswith(("BLUEGREEN_EVENT", "BLUEGREEN_GROUP"))
                   for k in env), env
    assert env["BLUEGREEN_EVENT"] == "green.scaled" and env["BLUEGREEN_GROUP"] == "web"
    assert env["CHAT_URL"] == "https://chat.example/hook"  # passed through by name
    assert env["PATH"] == os.environ["PATH"]


async def test_the_lb_command_environment_has_no_secret(secret_environment: None, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    async with CommandLoadBalancer([sys.executable, "-c", DUMP, str(out)]) as lb:
        await lb.add("web", "task-1", "127.0.0.1", 8080)
    env = read_env(out)
    for value in SECRETS.values():
        assert value not in env.values()
    assert "CHAT_URL" not in env and env["PATH"] == os.environ["PATH"]

"""The documented examples in config/: valid, complete, and checked by the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reactor.settings import CommandHookSettings, Settings, WebhookSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "reactor.toml"
COMMENTED_KEY = re.compile(r"^# (\[\[hooks\.\w+\]\]|\w+ = .*)$")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BLUEGREEN_")}


def test_config_check_prints_ok() -> None:
    bluegreen = Path(sys.executable).with_name("bluegreen")
    done = subprocess.run([str(bluegreen), "config", "check", "config/reactor.toml"], cwd=ROOT,
                          env=_clean_env(), capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "config/reactor.toml: ok", "")


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= _leaf_keys(ann, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _flatten(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        if isinstance(value, dict):
            keys |= _flatten(value, f"{prefix}{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                keys |= {f"{prefix}{name}[].{k}" for k in _flatten(item)}
        else:
            keys.add(prefix + name)
    return keys


def test_every_key_is_documented_and_the_commented_examples_are_valid(tmp_path: Path) -> None:
    """Uncommenting every `# key = value` line gives a file that sets every key and is valid."""
    lines = EXAMPLE.read_text().splitlines()
    full = "\n".join(line[2:] if COMMENTED_KEY.match(line) else line for line in lines)
    (tmp_path / "full.toml").write_text(full)
    settings = load_settings(tmp_path / "full.toml", env=False, check_files=False)  # example paths
    documented = _flatten(tomllib.loads(full))
    expected = (_leaf_keys(Settings) - {"hooks.webhooks", "hooks.commands"}) \
        | {f"hooks.webhooks[].{k}" for k in WebhookSettings.model_fields} \
        | {f"hooks.commands[].{k}" for k in CommandHookSettings.model_fields}
    assert expected - documented == set()
    assert documented - expected == set()
    assert settings.hooks.webhooks[0].secret is not None


def test_every_key_has_a_comment() -> None:
    section = ""
    for line in EXAMPLE.read_text().splitlines():
        bare = line[2:] if COMMENTED_KEY.match(line) else line
        if bare.startswith("["):
            section = bare
        elif "=" in bare and not bare.startswith("#"):
            key = bare.split("=", 1)[0].strip()
            documented = "#" in bare.split("=", 1)[1] or section.startswith("[[")
            assert documented or _comment_above(line), f"{section} {key} has no comment"


def _comment_above(line: str) -> bool:
    lines = EXAMPLE.read_text().splitlines()
    i = lines.index(line) - 1
    while i >= 0 and COMMENTED_KEY.match(lines[i]):  # a comment may introduce several keys
        i -= 1
    return i >= 0 and lines[i].startswith("#")


def test_the_example_defaults_are_the_schema_defaults() -> None:
    assert load_settings(EXAMPLE, env=False) == load_settings(None, env=False)


def test_marathon_app_definitions_are_well_formed() -> None:
    reactor_app = json.loads((ROOT / "config" / "marathon-app-reactor.json").read_text())
    assert reactor_app["instances"] == 2  # replicas: one acts per group through ZooKeeper
    assert reactor_app["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}
    assert reactor_app["container"]["docker"]["image"] == "bluegreen-reactor:0.1.0"
    [check] = reactor_app["healthChecks"]
    assert check["path"] == "/healthz" and "portIndex" in check
    env = reactor_app["env"]
    assert all(k.startswith("BLUEGREEN_") for k in env)
    assert all("TOKEN" not in k or k.endswith("_FILE") for k in env), "secrets by reference only"
    assert env["BLUEGREEN_COORDINATION__BACKEND"] == "zookeeper"
    mounted = {v["secret"] for v in reactor_app["container"]["volumes"] if "secret" in v}
    assert mounted == set(reactor_app["secrets"])  # every secret is mounted as a file
    files = {v["containerPath"] for v in reactor_app["container"]["volumes"]}
    assert env["BLUEGREEN_MARATHON__DCOS_PRIVATE_KEY_FILE"] in files
    assert env["BLUEGREEN_API__TOKEN_FILE"] in files
    assert reactor_app["labels"]["DCOS_SERVICE_NAME"] == reactor_app["id"].strip("/")
    urls = json.loads(env["BLUEGREEN_MARATHON__URLS"])
    assert urls and all(u.startswith("http") for u in urls)
    overridden = {k.removeprefix("BLUEGREEN_").lower().replace("__", ".") for k in env}
    assert overridden <= _leaf_keys(Settings), overridden - _leaf_keys(Settings)

    sample = json.loads((ROOT / "config" / "app-example.json").read_text())
    assert sample["cmd"] == "bluegreen sample-app"
    [check] = sample["healthChecks"]
    assert (check["protocol"], check["path"]) == ("HTTP", "/health")

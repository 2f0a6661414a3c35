"""Loading hooks: modules by name, `bluegreen.hooks` entry points, clear errors for bad ones."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from reactor.core.deploy_events import DeployEventName, GateAnswer
from reactor.engine.hooks import HookConfigError, HookDispatcher, load_hooks
from reactor.settings import ConfigError
from tests.hooks.conftest import make_event, write_module

ROOT = Path(__file__).resolve().parents[2]


def test_missing_module_is_a_config_error_naming_it() -> None:
    with pytest.raises(HookConfigError) as err:
        load_hooks(["bg_no_such_hooks_module"], entry_point_group=None)
    assert isinstance(err.value, ConfigError)  # the CLI maps it to exit code 2
    [(key, message)] = err.value.problems
    assert key == "hooks.modules.0"
    assert "'bg_no_such_hooks_module'" in message and "PYTHONPATH" in message


def test_module_failing_on_import_names_module_and_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_module(tmp_path, monkeypatch, "X = 1\n")
    bad = write_module(tmp_path, monkeypatch, "import bg_missing_dependency_xyz\n")
    broken = write_module(tmp_path, monkeypatch, "raise RuntimeError('no config here')\n")
    with pytest.raises(HookConfigError) as err:
        load_hooks([good.name, bad.name], entry_point_group=None)
    [(key, message)] = err.value.problems
    assert key == "hooks.modules.1" and bad.name in message and "bg_missing_dependency_xyz" in message
    with pytest.raises(HookConfigError, match=f"{broken.name}.*RuntimeError: no config here"):
        load_hooks([broken.name], entry_point_group=None)


def test_loading_twice_returns_the_same_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = write_module(tmp_path, monkeypatch, """
import reactor

@reactor.on("green.healthy")
def one(**_):
    pass
""")
    first = load_hooks([module.name], entry_point_group=None)
    again = load_hooks([module.name], entry_point_group=None)
    assert [r.name for r in first.registrations] == [f"{module.name}.one"]
    assert again.registrations == first.registrations


async def test_entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed plugin: a distribution whose entry point in group `bluegreen.hooks` names a
    `register(registry)` callable (here a real .dist-info directory on sys.path)."""
    out = tmp_path / "plugin.jsonl"
    site = tmp_path / "site"
    (site / "bg_plugin_dist-1.0.dist-info").mkdir(parents=True)
    (site / "bg_plugin_dist-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: bg-plugin-dist\nVersion: 1.0\n")
    (site / "bg_plugin_dist-1.0.dist-info" / "entry_points.txt").write_text(
        "[bluegreen.hooks]\nplugin = bg_plugin_mod:register\n")
    (site / "bg_plugin_mod.py").write_text(f"""
import json

def register(registry):
    @registry.on("blue.killed")
    def killed(id, tasks, **_):
        with open({str(out)!r}, "a") as fh:
            fh.write(json.dumps({{"id": id, "tasks": tasks}}) + "\\n")

    @registry.gate()
    def hold(**_):
        return "hold"
""")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    registry = load_hooks([])
    names = sorted(r.name for r in registry.registrations)
    assert names == ["bg_plugin_mod.register.<locals>.hold", "bg_plugin_mod.register.<locals>.killed"]
    async with HookDispatcher(registry) as hooks:
        hooks.dispatch(make_event(1, DeployEventName.BLUE_KILLED))
        assert await hooks.flush(10)
        assert await hooks.gate(make_event(2, DeployEventName.PROMOTION_GATE)) is GateAnswer.HOLD
    assert json.loads(out.read_text()) == {"id": make_event(1, DeployEventName.BLUE_KILLED).id,
                                           "tasks": ["task-1"]}


def test_broken_entry_point_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "bg_broken_dist-1.0.dist-info").mkdir(parents=True)
    (site / "bg_broken_dist-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: bg-broken-dist\nVersion: 1.0\n")
    (site / "bg_broken_dist-1.0.dist-info" / "entry_points.txt").write_text(
        "[bluegreen.hooks]\nbroken = bg_broken_nowhere:register\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    with pytest.raises(HookConfigError) as err:
        load_hooks([])
    [(key, message)] = err.value.problems
    assert key == "entry point bluegreen.hooks:broken" and "bg_broken_nowhere" in message


async def test_example_hooks_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config/hooks_example.py loads by name, logs events and vetoes while its stop file exists."""
    monkeypatch.syspath_prepend(str(ROOT / "config"))
    stop_file = tmp_path / "stop"
    monkeypatch.setenv("BLUEGREEN_STOP_FILE", str(stop_file))
    registry = load_hooks(["hooks_example"], entry_point_group=None)
    gate = make_event(1, DeployEventName.PROMOTION_GATE)
    async with HookDispatcher(registry) as hooks:
        hooks.dispatch(make_event(2, DeployEventName.GREEN_HEALTHY))
        assert await hooks.flush(10)
        assert await hooks.gate(gate) is GateAnswer.ALLOW
        stop_file.write_text("maintenance window")
        assert await hooks.gate(gate) is GateAnswer.VETO
        monkeypatch.setenv("BLUEGREEN_HOLD", "1")
        stop_file.unlink()
        assert await hooks.gate(gate) is GateAnswer.HOLD


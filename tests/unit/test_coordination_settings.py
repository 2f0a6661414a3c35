"""[state] path is absolute once loaded; [coordination] refuses unusable hosts and roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.settings import ConfigError, Settings, load_settings


def test_default_state_path_is_absolute_under_xdg_state_home(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    path = load_settings(None, env=False).state.path
    assert path == tmp_path / "xdg" / "bluegreen" / "bluegreen.db"
    assert path.parent.is_dir()


def test_relative_state_path_is_relative_to_the_config_file(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "etc" / "reactor.toml"
    conf.parent.mkdir()
    conf.write_text('[state]\npath = "data/state.db"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings(conf, env=False).state.path == tmp_path / "etc" / "data" / "state.db"
    assert Settings.model_validate({"state": {"path": "x.db"}}).state.path == tmp_path / "x.db"


@pytest.mark.parametrize(("section", "message"), [
    ('hosts = ""', "coordination.hosts"),
    ('hosts = "zk-1:2181,"', "coordination.hosts"),
    ('root = "bluegreen"', "coordination.root"),
    ('root = "/bluegreen/"', "coordination.root"),
    ("session_timeout_s = 0", "coordination.session_timeout_s"),
    ('backend = "etcd"', "coordination.backend"),
])
def test_bad_coordination_is_one_clear_error(tmp_path: Path, section: str, message: str) -> None:
    conf = tmp_path / "reactor.toml"
    conf.write_text(f"[coordination]\n{section}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(conf, env=False)


def test_good_coordination_is_kept(tmp_path: Path) -> None:
    conf = tmp_path / "reactor.toml"
    conf.write_text('[coordination]\nbackend = "zookeeper"\nhosts = "zk-1.zk:2181, zk-2.zk:2181"\n'
                    'root = "/bg/prod"\nsession_timeout_s = 6\n')
    c = load_settings(conf, env=False).coordination
    assert (c.backend.value, c.hosts, c.root, c.session_timeout_s) == (
        "zookeeper", "zk-1.zk:2181,zk-2.zk:2181", "/bg/prod", 6)

"""The config schema: defaults, TOML, environment overrides, every problem named by key path."""

from pathlib import Path

import pytest

from reactor.cli.main import main
from reactor.settings import ConfigError, LbDriver, load_settings


def test_defaults_match_interface() -> None:
    s = load_settings(None, env=False)
    assert s.marathon.urls == ["http://127.0.0.1:8080"]
    assert s.lb.driver is LbDriver.HAPROXY
    assert s.drain.interval_s == 0.25
    assert s.deploy.auto_promote is True


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "r.toml"
    cfg.write_text('[marathon]\nurls = ["http://a:8080"]\n[deploy]\nbatch_size = 2\n')
    monkeypatch.setenv("BLUEGREEN_DEPLOY__BATCH_SIZE", "5")
    s = load_settings(cfg)
    assert s.marathon.urls == ["http://a:8080"]
    assert s.deploy.batch_size == 5


def test_every_problem_named(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[marathon]\nurls = ["ftp://x"]\nbogus = 1\n[drain]\non_timeout = "explode"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env=False)
    paths = {p for p, _ in err.value.problems}
    assert {"marathon.urls", "marathon.bogus", "drain.on_timeout"} <= paths


def test_config_check_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[lb]\ndriver = 'nginx'\n")
    assert main(["config", "check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "lb.driver" in err
    good = tmp_path / "good.toml"
    good.write_text("[lb]\ndriver = 'none'\n")
    assert main(["config", "check", str(good)]) == 0


@pytest.mark.parametrize(("kind", "needle"), [("directory", "cannot read: Is a directory"),
                                              ("latin-1", "not UTF-8 text")])
def test_unreadable_config_file_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, needle: str) -> None:
    path = tmp_path
    if kind == "latin-1":
        path = tmp_path / "latin1.toml"
        path.write_bytes(b"\xff\xfe[lb]\n")
    for argv in (["config", "check", str(path)], ["status", "--config", str(path), "web"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2, err


def test_environment_problems_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEGREEN_LB", '{"driver":')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.problems[0][0] == "BLUEGREEN_LB" and "not valid JSON" in err.value.problems[0][1]
    monkeypatch.delenv("BLUEGREEN_LB")
    monkeypatch.setenv("BLUEGREEN_DEPLOY__BATCH_SIZE", "abc")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.problems[0][0] == "deploy.batch_size (from BLUEGREEN_DEPLOY__BATCH_SIZE)"


def test_a_variable_naming_no_section_is_refused_not_ignored(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """BLUEGREEN_MARATHONN__URLS (a typo) was ignored: Marathon stayed at its default URL while
    the operator believed it set. Variables without `__` are not config overrides of a key (a
    hook gets BLUEGREEN_EVENT) and are left alone."""
    monkeypatch.setenv("BLUEGREEN_MARATHONN__URLS", "http://marathon.mesos:8080")
    monkeypatch.setenv("bluegreen_nosuch__x", "1")
    monkeypatch.setenv("BLUEGREEN_EVENT", "deployment.completed")
    monkeypatch.setenv("BLUEGREEN_EVENT_ID", "e1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert [p for p, _ in err.value.problems] == ["BLUEGREEN_MARATHONN__URLS", "bluegreen_nosuch__x"]
    assert err.value.problems[0][1].startswith("unknown section 'marathonn' (sections: ")
    assert "marathon" in err.value.problems[0][1]
    monkeypatch.delenv("bluegreen_nosuch__x")
    example = str(Path(__file__).resolve().parents[2] / "config" / "reactor.toml")
    for argv in (["config", "check", example], ["status", "--config", example, "web"]):
        assert main(argv) == 2
        said = capsys.readouterr().err
        assert "BLUEGREEN_MARATHONN__URLS: unknown section 'marathonn'" in said, said
        assert "Traceback" not in said and len(said.strip().splitlines()) <= 2, said
    monkeypatch.delenv("BLUEGREEN_MARATHONN__URLS")
    monkeypatch.setenv("BLUEGREEN_MARATHON__URLS", "http://marathon.mesos:8080")
    assert load_settings().marathon.urls == ["http://marathon.mesos:8080"]
    assert load_settings(env=False).marathon.urls != ["http://marathon.mesos:8080"]


def test_an_empty_token_is_refused_not_taken_as_no_token(tmp_path: Path) -> None:
    """An empty token would turn the API's authentication off while the open-listen check was
    satisfied by its presence (found by a review: every GET open to the network)."""
    empty = tmp_path / "token"
    empty.write_text("\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[api]\nlisten = "0.0.0.0:19090"\ntoken_file = "{empty}"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env=False)
    assert err.value.problems == [("api.token_file",
                                   f"{str(empty)!r} is empty: no token to send or to check")]
    cfg.write_text('[api]\nlisten = "0.0.0.0:19090"\ntoken = " "\n')
    with pytest.raises(ConfigError, match=r"api\.token is empty"):
        load_settings(cfg, env=False)

"""Configuration as users get it wrong: every bad value is named with its key path, `config
check` refuses what `run` would, and fuzzed files and environment overrides never crash."""

from __future__ import annotations

import contextlib
import os
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.cli.main import main
from reactor.core.listen import client_url, is_loopback, parse_listen
from reactor.settings import ConfigError, load_settings


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def problems(text: str, tmp: Path) -> dict[str, str]:
    path = tmp / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    return dict(err.value.problems)


def test_marathon_urls_from_the_environment_as_plain_url_list_or_commas() -> None:
    for value, want in (("http://m:8080", ["http://m:8080"]),
                        ('["http://a:1", "http://b:2/"]', ["http://a:1", "http://b:2"]),
                        ("http://a:1, http://b:2", ["http://a:1", "http://b:2"])):
        with environ(BLUEGREEN_MARATHON__URLS=value):
            assert load_settings(None).marathon.urls == want


def test_every_item_config_check_used_to_pass_is_named(tmp_path: Path) -> None:
    got = problems('[api]\nlisten = "nowhere"\n[log]\nlevel = "verbose"\n'
                   '[[hooks.webhooks]]\nurl = "ftp://h/x"\nevents = ["deploy.started"]\n'
                   '[[hooks.commands]]\nargv = ["x"]\nenv_passthrough = ["A B"]\n', tmp_path)
    assert set(got) == {"api.listen", "log.level", "hooks.webhooks.0.url", "hooks.webhooks.0.events",
                        "hooks.commands.0.env_passthrough"}
    assert "HOST:PORT" in got["api.listen"] and "verbose" in got["log.level"]
    assert "ftp://" in got["hooks.webhooks.0.url"] and "deploy.started" in got["hooks.webhooks.0.events"]


def test_unreadable_token_files_are_named(tmp_path: Path) -> None:
    got = problems(f'[api]\ntoken_file = "{tmp_path}/missing"\n[marathon]\ntoken_file = "{tmp_path}"\n',
                   tmp_path)
    assert set(got) == {"api.token_file", "marathon.token_file"}


def test_open_listen_without_token_names_api_token(tmp_path: Path) -> None:
    for listen in (":9090", "0.0.0.0:9090", "[::]:9090", "10.1.2.3:9090", "myhost:9090"):
        got = problems(f'[api]\nlisten = "{listen}"\n', tmp_path)
        assert "api.token" in got["api"], listen
    (tmp_path / "tok").write_text("s3cret\n")
    path = tmp_path / "ok.toml"
    path.write_text(f'[api]\nlisten = ":9090"\ntoken_file = "{tmp_path}/tok"\n')
    assert load_settings(path).api.listen == ":9090"


def test_tls_files_go_together(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    got = problems(f'[api]\ntls_cert_file = "{tmp_path}/c.pem"\n', tmp_path)
    assert "tls_key_file" in got["api"]


def test_listen_grammar_and_client_url() -> None:
    assert parse_listen(":9090") == ("0.0.0.0", 9090)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("9090", "h:99999", "::1:80", "[::1:80", "a b:1", "h/x:1", ""):
        with pytest.raises(ValueError):
            parse_listen(bad)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    assert client_url(":9090") == "http://127.0.0.1:9090"
    assert client_url("[::]:9090") == "http://[::1]:9090"
    assert client_url("http://h:1") == "http://h:1"  # no http://http://
    assert client_url("https://h:1/") == "https://h:1"
    assert client_url("h:1", tls=True) == "https://h:1"


def test_config_check_refuses_what_run_would(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[lb]\ndriver = "command"\n[hooks]\nmodules = ["no_such_module_for_tests"]\n')
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "lb.command.argv" in err and "no_such_module_for_tests" in err


# ---- fuzz: config files and environment overrides -------------------------------------------------
KEYS = {
    "marathon": ["urls", "username", "password", "token_file", "request_timeout_s", "verify_tls"],
    "lb": ["driver", "allowed_backends"], "drain": ["source", "interval_s", "on_timeout"],
    "deploy": ["batch_size", "allowed_groups", "health_timeout_s"],
    "api": ["listen", "token", "max_event_subscribers", "tls_cert_file"],
    "state": ["history_max", "history_days", "path"], "log": ["level", "format"], "bogus": ["x"],
}
VALUES = st.one_of(
    st.integers(-5, 10**6).map(str), st.floats(allow_nan=True).map(lambda f: repr(f).lower()),
    st.sampled_from(['"info"', '"verbose"', '":9090"', '"127.0.0.1:0"', '"http://m:8080"', '["x"]',
                     '[]', 'true', '"ftp://x"', '"/nonexistent"', '{a = 1}', '"[::1]:1"', '"json"']),
    st.text(string.printable, max_size=20).map(lambda t: '"' + t.replace("\\", "").replace('"', "")
                                                .replace("\n", "") + '"'),
)


@st.composite
def config_text(draw: st.DrawFn) -> str:
    out = []
    for section in draw(st.lists(st.sampled_from(sorted(KEYS)), max_size=5, unique=True)):
        out.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(KEYS[section]), max_size=3, unique=True)):
            out.append(f"{key} = {draw(VALUES)}")
    if draw(st.booleans()):
        out.append(draw(st.text(max_size=30)))  # possibly not TOML at all
    return "\n".join(out) + "\n"


def assert_clean(rc: int, err: str) -> None:
    assert rc in (0, 2), err
    assert "Traceback" not in err, err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=config_text())
def test_fuzzed_config_files_get_named_problems_never_a_traceback(
        text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text)
    rc = main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    assert_clean(rc, err)
    if rc == 2:
        head, *rest = err.splitlines()
        count = int(head.split(": ")[-1].split(" ")[0])
        assert len(rest) == count and all(line.startswith("  ") for line in rest), err
    else:
        assert out.strip().endswith(": ok")


ENV_KEYS = ["BLUEGREEN_MARATHON__URLS", "BLUEGREEN_API__LISTEN", "BLUEGREEN_HOOKS__MODULES",
            "BLUEGREEN_LOG__LEVEL", "BLUEGREEN_DEPLOY__BATCH_SIZE", "BLUEGREEN_LB__ALLOWED_BACKENDS",
            "BLUEGREEN_API__MAX_EVENT_SUBSCRIBERS", "BLUEGREEN_STATE__HISTORY_DAYS", "BLUEGREEN_NOPE"]


@settings(max_examples=60, deadline=None)
@given(env=st.dictionaries(st.sampled_from(ENV_KEYS), st.one_of(
    st.text(max_size=30).filter(lambda t: "\x00" not in t),
    st.sampled_from(["http://m:8080", '["http://a:1"]', "[", ":9090", "debug", "0", "-1", "{}"]),
), max_size=4))
def test_fuzzed_environment_overrides_give_one_line(env: dict[str, str]) -> None:
    from reactor.cli.common import CliError, settings_from

    class Args:
        config = None

    with environ(**env):
        try:
            settings_from(Args())  # type: ignore[arg-type]
        except CliError as exc:
            assert exc.code == 2 and "\n" not in str(exc), str(exc)

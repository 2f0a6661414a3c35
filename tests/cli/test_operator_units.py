"""The operator view's pure parts: --set overrides, task-id shortening, status/history wording,
the watch model and its in-place redraw, completion scripts (checked by the real shells), the
repeated-error de-duplication, and undo's choice of a definition."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
import structlog

from reactor.cli import overrides, render
from reactor.cli.cmd_completion import GROUP_COMMANDS
from reactor.cli.cmd_undo import choose, user_definition
from reactor.cli.cmd_watch import Screen
from reactor.cli.common import CliError
from reactor.cli.watchview import WatchModel, pool_text
from reactor.logdedup import Dedup
from tests.cli.support import REPO, cli_env

BASE = {"id": "/web", "instances": 1, "container": {"docker": {"image": "web:1"}},
        "portDefinitions": [{"port": 0}], "env": {"A": "1"}}


def test_set_overrides_dotted_paths_with_json_values() -> None:
    out = overrides.apply(BASE, ["instances=4", "container.docker.image=web:2", "env.LEVEL=007",
                                 "env.DEBUG=true", "portDefinitions.0.port=8080", "labels.X={\"a\":1}",
                                 "cmd=sleep 5"])
    assert out["instances"] == 4
    assert out["container"]["docker"]["image"] == "web:2"
    assert out["env"] == {"A": "1", "LEVEL": "007", "DEBUG": True}  # "007" is not JSON: kept a string
    assert out["portDefinitions"][0]["port"] == 8080
    assert out["labels"] == {"X": {"a": 1}}
    assert out["cmd"] == "sleep 5"
    assert BASE["instances"] == 1 and BASE["env"] == {"A": "1"}  # the input is not changed


@pytest.mark.parametrize(("item", "needle"), [
    ("instances", "expected KEY=VALUE"),
    ("a..b=1", "bad key"),
    ("=4", "bad key"),
    ("env.A.B=1", "is not an object"),
    ("portDefinitions.3.port=1", "not an index"),
    ("con tainer=1", "bad key"),
])
def test_bad_set_is_one_line_naming_it(item: str, needle: str) -> None:
    with pytest.raises(overrides.OverrideError) as err:
        overrides.apply(BASE, [item])
    assert needle in str(err.value) and item in str(err.value) and "\n" not in str(err.value)


def test_task_ids_are_shortened_to_what_differs() -> None:
    a = "web-blue.instance-6f1c2a3b-aaaa-11ee-8000-000000000001._app.1"
    b = "web-blue.instance-7a8b9c0d-aaaa-11ee-8000-000000000001._app.1"
    assert render.short_task(a) == "6f1c2a3b" and render.short_task(b) == "7a8b9c0d"
    assert render.short_task("web.marathon-0123456789ab") == "01234567"
    assert render.pending_text(None) == "unknown" and render.pending_text(0) == "0"


ROW = {"group": "web", "phase": "shifting", "blue_app": "/web-blue", "green_app": "/web",
       "since": "2026-01-01T12:00:01+00:00", "target_instances": 3,
       "counts": {"target": 3, "green_healthy": 2, "green_instances": 2, "blue_live": 2, "blue_killed": 1,
                  "pool_green": 2, "pool_blue": 2},
       "blockers": ["BLUE task draining", "BLUE task draining"],
       "draining": [{"task": "web-blue.instance-6f1c2a3b-x._app.1", "pending": None, "drained": False}]}


def test_status_lines_show_each_blocker_once_and_only_current_deployments() -> None:
    done = {**ROW, "group": "api", "phase": "done"}
    lines = render.status_lines([ROW, done])
    assert lines[0].startswith("web: shifting  blue=/web-blue green=/web  GREEN healthy 2/3")
    assert sum("BLUE task draining" in ln for ln in lines) == 1
    assert "  draining 6f1c2a3b: unknown pending" in lines
    assert not any(ln.startswith("api") for ln in lines)
    assert not any("None" in ln for ln in lines)
    assert render.status_lines([done]) == ["no current deployments"]


def test_watch_model_and_plain_lines() -> None:
    model = WatchModel("web")
    assert model.apply_event({"group": "api", "event": "green.scaled"}) is None  # another group
    line = model.apply_event({"group": "web", "event": "green.scaled", "timestamp": "2026-01-01T12:00:02Z",
                              "counts": {"instances": 2, "target": 3}})
    assert line == "12:00:02 green.scaled to 2 of 3"
    model.apply_rows([ROW, {**ROW, "group": "api"}])
    screen = "\n".join(model.screen())
    assert "pool  BLUE 2 · GREEN 2 · GREEN share 50%" in screen
    assert "draining 6f1c2a3b: unknown pending operation(s)" in screen
    assert screen.count("waiting: BLUE task draining") == 1 and "api" not in screen
    assert "None" not in screen and "12:00:02 green.scaled to 2 of 3" in screen



def test_watch_shows_the_rollback_windows_standby_apart_from_the_traffic_share() -> None:
    counts = {"pool_green": 3, "pool_blue": 0, "pool_backup": 1}
    assert pool_text(counts) == "BLUE 0 · GREEN 3 · GREEN share 100% · BLUE standby 1 (backup)"
    assert pool_text({"pool_green": 3, "pool_blue": 0}) == "BLUE 0 · GREEN 3 · GREEN share 100%"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_screen_redraws_in_place_on_a_terminal_and_prints_changes_otherwise() -> None:
    term = Terminal()
    screen = Screen(term, WatchModel(), tty=True, json_lines=False)
    screen.rows([ROW])
    first = term.getvalue()
    screen.rows([{**ROW, "phase": "done"}])
    second = term.getvalue()[len(first):]
    assert first.startswith("\x1b[2Kweb  shifting")  # the first draw moves nowhere
    n = first.count("\n")
    assert second.startswith(f"\x1b[{n}F"), second[:10]  # back up over the last draw, then redraw
    plain = io.StringIO()
    screen = Screen(plain, WatchModel(), tty=False, json_lines=False)
    screen.rows([ROW])
    screen.rows([ROW])  # unchanged: not printed again
    screen.event({"group": "web", "event": "blue.killed", "timestamp": "2026-01-01T12:00:03Z",
                  "tasks": ["web-blue.instance-6f1c2a3b-x._app.1"]})
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and "\x1b" not in plain.getvalue()
    assert lines[1] == "web: 12:00:03 blue.killed 6f1c2a3b"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_parse_in_the_real_shell(shell: str, tmp_path: object) -> None:
    out = subprocess.run([sys.executable, "-m", "reactor", "completion", shell], capture_output=True,
                         text=True, env=cli_env(), cwd=str(REPO), timeout=60, check=True).stdout
    check = subprocess.run([shell, "-n"], input=out, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    for word in ("deploy", "watch", "undo", "pause", "--set", "--dry-run", *GROUP_COMMANDS):
        assert word in out, word
    if shell == "bash":  # complete a command name through the real function
        probe = out + '\nCOMP_WORDS=(bluegreen wa); COMP_CWORD=1; _bluegreen; echo "${COMPREPLY[@]}"\n'
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        assert done.stdout.split() == ["watch"], done


def test_repeated_identical_errors_are_logged_once_with_a_count() -> None:
    now = [0.0]
    dedup = Dedup(window_s=60, clock=lambda: now[0])
    ev = {"event": "event stream failed", "error": "401 Unauthorized"}
    assert dedup(None, "warning", dict(ev)) == ev
    for _ in range(5):
        now[0] += 1
        with pytest.raises(structlog.DropEvent):
            dedup(None, "warning", dict(ev))
    assert dedup(None, "warning", {**ev, "error": "other"})["error"] == "other"  # not identical
    assert dedup(None, "info", dict(ev)) == ev  # info passes untouched
    now[0] += 60
    assert dedup(None, "warning", dict(ev)) == {**ev, "repeated": 5}


def test_undo_chooses_the_completed_version_before_the_current_one() -> None:
    kept = {"id": "/web-20260101120000-2", "instances": 0, "cmd": "v1",
            "labels": {"BLUEGREEN_GROUP": "web", "BLUEGREEN_COLOUR": "green", "BLUEGREEN_STARTED_AT": "x",
                       "BLUEGREEN_TARGET_INSTANCES": "3", "BLUEGREEN_PREVIOUS": "/a", "OWN": "1"}}
    rows = [{"outcome": "rolled_back", "green_definition": {"id": "/web", "cmd": "v3"}},
            {"outcome": "completed", "green_definition": {"id": "/web", "cmd": "v2"}},
            {"outcome": "completed", "green_definition": kept},
            {"outcome": "completed"}]
    n, record = choose(rows, "web", None)
    assert n == 3 and record["green_definition"]["cmd"] == "v1"
    assert choose(rows, "web", 2)[1]["green_definition"]["cmd"] == "v2"
    user = user_definition(kept)
    assert user["id"] == "/web" and user["instances"] == 1
    assert user["labels"] == {"BLUEGREEN_GROUP": "web", "OWN": "1"}
    for to, needle in ((9, "from 1 to 4"), (4, "kept no app definition")):
        with pytest.raises(CliError) as err:
            choose(rows, "web", to)
        assert needle in str(err.value)
    with pytest.raises(CliError):
        choose([], "web", None)


def test_config_check_has_json_output(tmp_path: object) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "bad.toml"
    bad.write_text("[api]\nbogus = 1\n", encoding="utf-8")
    runs = [subprocess.run([sys.executable, "-m", "reactor", "config", "check", str(p), "--json"],
                           capture_output=True, text=True, env=cli_env(), cwd=str(REPO), timeout=60)
            for p in (REPO / "config" / "reactor.toml", bad)]
    good, wrong = (json.loads(r.stdout) for r in runs)
    assert runs[0].returncode == 0 and good["ok"] is True and good["problems"] == []
    assert runs[1].returncode == 2 and wrong["problems"] == [{"key": "api.bogus", "problem": "unknown key"}]

"""Hostile bytes where the reactor reads untrusted input: Marathon's SSE frames into the watcher
(real HTTP from the scripted Marathon), `parse_event` on any bytes, and app JSON into
`bluegreen deploy --dry-run` — never a traceback, never a crash; the CLI exits 0 or 2 with one
line. Example counts stay modest (CI: 2 cores)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.cli.main import main
from reactor.core.events import MalformedEvent, parse_event
from tests.marathon.scripted import ScriptedMarathon, frame
from tests.marathon.test_watcher_scripted import ATTACHED, Recorder, status, wait_for

DEEP = b'{"eventType":"status_update_event","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_a_100000_deep_event_is_malformed_not_a_recursion_error() -> None:
    for raw in (DEEP, b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        with pytest.raises(MalformedEvent):
            parse_event(raw)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=200).map(str.encode)
       | st.recursive(st.none() | st.integers() | st.text(max_size=5),
                      lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids,
                                                                               max_size=3),
                      max_leaves=20).map(lambda v: json.dumps({"eventType": "status_update_event",
                                                               "v": v}).encode()))
def test_parse_event_returns_an_event_or_raises_malformed(raw: bytes) -> None:
    try:
        parse_event(raw)
    except MalformedEvent:
        pass


HOSTILE = [DEEP, b"\x00\x00\x00", b"data: " + b"[" * 5000 + b"\r\n\r\n", b"data:\xc3\x28\n\n",
           b"id: \x00\nretry: -1\nevent: " + b"e" * 1000 + b"\n\n", b"data: null\n\n", b"data: 1e999999\n\n"]


async def _watch(garbage: list[bytes]) -> Recorder:
    rec = Recorder()
    async with ScriptedMarathon() as sm, MarathonClient([sm.url]) as m:
        async with EventWatcher(m, **rec.kwargs()) as w:
            q = sm.script.stream_chunks
            q.put_nowait(frame(ATTACHED))
            for chunk in garbage:
                q.put_nowait(chunk)
            q.put_nowait(b"\r\n\r\n" + frame(status(7)))
            await wait_for(lambda: any(getattr(e, "task_id", "") == "a.instance-7._app.1" for e in rec.log)
                           or rec.reconnects > 0)
            assert w._task is not None and not w._task.done()
    return rec


async def test_a_deep_event_on_the_stream_is_counted_malformed_and_the_stream_goes_on() -> None:
    rec = await _watch([b"data: " + DEEP + b"\r\n\r\n"])
    assert rec.reconnects == 0 and len(rec.malformed) == 1
    assert "nested too deeply" in rec.malformed[0].reason


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.binary(max_size=300) | st.sampled_from(HOSTILE), max_size=6))
def test_hostile_stream_bytes_never_crash_the_watcher(garbage: list[bytes]) -> None:
    asyncio.run(_watch([b"data: " + g + b"\r\n\r\n" if g is DEEP else g for g in garbage]))


# ---- app JSON into deploy --dry-run -----------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**20) | st.floats() | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=12)
APP = st.fixed_dictionaries(
    {"id": st.sampled_from(["/web", "web", "/Web", "", "/a/../b", "/a b"]) | st.text(max_size=10)},
    optional={"cmd": st.sampled_from(["sleep 1", ""]) | JSON_VALUES,
              "instances": st.sampled_from([0, 3, "3", -1, 1.5, True, None]),
              "labels": st.dictionaries(st.sampled_from(["BLUEGREEN_GROUP", "BLUEGREEN_BATCH_SIZE",
                                                         "BLUEGREEN_DRAIN_TIMEOUT_S", "X"]),
                                        JSON_VALUES, max_size=3),
              "healthChecks": JSON_VALUES, "container": JSON_VALUES, "args": JSON_VALUES})
FILES = st.one_of(APP.map(lambda d: json.dumps(d).encode()), st.binary(max_size=100),
                  st.sampled_from([b"[" * 100_000, b'{"id":' * 30_000, b"", b"\xff\xfe{}", b"null"]))


@pytest.fixture(scope="module")
def dry_run_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Marathon on a port where nothing listens: --dry-run must still answer (plan: BLUE unknown)."""
    from tests.waiting import free_port

    path = tmp_path_factory.mktemp("dry") / "c.toml"
    path.write_text(f'[marathon]\nurls = ["http://127.0.0.1:{free_port()}"]\nrequest_timeout_s = 0.5\n')
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=FILES)
def test_fuzzed_app_json_into_deploy_dry_run(content: bytes, dry_run_config: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    app = tmp_path / "app.json"
    app.write_bytes(content)
    rc = main(["deploy", str(app), "--dry-run", "--json", "--config", str(dry_run_config)])
    out, err = capsys.readouterr()
    assert rc in (0, 2), err
    assert "Traceback" not in err and "Traceback" not in out
    if rc == 2:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err

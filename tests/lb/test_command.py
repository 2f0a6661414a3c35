"""The command driver with a real program (tests/lb/fake_lb.py) as the user's LB script."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from reactor.adapters.lb import (
    CommandLoadBalancer,
    LbCommandFailed,
    LbInvalidRequest,
    LbProtocolError,
    LbTimeout,
    LbUnsupported,
    PoolServer,
    ServerState,
)

FAKE = str(Path(__file__).with_name("fake_lb.py"))
TASK = "prod_web-green.instance-6f3c8e2a-0b1c-11ec-9a03-0242ac130003._app.1"


def argv(tmp_path: Path, *flags: str) -> list[str]:
    log = str(tmp_path / "requests.jsonl")
    return [sys.executable, FAKE, str(tmp_path / "pool.json"), "--log", log, *flags]


def requests(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]


async def test_operations_send_one_json_request_each_and_observe_parses_the_pool(tmp_path: Path) -> None:
    async with CommandLoadBalancer(argv(tmp_path), timeout_s=10) as lb:
        await lb.add("web", TASK, "10.0.0.7", 31000)
        await lb.add("web", "other", "10.0.0.8", 31001)
        await lb.drain("web", "other")
        pool = await lb.observe("web")
        assert pool[TASK] == PoolServer(TASK, f"srv-{TASK}", "10.0.0.7", 31000, ServerState.READY, 0, 0)
        assert pool["other"].state is ServerState.DRAIN
        await lb.maint("web", TASK)
        await lb.remove("web", "other")
        assert {t: s.state for t, s in (await lb.observe("web")).items()} == {TASK: ServerState.MAINT}
        assert await lb.observe("api") == {}
    sent = [{k: v for k, v in r.items() if k != "pid"} for r in requests(tmp_path)]
    assert sent[0] == {"op": "add", "backend": "web", "task_id": TASK, "address": "10.0.0.7", "port": 31000}
    assert sent[2] == {"op": "drain", "backend": "web", "task_id": "other"}
    assert sent[3] == {"op": "observe", "backend": "web"}
    ops = ["add", "add", "drain", "observe", "maint", "remove", "observe", "observe"]
    assert [r["op"] for r in sent] == ops


async def test_non_zero_exit_carries_exit_code_and_stderr(tmp_path: Path) -> None:
    lb = CommandLoadBalancer(argv(tmp_path, "--fail"))
    with pytest.raises(LbCommandFailed) as info:
        await lb.drain("web", TASK)
    assert info.value.exit_code == 3
    assert "locked by another deploy" in info.value.stderr and "locked by another deploy" in str(info.value)


async def test_program_still_running_after_the_timeout_is_killed(tmp_path: Path) -> None:
    lb = CommandLoadBalancer(argv(tmp_path, "--hang"), timeout_s=0.5)
    with pytest.raises(LbTimeout) as info:
        await lb.add("web", TASK, "10.0.0.7", 31000)
    assert "waiting for the balancer" in info.value.stderr
    pid = int(requests(tmp_path)[0]["pid"])  # type: ignore[call-overload]
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)


@pytest.mark.parametrize(
    "answer",
    ["this is not json {", '{"servers": [{"task_id": "t", "state": "sleeping"}]}', '{"pool": []}', ""],
)
async def test_observe_answer_that_is_not_the_pool_json_is_a_protocol_error(tmp_path: Path, answer) -> None:
    script = tmp_path / "answer.py"
    script.write_text(f"import sys; sys.stdin.read(); sys.stdout.write({answer!r})\n")
    lb = CommandLoadBalancer([sys.executable, str(script)])
    with pytest.raises(LbProtocolError):
        await lb.observe("web")


async def test_other_operations_accept_any_output(tmp_path: Path) -> None:
    lb = CommandLoadBalancer(argv(tmp_path, "--garbage"))
    await lb.add("web", TASK, "10.0.0.7", 31000)
    with pytest.raises(LbProtocolError, match="not json"):
        await lb.observe("web")


async def test_missing_program_is_a_command_failure(tmp_path: Path) -> None:
    lb = CommandLoadBalancer([str(tmp_path / "no-such-program")])
    with pytest.raises(LbCommandFailed) as info:
        await lb.remove("web", TASK)
    assert info.value.exit_code == 127 and "cannot start" in info.value.stderr


@pytest.mark.parametrize(("args", "problem"), [([], "argv is empty"), ([""], "argv is empty")])
def test_bad_configuration_is_refused(args, problem) -> None:
    with pytest.raises(LbInvalidRequest, match=problem):
        CommandLoadBalancer(args)


async def test_bad_port_is_refused_before_running_anything(tmp_path: Path) -> None:
    lb = CommandLoadBalancer(argv(tmp_path))
    with pytest.raises(LbInvalidRequest, match="port"):
        await lb.add("web", TASK, "10.0.0.7", 0)
    assert not (tmp_path / "requests.jsonl").exists()


async def test_backup_servers_are_refused_without_running_the_program(tmp_path: Path) -> None:
    async with CommandLoadBalancer(argv(tmp_path), timeout_s=10) as lb:
        with pytest.raises(LbUnsupported, match="cannot add backup servers"):
            await lb.add("web", TASK, "10.0.0.7", 31000, backup=True)
        assert await lb.observe("web") == {}
    assert [r["op"] for r in requests(tmp_path)] == ["observe"]

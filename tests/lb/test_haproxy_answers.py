"""Answer sentences captured verbatim from HAProxy 2.6.12 map to outcomes and typed errors."""

from __future__ import annotations

import pytest

from reactor.adapters.lb import BackendNotFound, LbPermissionDenied, LbProtocolError, LbUnsupported
from reactor.adapters.lb.base import ServerState
from reactor.adapters.lb.haproxy_answers import Outcome, classify, parse_servers_state, server_state

CAPTURED = [
    ("\n", Outcome.OK),
    ("New server registered.\n\n", Outcome.OK),
    ("Server deleted.\n", Outcome.OK),
    ("Already exists a server with the same name in backend.\n\n", Outcome.EXISTS),
    ("No such server.\n\n", Outcome.NO_SERVER),
    ("Server still has connections attached to it, cannot remove it.\n", Outcome.BUSY),
    ("Only servers in maintenance mode can be deleted.\n", Outcome.NOT_IN_MAINT),
    ("Health check was not configured on this server, cannot enable.\n\n", Outcome.NO_HEALTH_CHECK),
    ("Backend must use a dynamic load balancing to support dynamic servers.\n", Outcome.NOT_DYNAMIC),
]


@pytest.mark.parametrize(("answer", "outcome"), CAPTURED)
def test_known_sentences(answer: str, outcome: Outcome) -> None:
    assert classify(answer, command="x", backend="web", target="sock") is outcome


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("No such backend.\n", BackendNotFound),
        ("Can't find backend.\n\n", BackendNotFound),
        ("No such proxy.\n\n", BackendNotFound),
        ("Permission denied\n\n", LbPermissionDenied),
        ("Unknown command, but maybe one of the following ones is a better match:\n  add map ...\n",
         LbUnsupported),
        ("character '!' is not permitted in server name 'a!'.\n\n", LbProtocolError),
        ("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n", LbProtocolError),
    ],
)
def test_error_sentences(answer: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        classify(answer, command="add server web/a 127.0.0.1:1", backend="web", target="sock")


def test_servers_state_parsing_of_a_captured_answer() -> None:
    header = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
              "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
              "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
              "srv_check_port srv_check_addr srv_agent_addr srv_agent_port")
    text = (f"1\n{header}\n"
            "3 web 3 a-b_c.d 127.0.0.1 2 8 1 1 0 1 0 0 0 0 0 0 - 9000 - 0 0 - - 0\n"
            "3 web 4 x - 0 1 1 1 2 1 0 0 0 0 0 0 nohost.invalid 80 - 0 0 - - 0\n"
            "6 chk 1 c1 127.0.0.1 0 0 1 1 1 8 2 0 6 0 0 0 - 1 - 0 0 - - 0\n\n")
    rows = parse_servers_state(text, command="show servers state")
    assert [(r.name, r.address, r.port, r.state) for r in rows] == [
        ("a-b_c.d", "127.0.0.1", 9000, ServerState.DRAIN),
        ("x", "nohost.invalid", 80, ServerState.MAINT),
        ("c1", "127.0.0.1", 1, ServerState.DOWN),
    ]
    with pytest.raises(LbProtocolError):
        parse_servers_state("Can't find backend.\n", command="show servers state")


@pytest.mark.parametrize(
    ("admin", "op", "state"),
    [(0, 2, ServerState.READY), (0, 3, ServerState.READY), (0, 0, ServerState.DOWN),
     (8, 0, ServerState.DRAIN), (1, 0, ServerState.MAINT), (9, 2, ServerState.MAINT),
     (0x20, 2, ServerState.MAINT),
     (0x04, 0, ServerState.MAINT)],
)
def test_state_from_admin_and_operational_state(admin: int, op: int, state: ServerState) -> None:
    assert server_state(admin, op) is state

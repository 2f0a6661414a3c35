"""What HAProxy's Runtime API answers mean, and the parsers of its `show` outputs.

Owns the table of answer sentences (found by provoking HAProxy 2.6 by hand) mapped to outcomes
or typed errors, and parsing of `show servers state <b>` and `show stat <b> <type> -1` (CSV).
Pure functions; no I/O. Must not know which operation the driver is performing beyond the
command text it is given.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum

from reactor.adapters.lb.base import ServerState
from reactor.adapters.lb.errors import (
    BackendNotFound,
    LbPermissionDenied,
    LbProtocolError,
    LbUnsupported,
)


class Outcome(StrEnum):
    OK = "ok"
    EXISTS = "exists"
    NO_SERVER = "no_server"
    BUSY = "busy"
    NOT_IN_MAINT = "not_in_maint"
    NO_HEALTH_CHECK = "no_health_check"
    NOT_DYNAMIC = "not_dynamic"


# Exact sentences of HAProxy 2.6 (first line of the answer, stripped).
SENTENCES: dict[str, Outcome] = {
    "": Outcome.OK,  # `set server ... state`, `enable health`
    "New server registered.": Outcome.OK,
    "Server deleted.": Outcome.OK,
    "Already exists a server with the same name in backend.": Outcome.EXISTS,
    "No such server.": Outcome.NO_SERVER,
    "Server still has connections attached to it, cannot remove it.": Outcome.BUSY,
    "Only servers in maintenance mode can be deleted.": Outcome.NOT_IN_MAINT,
    "Health check was not configured on this server, cannot enable.": Outcome.NO_HEALTH_CHECK,
    "Backend must use a dynamic load balancing to support dynamic servers.": Outcome.NOT_DYNAMIC,
}
NO_BACKEND = frozenset({"No such backend.", "Can't find backend.", "No such proxy."})
PERMISSION_DENIED = "Permission denied"
UNKNOWN_COMMAND = "Unknown command"

# srv_admin_state bits (HAProxy's enum srv_admin).
_ADMF_MAINT = 0x01 | 0x02 | 0x04 | 0x20  # forced, inherited, config, resolution failure
_ADMF_DRAIN = 0x08 | 0x10  # forced, inherited
_OP_STOPPED = 0


def classify(answer: str, *, command: str, backend: str, target: str) -> Outcome:
    """The outcome of `command`, or the typed error its answer stands for."""
    first = answer.strip().split("\n", 1)[0].strip()
    if first in SENTENCES:
        return SENTENCES[first]
    if first in NO_BACKEND:
        raise BackendNotFound(backend)
    if first == PERMISSION_DENIED:
        raise LbPermissionDenied(target, command)
    if first.startswith(UNKNOWN_COMMAND):
        verb = " ".join(command.split(" ", 2)[:2])
        raise LbUnsupported(f"HAProxy at {target} does not know {verb!r}: dynamic servers need HAProxy 2.4+")
    raise LbProtocolError(answer, command)


@dataclass(frozen=True, slots=True)
class ServerRow:
    name: str
    address: str
    port: int
    state: ServerState


def server_state(admin_state: int, op_state: int) -> ServerState:
    """Admin state wins (MAINT > DRAIN); DOWN means admin-ready but the health check fails."""
    if admin_state & _ADMF_MAINT:
        return ServerState.MAINT
    if admin_state & _ADMF_DRAIN:
        return ServerState.DRAIN
    if op_state == _OP_STOPPED:
        return ServerState.DOWN
    return ServerState.READY


def parse_servers_state(text: str, *, command: str) -> list[ServerRow]:
    """Rows of `show servers state <backend>` (format version 1, header names the columns)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != "1" or len(lines) < 2 or not lines[1].startswith("# "):
        raise LbProtocolError(text, command)
    cols = lines[1][2:].split()
    try:
        ix = {k: cols.index(k) for k in ("srv_name", "srv_addr", "srv_op_state", "srv_admin_state",
                                          "srv_fqdn", "srv_port")}
        rows = []
        for ln in lines[2:]:
            f = ln.split()
            addr = f[ix["srv_addr"]]
            if addr == "-":
                addr = f[ix["srv_fqdn"]]
            rows.append(ServerRow(
                name=f[ix["srv_name"]],
                address=addr,
                port=int(f[ix["srv_port"]]),
                state=server_state(int(f[ix["srv_admin_state"]]), int(f[ix["srv_op_state"]])),
            ))
    except (ValueError, IndexError):
        raise LbProtocolError(text, command) from None
    return rows


def parse_stat(text: str, *, command: str) -> list[dict[str, str]]:
    """Rows of `show stat ...` CSV as dicts keyed by column name (pxname, svname, scur, ...)."""
    if not text.startswith("# "):
        raise LbProtocolError(text, command)
    reader = csv.DictReader(text[2:].splitlines())
    return [row for row in reader if row.get("svname")]


def stat_int(row: dict[str, str], key: str) -> int:
    value = row.get(key) or "0"
    return int(value) if value.isdigit() else 0

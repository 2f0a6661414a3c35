"""A minimal client of HAProxy's runtime API (stats socket): one command per connection.

Owns the wire exchange only (send one line, read until HAProxy closes) and parsing of
`show servers state`. Deliberately independent of reactor.adapters.lb so that the demo and
baseline pieces cannot hide a bug of the product's driver. Must not decide what to route.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

# srv_op_state values of `show servers state`
OP_STOPPED, OP_STARTING, OP_RUNNING, OP_STOPPING = 0, 1, 2, 3
# srv_admin_state bit: forced maintenance
ADMIN_FMAINT = 0x01
SUCCESS_PREFIXES = ("New server registered", "Server deleted")


class RuntimeApiError(Exception):
    """HAProxy refused a command or the socket could not be reached."""


@dataclass(frozen=True)
class ServerState:
    backend: str
    name: str
    addr: str
    port: int
    op_state: int
    admin_state: int

    @property
    def in_maintenance(self) -> bool:
        return bool(self.admin_state & ADMIN_FMAINT)

    @property
    def serving(self) -> bool:
        """Up and not in maintenance: HAProxy sends new requests to it."""
        return self.op_state == OP_RUNNING and not self.in_maintenance


async def runtime_command(socket_path: Path, command: str, *, timeout_s: float = 5.0) -> str:
    """Send one command to the runtime socket and return HAProxy's whole answer."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(str(socket_path))
            try:
                writer.write(command.encode() + b"\n")
                await writer.drain()
                data = await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        raise RuntimeApiError(f"haproxy runtime socket {socket_path}: {exc!r}") from None
    return data.decode(errors="replace")


async def checked_command(socket_path: Path, command: str) -> str:
    """Like runtime_command for change commands: any answer but an empty one or a known
    success line (`New server registered.`, `Server deleted.`) raises RuntimeApiError."""
    answer = await runtime_command(socket_path, command)
    text = answer.strip()
    if text and not text.startswith(SUCCESS_PREFIXES):
        raise RuntimeApiError(f"haproxy refused {command!r}: {text}")
    return answer


async def servers_state(socket_path: Path, backend: str) -> dict[str, ServerState]:
    """Servers of one backend by name, from `show servers state <backend>`."""
    answer = await runtime_command(socket_path, f"show servers state {backend}")
    if "can't find backend" in answer.lower() or "unknown" in answer.lower():
        raise RuntimeApiError(f"haproxy has no backend {backend!r}: {answer.strip()}")
    out: dict[str, ServerState] = {}
    for line in answer.splitlines():
        fields = line.split()
        if len(fields) < 19 or line.startswith("#"):
            continue
        out[fields[3]] = ServerState(backend=fields[1], name=fields[3], addr=fields[4],
                                     port=int(fields[18]), op_state=int(fields[5]),
                                     admin_state=int(fields[6]))
    return out

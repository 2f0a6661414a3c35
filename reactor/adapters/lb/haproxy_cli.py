"""Transport to HAProxy's Runtime API: one short-lived connection per command.

Owns connecting to a unix socket path (or `unix://path`) or `tcp://host:port`, sending one
command line and reading the answer until HAProxy closes the connection. A fresh connection per
command makes the driver immune to HAProxy restarts. Maps transport failures to LbUnavailable /
LbTimeout. Must not interpret answers (haproxy_answers does).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass

from reactor.adapters.lb.errors import LbInvalidRequest, LbTimeout, LbUnavailable


@dataclass(frozen=True, slots=True)
class RuntimeApi:
    target: str  # "/run/haproxy/admin.sock", "unix:///path" or "tcp://127.0.0.1:9999"
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.target:
            raise LbInvalidRequest("HAProxy socket is empty")
        if self.target.startswith("tcp://"):
            host, sep, port = self.target[len("tcp://"):].rpartition(":")
            if not sep or not host or not port.isdigit():
                raise LbInvalidRequest(f"HAProxy socket {self.target!r}: expected tcp://host:port")
        if self.timeout_s <= 0:
            raise LbInvalidRequest(f"HAProxy timeout must be > 0 s, got {self.timeout_s}")

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.target.startswith("tcp://"):
            host, _, port = self.target[len("tcp://"):].rpartition(":")
            return await asyncio.open_connection(host.strip("[]"), int(port))
        path = self.target.removeprefix("unix://")
        return await asyncio.open_unix_connection(path)

    async def run(self, command: str) -> str:
        """The raw answer to one command. Raises LbUnavailable or LbTimeout, never OSError."""
        if "\n" in command or ";" in command:  # ';' would chain a second command
            raise LbInvalidRequest(f"refusing to send {command!r}: contains a newline or ';'")
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await self._open()
                try:
                    writer.write(command.encode() + b"\n")
                    await writer.drain()
                    data = await reader.read()
                finally:
                    writer.close()
                    with suppress(OSError):
                        await writer.wait_closed()
        except TimeoutError:  # before OSError: TimeoutError is one
            what = f"HAProxy at {self.target} ({command.split(' ', 2)[:2]!r})"
            raise LbTimeout(what, self.timeout_s) from None
        except FileNotFoundError:
            raise LbUnavailable(self.target, "socket does not exist (HAProxy not running?)") from None
        except ConnectionRefusedError:
            raise LbUnavailable(self.target, "connection refused (HAProxy not running?)") from None
        except OSError as exc:
            raise LbUnavailable(self.target, f"{type(exc).__name__}: {exc}") from None
        if not data:
            raise LbUnavailable(self.target, "connection closed without an answer (HAProxy restarting?)")
        return data.decode("utf-8", "replace")

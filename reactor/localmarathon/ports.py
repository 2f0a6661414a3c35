"""Host and service port allocation.

Owns: which entries of an app carry ports (portDefinitions, or container portMappings with their
`servicePort`; which of them need a host port), handing out host ports from the configured
range (checked free on 127.0.0.1 for real processes; reused round-robin for virtual tasks once
the range is exhausted) and service ports (from 10000, Marathon's `local_port_min`).
Must not: bind anything beyond the instant check.
"""

from __future__ import annotations

import socket
from typing import Any


class PortRangeExhausted(RuntimeError):
    pass


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class HostPorts:
    def __init__(self, first: int, last: int, check_free: bool) -> None:
        self.first, self.last = first, last
        self.check_free = check_free
        self.used: set[int] = set()
        self._next = first

    def take(self) -> int:
        span = self.last - self.first + 1
        for _ in range(span):
            port = self._next
            self._next = self.first if port >= self.last else port + 1
            if port in self.used:
                continue
            if self.check_free and not _is_free(port):
                continue
            self.used.add(port)
            return port
        if not self.check_free:  # virtual tasks: no process binds, sharing a port is harmless
            port = self._next
            self._next = self.first if port >= self.last else port + 1
            return port
        raise PortRangeExhausted(f"no free port in {self.first}-{self.last}")

    def release(self, ports: list[int]) -> None:
        for p in ports:
            self.used.discard(p)


class ServicePorts:
    def __init__(self, first: int = 10000) -> None:
        self._next = first
        self.used: set[int] = set()

    def assign(self, port_defs: list[dict[str, object]], previous: list[int], key: str = "port") -> None:
        """Fill `port: 0` entries (`servicePort` of portMappings), reusing the app's previous ones."""
        for i, pd in enumerate(port_defs):
            if pd.get(key) in (0, None):
                if i < len(previous) and previous[i]:
                    pd[key] = previous[i]
                else:
                    while self._next in self.used:
                        self._next += 1
                    pd[key] = self._next
            self.used.add(int(pd[key]))  # type: ignore[call-overload]


def port_slots(defn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(service-port key, entry): portDefinitions' `port`, or container portMappings' `servicePort`."""
    mappings = (defn.get("container") or {}).get("portMappings")
    if not defn.get("portDefinitions") and isinstance(mappings, list) and mappings:
        return [("servicePort", m) for m in mappings if isinstance(m, dict)]
    return [("port", p) for p in defn.get("portDefinitions") or []]


def needs_host_port(defn: dict[str, Any], entry: dict[str, Any]) -> bool:
    if "containerPort" not in entry:
        return True  # a port definition: always a host port
    modes = {n.get("mode") for n in defn.get("networks") or [] if isinstance(n, dict)}
    docker_net = ((defn.get("container") or {}).get("docker") or {}).get("network")
    return "hostPort" in entry or "container/bridge" in modes or docker_net == "BRIDGE"

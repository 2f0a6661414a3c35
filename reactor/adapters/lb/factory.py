"""Builds the configured driver from plain values (the engine reads the settings, not us).

Owns the driver name -> class choice. Must not import reactor.settings.
"""

from __future__ import annotations

from reactor.adapters.lb.base import LoadBalancer
from reactor.adapters.lb.command import CommandLoadBalancer
from reactor.adapters.lb.errors import LbInvalidRequest
from reactor.adapters.lb.haproxy import HaproxyLoadBalancer
from reactor.adapters.lb.none import NoLoadBalancer

DRIVERS = ("haproxy", "command", "none")


def build_load_balancer(
    driver: str,
    *,
    haproxy_socket: str = "/run/haproxy/admin.sock",
    haproxy_timeout_s: float = 5.0,
    command_argv: list[str] | None = None,
    command_timeout_s: float = 10.0,
    command_env_passthrough: list[str] | None = None,
    haproxy_health_check: str | None = "check",
    haproxy_remove_busy_timeout_s: float = 10.0,
) -> LoadBalancer:
    """The driver named `driver` ("haproxy" | "command" | "none"; an LbDriver enum works too)."""
    name = str(driver).strip().lower()
    if name == "haproxy":
        return HaproxyLoadBalancer(
            haproxy_socket, timeout_s=haproxy_timeout_s, health_check=haproxy_health_check,
            remove_busy_timeout_s=haproxy_remove_busy_timeout_s,
        )
    if name == "command":
        return CommandLoadBalancer(command_argv or [], timeout_s=command_timeout_s,
                                   env_passthrough=command_env_passthrough or [])
    if name == "none":
        return NoLoadBalancer()
    raise LbInvalidRequest(f"unknown load balancer driver {driver!r}: expected one of {', '.join(DRIVERS)}")

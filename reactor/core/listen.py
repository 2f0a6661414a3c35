"""The `[api] listen` address: parsing, whether it is loopback, and the URL a client calls.

Owns the one grammar of `listen` (`HOST:PORT`, `[V6]:PORT`, `:PORT` = every interface) for the
settings' validation, the API server and the CLI, so that they can never disagree. Pure: no
socket, no name resolution (a host name other than `localhost` counts as not loopback).
"""

from __future__ import annotations

import ipaddress

ALL_INTERFACES = "0.0.0.0"


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (all interfaces); raises ValueError naming the value."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"listen must be HOST:PORT (e.g. 127.0.0.1:9090), not {listen!r}")
    if host.startswith("[") != host.endswith("]"):
        raise ValueError(f"listen: unbalanced brackets in {listen!r}")
    bare = host[1:-1] if host.startswith("[") else host
    if ":" in bare and not host.startswith("["):
        raise ValueError(f"listen: write an IPv6 address in brackets, e.g. [::1]:9090, not {listen!r}")
    if any(c.isspace() or c in "/?#@" for c in bare):
        raise ValueError(f"listen: {bare!r} is not a host name or address")
    return bare or ALL_INTERFACES, int(port)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; False for every interface and any other name."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_url(listen: str, *, tls: bool = False) -> str:
    """The base URL a local client uses to reach a server listening on `listen`.

    A wildcard address (`:9090`, `0.0.0.0`, `::`) is reached on loopback; an address given with
    a scheme (`http://h:p`, as users type it for `--api`) keeps its scheme and is not doubled.
    """
    text = listen.strip().rstrip("/")
    for scheme in ("http://", "https://"):
        if text.lower().startswith(scheme):
            return scheme + _host_port(text[len(scheme):])
    return ("https://" if tls else "http://") + _host_port(text)


def _host_port(text: str) -> str:
    host, port = parse_listen(text)
    if host in (ALL_INTERFACES, "::"):
        host = "127.0.0.1" if host == ALL_INTERFACES else "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_header_is_local(host: str, own_names: frozenset[str] = frozenset()) -> bool:
    """Whether a request's `Host` (with or without its port) names this machine without DNS: an
    IP literal, `localhost` (and `*.localhost`), or one of `own_names` (the machine's hostname).
    A browser page whose own domain was re-pointed at 127.0.0.1 (DNS rebinding) sends that
    domain: an API without a token answers only hosts for which this is True."""
    text = host.strip().lower()
    if text.startswith("["):  # [v6] or [v6]:port
        name = text[1:text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        name = text.rsplit(":", 1)[0]
    else:
        name = text  # a bare name, or a bare IPv6 address
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name == "localhost" or name.endswith(".localhost") or name in own_names

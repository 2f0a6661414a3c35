"""HAProxy server names derived from task ids, and validation of what goes on a CLI line.

Owns the reversible mapping task id <-> server name and the checks on addresses and ports.
A server name is `bg-` followed by the task id with every character outside HAProxy's safe set
`[A-Za-z0-9_.-]` written as `:` and two lowercase hex digits per UTF-8 byte. HAProxy accepts
letters, digits, `-`, `_`, `.` and `:` in names, so every name is valid; Marathon task ids
(`prod_web-green.instance-<uuid>._app.1`) need no escaping and stay readable in HAProxy stats.
Decoding is strict (canonical escapes only), so names not produced here map to None: they belong
to someone else (config file servers, marathon-lb) and the driver leaves them alone.
Pure functions only; no I/O.
"""

from __future__ import annotations

import ipaddress
import re

from reactor.adapters.lb.errors import LbInvalidRequest

NAME_PREFIX = "bg-"
# HAProxy 2.6 accepted 16000-character names, but a command line must fit the CLI buffer (a
# 40000-character `add server` got no answer at all), every `show` line carries the name, and
# names are read by humans: refuse rather than truncate (truncation would not be reversible).
MAX_NAME_LEN = 512
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_HEX = frozenset("0123456789abcdef")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")
HAPROXY_NAME_CHARS = _SAFE | {":"}


def server_name(task_id: str) -> str:
    """The HAProxy server name of a task id; LbInvalidRequest if empty or too long."""
    if not task_id:
        raise LbInvalidRequest("task id is empty")
    out = [NAME_PREFIX]
    for ch in task_id:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f":{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    name = "".join(out)
    if len(name) > MAX_NAME_LEN:
        raise LbInvalidRequest(
            f"task id {task_id[:60]!r}... gives a server name of {len(name)} characters (max {MAX_NAME_LEN})"
        )
    return name


def task_id_of(name: str) -> str | None:
    """The task id a server name was made from, or None when the name is not one of ours."""
    if not name.startswith(NAME_PREFIX) or len(name) == len(NAME_PREFIX):
        return None
    raw = bytearray()
    i, body = 0, name[len(NAME_PREFIX):]
    while i < len(body):
        ch = body[i]
        if ch in _SAFE:
            raw.append(ord(ch))
            i += 1
        elif ch == ":" and i + 2 < len(body) and body[i + 1] in _HEX and body[i + 2] in _HEX:
            byte = int(body[i + 1 : i + 3], 16)
            if chr(byte) in _SAFE:  # non-canonical: we never escape a safe character
                return None
            raw.append(byte)
            i += 3
        else:
            return None
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise LbInvalidRequest(f"port {port!r} is not a TCP port (1-65535)")
    return port


def ip_literal(address: str) -> str | None:
    """The canonical IP if `address` is an IPv4/IPv6 literal (brackets allowed), else None."""
    try:
        return str(ipaddress.ip_address(address.strip("[]") if address.startswith("[") else address))
    except ValueError:
        return None


def check_hostname(address: str) -> str:
    if not isinstance(address, str) or not _HOSTNAME.match(address):
        raise LbInvalidRequest(f"address {address!r} is neither an IP address nor a host name")
    return address


def endpoint(ip: str, port: int) -> str:
    """`ip:port` as HAProxy parses it (IPv6 in brackets)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

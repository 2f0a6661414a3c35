"""`python -m reactor.cli.healthcheck`: the container HEALTHCHECK — GET /healthz of the daemon on the
port the configuration gives (`[api] listen`, from $REACTOR_CONFIG and BLUEGREEN_* variables).

Owns turning the configured listen address into a local URL and exiting 0 (healthy) or 1.
Must not: print more than one line, or talk to anything but the local daemon.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request

from reactor.settings import ConfigError, load_settings


def local_url(listen: str, *, tls: bool = False) -> str:
    """`0.0.0.0:9090` → `http://127.0.0.1:9090/healthz` (a wildcard address is reached on loopback)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::", "*"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/healthz"


def main() -> int:
    try:
        settings = load_settings(os.environ.get("REACTOR_CONFIG") or None)
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    tls = bool(getattr(settings.api, "tls_cert_file", None))
    context = ssl._create_unverified_context() if tls else None  # our own daemon on loopback
    try:
        with urllib.request.urlopen(local_url(settings.api.listen, tls=tls), timeout=2,
                                    context=context) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

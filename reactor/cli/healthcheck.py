"""`python -m reactor.cli.healthcheck`: the container HEALTHCHECK — GET /healthz of the daemon on the
port the configuration gives (`[api] listen`, from $REACTOR_CONFIG and BLUEGREEN_* variables).

Owns exiting 0 (healthy) or 1; the listen grammar and the local URL are core.listen's.
Must not: print more than one line, or talk to anything but the local daemon.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request

from reactor.core.listen import client_url
from reactor.settings import ConfigError, load_settings


def main() -> int:
    try:
        settings = load_settings(os.environ.get("REACTOR_CONFIG") or None)
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    tls = settings.api.tls_cert_file is not None
    context = ssl._create_unverified_context() if tls else None  # our own daemon on loopback
    url = client_url(settings.api.listen, tls=tls) + "/healthz"  # a wildcard address → loopback
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

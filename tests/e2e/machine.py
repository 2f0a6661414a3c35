"""Facts about the machine a benchmark ran on, for the header of every table."""

from __future__ import annotations

import os
import platform
import subprocess
import sys


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def haproxy_version() -> str:
    try:
        out = subprocess.run(["haproxy", "-v"], capture_output=True, text=True, timeout=5).stdout
        return out.splitlines()[0].split(" - ")[0].strip() if out else "none"
    except (OSError, subprocess.SubprocessError):
        return "none"


def header(title: str) -> str:
    return (f"{title}\nmachine: nproc {os.cpu_count()}, CPU {cpu_model()}, Python {sys.version.split()[0]}, "
            f"{platform.system()} {platform.release()}, {haproxy_version()}")

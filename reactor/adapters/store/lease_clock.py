"""The clock lease trust is measured on.

Owns one function. A lease is trusted until its last proof plus a safe fraction of its TTL (or of
the ZooKeeper session timeout). The clock must keep running while this process is stopped
(SIGSTOP, a long GC) and while the host is suspended (a paused VM, a laptop asleep): in both
cases the lease may have expired and been taken by another replica, and the process must wake
up fenced. Linux's CLOCK_BOOTTIME does both; CLOCK_MONOTONIC (Python's `time.monotonic`) stops
while the host is suspended. Where the OS has no CLOCK_BOOTTIME, the monotonic clock is used.
"""

from __future__ import annotations

import time


def lease_clock() -> float:
    """Seconds since an arbitrary point, counting suspended time too (where the OS can)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


if not hasattr(time, "CLOCK_BOOTTIME"):  # not Linux: the best the OS offers
    lease_clock = time.monotonic

"""Typed errors of the load balancer drivers.

Owns the exception hierarchy every driver raises at its boundary; the engine and the CLI catch
`LbError` and map it to one line. Must not import any driver (drivers import this module).
"""

from __future__ import annotations


class LbError(Exception):
    """Base of every load balancer error."""


class LbUnavailable(LbError):
    """The balancer cannot be reached: socket missing, refused, or closed mid-call (restart)."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"load balancer at {target} unavailable: {reason}")


class LbTimeout(LbError):
    """The balancer (or the command) did not answer in time."""

    def __init__(self, what: str, timeout_s: float, stderr: str = "") -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.stderr = stderr
        tail = f"; stderr: {stderr.strip()}" if stderr.strip() else ""
        super().__init__(f"{what} did not answer within {timeout_s:g} s{tail}")


class BackendNotFound(LbError):
    def __init__(self, backend: str) -> None:
        self.backend = backend
        super().__init__(f"load balancer has no backend named {backend!r}")


class BackendNotDynamic(LbError):
    """Configuration error: the backend's balance algorithm cannot take servers at run time."""

    def __init__(self, backend: str, algorithm: str) -> None:
        self.backend = backend
        self.algorithm = algorithm
        super().__init__(
            f"backend {backend!r} uses 'balance {algorithm}', which cannot take servers added at run "
            "time; configure a dynamic algorithm such as 'balance roundrobin' or 'balance leastconn' "
            "(hash-based balancing needs 'hash-type consistent')"
        )


class ServerStillBusy(LbError):
    """`del server` kept finding connections attached until the retry bound ran out."""

    def __init__(self, backend: str, task_id: str, waited_s: float) -> None:
        self.backend = backend
        self.task_id = task_id
        self.waited_s = waited_s
        super().__init__(
            f"server for task {task_id!r} in backend {backend!r} still has connections attached "
            f"after {waited_s:.1f} s; it stays in maintenance, remove it again later"
        )


class LbCommandFailed(LbError):
    """The user's LB program exited non-zero (or could not be started)."""

    def __init__(self, argv: list[str], exit_code: int, stderr: str) -> None:
        self.argv = list(argv)
        self.exit_code = exit_code
        self.stderr = stderr
        detail = stderr.strip() or "(no stderr)"
        super().__init__(f"load balancer command {argv[0]!r} exited with {exit_code}: {detail}")


class LbProtocolError(LbError):
    """An answer the driver does not understand (or one that reveals a driver bug)."""

    def __init__(self, answer: str, command: str = "") -> None:
        self.answer = answer
        self.command = command
        where = f" to {command!r}" if command else ""
        super().__init__(f"unexpected load balancer answer{where}: {answer.strip()[:500]!r}")


class LbPermissionDenied(LbError):
    """The HAProxy socket refused an admin command (socket not configured with `level admin`)."""

    def __init__(self, target: str, command: str) -> None:
        self.target = target
        self.command = command
        super().__init__(
            f"HAProxy at {target} refused {command.split(' ', 2)[:2]!r}: 'Permission denied'; "
            "the stats socket needs 'level admin'"
        )


class LbUnsupported(LbError):
    """The balancer is too old for what the driver needs (HAProxy < 2.4 has no `add server`)."""


class LbInvalidRequest(LbError, ValueError):
    """Bad input from the caller (task id, address, port, config); nothing was changed."""

"""Load balancer drivers behind one protocol: haproxy (Runtime API), command, none.

The engine builds one with `build_load_balancer(...)`, enters it as an async context manager and
calls observe / add / drain / maint / remove; errors are `LbError` subclasses.
"""

from reactor.adapters.lb.base import LoadBalancer, PoolServer, ServerState
from reactor.adapters.lb.command import CommandLoadBalancer
from reactor.adapters.lb.errors import (
    BackendNotDynamic,
    BackendNotFound,
    LbCommandFailed,
    LbError,
    LbInvalidRequest,
    LbPermissionDenied,
    LbProtocolError,
    LbTimeout,
    LbUnavailable,
    LbUnsupported,
    ServerStillBusy,
)
from reactor.adapters.lb.factory import DRIVERS, build_load_balancer
from reactor.adapters.lb.haproxy import HaproxyLoadBalancer
from reactor.adapters.lb.names import server_name, task_id_of
from reactor.adapters.lb.none import NoLoadBalancer

__all__ = [
    "DRIVERS",
    "BackendNotDynamic",
    "BackendNotFound",
    "CommandLoadBalancer",
    "HaproxyLoadBalancer",
    "LbCommandFailed",
    "LbError",
    "LbInvalidRequest",
    "LbPermissionDenied",
    "LbProtocolError",
    "LbTimeout",
    "LbUnavailable",
    "LbUnsupported",
    "LoadBalancer",
    "NoLoadBalancer",
    "PoolServer",
    "ServerState",
    "ServerStillBusy",
    "build_load_balancer",
    "server_name",
    "task_id_of",
]

"""build_load_balancer and the none driver."""

from __future__ import annotations

import pytest

from reactor.adapters.lb import (
    CommandLoadBalancer,
    HaproxyLoadBalancer,
    LbInvalidRequest,
    LoadBalancer,
    NoLoadBalancer,
    build_load_balancer,
)
from reactor.settings import LbDriver


@pytest.mark.parametrize(
    ("driver", "cls"),
    [("haproxy", HaproxyLoadBalancer), ("command", CommandLoadBalancer), ("none", NoLoadBalancer),
     (LbDriver.HAPROXY, HaproxyLoadBalancer)],
)
def test_factory_builds_each_driver(driver, cls) -> None:
    lb = build_load_balancer(driver, haproxy_socket="/run/haproxy/admin.sock", haproxy_timeout_s=5,
                             command_argv=["my-lb"], command_timeout_s=10)
    assert isinstance(lb, cls) and isinstance(lb, LoadBalancer)


def test_unknown_driver_names_the_choices() -> None:
    with pytest.raises(LbInvalidRequest, match=r"driver 'nginx'.*haproxy, command, none"):
        build_load_balancer("nginx", haproxy_socket="x", haproxy_timeout_s=1, command_argv=[],
                            command_timeout_s=1)


@pytest.mark.parametrize("socket", ["", "tcp://nohostport", "tcp://:99"])
def test_bad_haproxy_socket_is_refused(socket) -> None:
    with pytest.raises(LbInvalidRequest, match="socket"):
        build_load_balancer("haproxy", haproxy_socket=socket, haproxy_timeout_s=1, command_argv=[],
                            command_timeout_s=1)


async def test_none_driver_observes_nothing_and_does_nothing() -> None:
    async with NoLoadBalancer() as lb:
        await lb.add("web", "t1", "127.0.0.1", 8080)
        await lb.drain("web", "t1")
        await lb.maint("web", "t1")
        await lb.remove("web", "t1")
        assert await lb.observe("web") == {}
    await lb.stop()  # stop twice is fine

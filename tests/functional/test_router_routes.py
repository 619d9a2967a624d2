"""A router's extra routes and its admin state on a real host: the route is in the
router's namespace and carries traffic, drift is mended by the next apply, and a router
that is down is not there at all (its floating IP answers nobody) until it is up again."""

from __future__ import annotations

import copy
import subprocess

import pytest

from tests.functional.conftest import Lab, seed_data

FIP = "10.255.253.100"
BEHIND = "172.16.0.5"  # an address vm1 holds on its loopback: reachable only via vm1


def ping(namespace: str, address: str) -> bool:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "ping", "-c", "1", "-W", "1", address],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def routes(namespace: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, "ip", "route", "show"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def with_route(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["routers"][0]["routes"] = [{"destination": "172.16.0.0/24", "nexthop": "10.0.0.81"}]
    return data


def test_an_extra_route_carries_traffic_and_drift_is_mended(lab: Lab) -> None:
    lab.apply(seed_data())
    vm1 = lab.ns_of("instance", "vm1")
    router_ns = lab.ns_of("router", "01")
    subprocess.run(
        ["ip", "netns", "exec", vm1, "ip", "addr", "add", f"{BEHIND}/32", "dev", "lo"], check=True
    )
    assert not ping(router_ns, BEHIND)  # no route yet: it goes to the upstream gateway

    lab.apply(with_route(seed_data()))
    assert "172.16.0.0/24 via 10.0.0.81" in routes(router_ns)
    assert ping(router_ns, BEHIND)
    assert lab.apply(with_route(seed_data())).plan.empty

    # Someone deletes it, and adds one of their own: the next apply mends both.
    subprocess.run(
        ["ip", "netns", "exec", router_ns, "ip", "route", "del", "172.16.0.0/24"], check=True
    )
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            router_ns,
            "ip",
            "route",
            "add",
            "192.0.2.0/24",
            "via",
            "10.0.0.82",
        ],
        check=True,
    )
    lab.apply(with_route(seed_data()))
    shown = routes(router_ns)
    assert "172.16.0.0/24 via 10.0.0.81" in shown and "192.0.2.0/24" not in shown
    assert ping(router_ns, BEHIND)

    # Taken out of the topology: gone from the namespace.
    lab.apply(seed_data())
    assert "172.16.0.0/24" not in routes(router_ns)
    assert not ping(router_ns, BEHIND)


def test_a_router_that_is_down_forwards_nothing(lab: Lab) -> None:
    lab.apply(seed_data())
    outside = lab.ns_of("client", "outside")
    router_ns = lab.ns_of("router", "01")
    assert lab.get(outside, FIP).status == 200

    down = seed_data()
    down["routers"][0]["admin_state_up"] = False
    lab.apply(down)
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert router_ns not in namespaces
    with pytest.raises(OSError):
        lab.get(outside, FIP, timeout=1.0)

    lab.apply(seed_data())
    assert lab.get(outside, FIP).status == 200

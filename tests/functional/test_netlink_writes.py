"""drivers.netlink's changes (raw rtnetlink requests, drivers.rtnl) against what iproute2
shows: a namespace made and removed, a link moved into it, its MAC, addresses, state,
the default route and routes via a next hop, and the kernel's refusals as HostError
naming what failed. Everything lives in a namespace of this test's own (unique name),
removed even on failure."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from netnode.drivers.netlink import NETNS_DIR, Netlink
from netnode.errors import HostError


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def names() -> Iterator[tuple[Netlink, str, str, str]]:
    """A Netlink, and a namespace, a veth's two ends (unique names) that the test makes;
    whatever is left of them is removed afterwards."""
    token = secrets.token_hex(3)
    ns, near, far = f"nnwr-{token}", f"nnwa{token}", f"nnwb{token}"
    netlink = Netlink()
    try:
        yield netlink, ns, near, far
    finally:
        netlink.close()
        subprocess.run(["ip", "link", "del", near], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def test_links_addresses_and_routes_as_iproute2_shows_them(
    names: tuple[Netlink, str, str, str],
) -> None:
    netlink, ns, near, far = names
    netlink.create_namespace(ns)
    netlink.create_namespace(ns)  # there already: fine
    assert (NETNS_DIR / ns).exists()
    lo = json.loads(ip("-n", ns, "-j", "link", "show", "lo"))[0]
    assert "UP" in lo["flags"]

    ip("link", "add", near, "type", "veth", "peer", "name", far)
    netlink.move_link(far, ns)
    assert netlink.root_link_index(far) is None
    netlink.configure_link(
        ns, far, mac="fa:16:3e:00:00:01", add=("10.9.0.2/24", "10.9.0.3/32"), up=True
    )
    shown = json.loads(ip("-n", ns, "-j", "addr", "show", far))[0]
    assert shown["address"] == "fa:16:3e:00:00:01"
    assert "UP" in shown["flags"]
    assert {(a["local"], a["prefixlen"]) for a in shown["addr_info"] if a["family"] == "inet"} == {
        ("10.9.0.2", 24),
        ("10.9.0.3", 32),
    }
    assert netlink.link_mac(ns, far) == "fa:16:3e:00:00:01"

    netlink.configure_link(ns, far, remove=("10.9.0.3/32",))
    observed = netlink.observe(ns)
    assert observed.links[far].addresses == frozenset({"10.9.0.2/24"})

    netlink.set_default_route(ns, "10.9.0.1")
    netlink.set_default_route(ns, "10.9.0.254")  # replaced, not added beside it
    netlink.set_routes(ns, add=(("192.168.7.0/24", "10.9.0.5"),), remove=())
    routes = json.loads(ip("-n", ns, "-j", "route", "show"))
    assert [r["gateway"] for r in routes if r["dst"] == "default"] == ["10.9.0.254"]
    assert {(r["dst"], r.get("gateway")) for r in routes} >= {("192.168.7.0/24", "10.9.0.5")}
    observed = netlink.observe(ns)
    assert observed.default_gateway == "10.9.0.254"
    assert observed.routes == frozenset({("192.168.7.0/24", "10.9.0.5")})

    netlink.set_routes(ns, add=(), remove=(("192.168.7.0/24", "10.9.0.5"),))
    netlink.set_routes(ns, add=(), remove=(("192.168.7.0/24", "10.9.0.5"),))  # gone: fine
    netlink.set_default_route(ns, None)
    netlink.set_default_route(ns, None)  # gone: fine
    observed = netlink.observe(ns)
    assert observed.default_gateway is None and observed.routes == frozenset()

    # The kernel's refusals: the operation, the interface, the namespace and why.
    with pytest.raises(
        HostError, match=rf"add address 10.9.0.2/24 of {far} failed in namespace {ns}: File exists"
    ):
        netlink.configure_link(ns, far, add=("10.9.0.2/24",))
    with pytest.raises(HostError, match="not found in namespace"):
        netlink.configure_link(ns, "nnwnone0", up=True)

    netlink.delete_link(ns, far)
    netlink.delete_link(ns, far)  # gone: fine
    assert far not in netlink.observe(ns).links
    netlink.delete_namespace(ns)
    netlink.delete_namespace(ns)  # gone: fine
    assert not (NETNS_DIR / ns).exists()
    assert ns not in ip("netns", "list")


def test_changes_import_no_pyroute2(names: tuple[Netlink, str, str, str]) -> None:
    """pyroute2 (0.15 s to import, an event loop and sockets per namespace) is not what
    an apply's namespace and link changes go through."""
    _netlink, ns, _near, _far = names
    script = (
        "import sys; from netnode.drivers.netlink import Netlink; n = Netlink(); "
        f"n.create_namespace({ns!r}); n.set_default_route({ns!r}, None); "
        f"n.configure_link({ns!r}, 'lo', add=('127.0.0.2/8',), up=True); "
        f"n.announce({ns!r}, 'lo', '127.0.0.2', '00:00:00:00:00:00'); "
        f"n.delete_namespace({ns!r}); n.close(); "
        "print(sorted(m for m in sys.modules if m.startswith('pyroute2')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    assert not (NETNS_DIR / ns).exists()

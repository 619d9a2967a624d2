"""The uplink of the external network (issue 15, item 5), with real kernel objects and
never a real NIC: a veth pair whose near end (``nnup<hex>``, in the host's namespace)
plays the seed's eth3, and whose far end lives in an "upstream" namespace acting as the
provider router (10.255.253.1, the external subnet's gateway). The seed's floating IP is
reached with curl from that namespace, through the veth and the external bridge.

The pre-flight's refusals are proven on the CLI: exit 2, the field on stderr, nothing on
the host. The interface that carries the host's default route is named only to be
refused, never forced, and only after the pre-flight was seen to refuse it in-process.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from netnode.cli import uplinks as uplinks_cli
from netnode.errors import NetnodeError, TopologyError
from netnode.model.loading import load_data
from netnode.plan.spec import OWNER_NODE, OWNER_UPLINK
from netnode.reconcile import converge
from netnode.reconcile.agent import Agent
from tests.functional.conftest import Lab, eventually, seed_data
from tests.functional.test_refused_files import NOTHING, netnode, on_host, spec_of

FIP = "10.255.253.100"
GATEWAY = "10.255.253.1/24"
# An address the near end holds before netnode attaches it (TEST-NET-2, a /32: no route
# to anywhere is added to the host): a destroy must leave it.
KEPT = "198.51.100.77/32"


@dataclass(frozen=True)
class Upstream:
    """The provider side: ``near`` in the host's namespace (the uplink netnode is given),
    its peer in namespace ``namespace``."""

    near: str
    namespace: str


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    suffix = secrets.token_hex(3)
    up = Upstream(near=f"nnup{suffix}", namespace=f"nnupstream-{suffix}")
    far = f"nnuq{suffix}"
    run("ip", "netns", "add", up.namespace)
    try:
        run("ip", "link", "add", up.near, "type", "veth", "peer", "name", far)
        run("ip", "link", "set", far, "netns", up.namespace)
        inside = ("ip", "netns", "exec", up.namespace)
        run(*inside, "ip", "link", "set", "lo", "up")
        run(*inside, "ip", "addr", "add", GATEWAY, "dev", far)
        run(*inside, "ip", "link", "set", far, "up")
        no_tx_checksum(up.namespace, far)
        yield up
    finally:
        # The namespace takes the far end, and with it the pair.
        subprocess.run(["ip", "netns", "delete", up.namespace], check=False)
        subprocess.run(["ip", "link", "delete", up.near], capture_output=True, check=False)


def no_tx_checksum(namespace: str, ifname: str) -> None:
    """``ethtool -K IFNAME tx off`` in ``namespace``: a veth hands its peer TCP segments
    whose checksum is left to the hardware, and Open vSwitch's userspace datapath (which
    reads the near end with a packet socket) forwards them so, to be dropped by the
    router. A real NIC delivers finished frames; this is the veth's own business."""
    from pyroute2 import netns
    from pyroute2.ethtool import Ethtool

    netns.pushns(namespace)
    try:
        ethtool = Ethtool()
        try:
            features = ethtool.get_features(ifname)
            features.features["tx-checksum-ip-generic"].enable = False
            ethtool.set_features(ifname, features)
        finally:
            ethtool.close()
    finally:
        netns.popns()


def with_uplink(near: str) -> dict:
    """The seed with its external network on ``near``; the lab's own external client
    (10.255.253.1) makes way for the upstream namespace."""
    data = seed_data()
    data["networks"][1]["physical_interface"] = near
    data["lab"]["clients"] = []
    return data


def link(name: str) -> dict:
    (found,) = json.loads(run("ip", "-j", "addr", "show", "dev", name))
    return found


def is_up(name: str) -> bool:
    return "UP" in link(name)["flags"]


def addresses(name: str) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for a in link(name).get("addr_info", [])}


def bridge_of(port: str) -> str | None:
    found = subprocess.run(["ovs-vsctl", "port-to-br", port], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


def external_id(port: str, key: str) -> str:
    return run("ovs-vsctl", "get", "port", port, f"external_ids:{key}").strip().strip('"')


def curl(up: Upstream) -> str | None:
    """GET the floating IP with curl, from inside the upstream namespace."""
    found = subprocess.run(
        ["ip", "netns", "exec", up.namespace, "curl", "-s", "-m", "2", f"http://{FIP}/"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def served(up: Upstream) -> set[str]:
    return {body for body in (curl(up) for _ in range(4)) if body}


def repair(lab: Lab) -> None:
    reports = Agent(lab.host, log=lambda _s: None).run_once()
    assert reports and all(r.ok for r in reports), [str(r) for r in reports]


def test_the_floating_ip_is_reached_through_the_uplink_repaired_and_let_go(
    lab: Lab, upstream: Upstream
) -> None:
    near = upstream.near
    run("ip", "addr", "add", KEPT, "dev", near)
    assert not is_up(near)

    lab.apply(with_uplink(near))
    bridge = f"nn{lab.suffix}e"
    assert bridge_of(near) == bridge
    assert is_up(near)
    assert external_id(near, OWNER_UPLINK) == "down"  # what it was before netnode
    assert external_id(near, OWNER_NODE) == lab.host.node
    assert eventually(lambda: served(upstream) == {"server_81", "server_82"})
    # A second apply changes nothing.
    assert lab.apply(with_uplink(near)).plan.empty

    # Drift: del-port'ed by hand, then set down: the agent's pass repairs each.
    run("ovs-vsctl", "del-port", near)
    assert curl(upstream) is None
    repair(lab)
    assert bridge_of(near) == bridge
    assert eventually(lambda: served(upstream) == {"server_81", "server_82"})
    run("ip", "link", "set", near, "down")
    assert curl(upstream) is None
    repair(lab)
    assert is_up(near)
    assert eventually(lambda: served(upstream) == {"server_81", "server_82"})

    # Destroy detaches it: the interface and its address stay, down as it was before.
    lab.destroy()
    assert bridge_of(near) is None
    assert bridge not in run("ovs-vsctl", "list-br").split()
    assert KEPT in addresses(near)
    assert not is_up(near)
    assert upstream.namespace in run("ip", "netns", "list")


def test_a_floating_ip_on_a_port_is_reached_through_the_uplink(
    lab: Lab, upstream: Upstream
) -> None:
    """Issue 15's whole path: a port (a machine's address and MAC on tenant1), the
    machine behind it (a lab instance that is the port's), a floating IP bound to the
    port's address, reached from the provider's side of the veth uplink."""
    data = with_uplink(upstream.near)
    data["ports"] = [
        {"name": "vm9", "network": "tenant1", "fixed_ips": [{"ip_address": "10.0.0.90"}]}
    ]
    data["lab"]["instances"].append({"name": "web9", "port": "vm9", "body": "port-machine"})
    data["floating_ips"].append(
        {
            "name": "vm9-fip",
            "floating_ip_address": "10.255.253.102",
            "fixed_ip_address": "10.0.0.90",
        }
    )
    assert lab.apply(data).ok

    def answer() -> str | None:
        found = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                upstream.namespace,
                "curl",
                "-s",
                "-m",
                "2",
                "http://10.255.253.102/",
            ],
            capture_output=True,
            text=True,
        )
        return found.stdout.strip() if found.returncode == 0 else None

    assert eventually(answer) == "port-machine"


def test_a_bridge_named_like_a_host_interface_is_refused(lab: Lab, upstream: Upstream) -> None:
    data = seed_data()
    spec = spec_of(lab, data)
    prepared = lab.prepare(data)
    prepared["networks"][1]["bridge"] = upstream.near  # a veth, not an OVS bridge
    path = lab.tmp / "topology.yaml"
    path.write_text(yaml.safe_dump(prepared))

    result = netnode(lab, "apply", "-f", str(path))

    assert result.returncode == 2, result.stderr
    assert f"networks[1].bridge: {upstream.near!r} is an interface of this host" in result.stderr
    assert "Nothing was changed on the host." in result.stderr
    assert on_host(spec) == NOTHING
    assert bridge_of(upstream.near) is None
    assert lab.host.store.topologies() == []


def default_route_interface() -> str | None:
    routes = json.loads(run("ip", "-j", "route", "show", "default"))
    return routes[0].get("dev") if routes else None


def test_the_interface_of_the_default_route_is_refused(lab: Lab) -> None:
    carrier = default_route_interface()
    if carrier is None:
        pytest.skip("this host has no IPv4 default route to refuse")
    data = seed_data()
    data["networks"][1]["physical_interface"] = carrier
    spec = spec_of(lab, data)
    # Seen refused in-process first: the CLI below must never attach the host's NIC.
    with pytest.raises(TopologyError) as info:
        converge.preflight(lab.host, load_data(lab.prepare(data), node=lab.host.node))
    assert [p.path for p in info.value.problems] == ["networks[1].physical_interface"]
    path = lab.write(data)

    result = netnode(lab, "apply", "-f", str(path))

    assert result.returncode == 2, result.stderr
    assert (
        f"networks[1].physical_interface: {carrier!r} carries this host's default route"
        in result.stderr
    )
    assert "networks[1].force_uplink: true" in result.stderr
    assert "Nothing was changed on the host." in result.stderr
    assert on_host(spec) == NOTHING
    assert bridge_of(carrier) is None
    assert lab.host.store.topologies() == []


# --- the provider mapping of netnode agent / serve ---------------------------------------


def api_like(lab: Lab) -> dict:
    """The seed recorded as the API's topology ("api"): its external network names no
    interface, as the API makes it."""
    data = seed_data()
    data["name"] = "api"
    data["lab"]["clients"] = []
    lab.apply(data)
    return data


def test_the_agents_mapping_gives_the_apis_external_network_its_uplink(
    lab: Lab, upstream: Upstream
) -> None:
    api_like(lab)
    assert bridge_of(upstream.near) is None

    mapping = f"physnet-ex:{upstream.near}"
    result = netnode(lab, "agent", "--once", "--physical-interface-mappings", mapping)

    assert result.returncode == 0, result.stdout + result.stderr
    assert bridge_of(upstream.near) == f"nn{lab.suffix}e"
    assert is_up(upstream.near)
    assert eventually(lambda: served(upstream) == {"server_81", "server_82"})
    lab.destroy()
    assert bridge_of(upstream.near) is None
    assert not is_up(upstream.near)


def test_a_mapping_to_the_default_routes_interface_is_refused_before_the_loop(lab: Lab) -> None:
    carrier = default_route_interface()
    if carrier is None:
        pytest.skip("this host has no IPv4 default route to refuse")
    api_like(lab)
    mapping = f"physnet-ex:{carrier}"
    # Seen refused in-process first: the agent below must never attach the host's NIC.
    args = argparse.Namespace(physical_interface_mappings=[mapping], force_uplink=False)
    with pytest.raises(NetnodeError, match="carries this host's default route"):
        uplinks_cli.mappings_of(args, lab.host)

    result = netnode(lab, "agent", "--once", "--physical-interface-mappings", mapping)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"--physical-interface-mappings {mapping}: {carrier!r} carries" in result.stderr
    assert "--force-uplink" in result.stderr
    assert bridge_of(carrier) is None
    missing = ("--physical-interface-mappings", "physnet-ex:nnnone0")
    for command in (["agent", "--once"], ["serve", "--noauth", "--port", "0"]):
        result = netnode(lab, *command, *missing)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "this host has no interface 'nnnone0'" in result.stderr


def test_the_pre_flight_reads_the_host_as_ip_shows_it(lab: Lab, upstream: Upstream) -> None:
    """Its raw netlink reader (drivers.rtnl) against iproute2: every link, the veth's kind,
    and the interfaces of the default routes (IPv4 and IPv6, every table)."""

    def same_links() -> bool:
        # Read again while other tests on the machine add or remove links in between.
        found = set(lab.host.netlink.host_links())
        return found == {entry["ifname"] for entry in json.loads(run("ip", "-j", "link", "show"))}

    assert eventually(same_links, timeout=10)
    links = lab.host.netlink.host_links()
    assert links[upstream.near].kind == "veth"
    assert links[upstream.near].lower is None  # its peer is in another namespace
    defaults = {
        route.get("dev")
        for family in ("-4", "-6")
        for route in json.loads(run("ip", family, "-j", "route", "show", "table", "all"))
        if route.get("dst") == "default"
    } - {None}
    found = {
        device
        for route in lab.host.netlink.host_routes()
        if route.destination in ("0.0.0.0/0", "::/0")
        for device in route.devices
    }
    assert found == defaults
    states = lab.host.netlink.host_link_states({upstream.near, "nnnone0"})
    assert list(states) == [upstream.near] and not states[upstream.near].up

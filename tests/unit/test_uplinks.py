"""The uplink (issue 15, item 5): the pre-flight's refusals as a function of what the host
has, the carriers of the default route, the provider mapping, and the plan's attach,
repair and detach of the interface."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePath

import pytest
import yaml

from netnode.errors import TopologyError
from netnode.model.loading import load_data
from netnode.model.topology import Topology
from netnode.plan import operations as op
from netnode.plan.desired import build
from netnode.plan.diff import plan
from netnode.plan.observed import HostState, LinkState, OvsPort
from netnode.plan.spec import OWNER_NODE, OWNER_OBJECT, OWNER_TOPOLOGY, OWNER_UPLINK
from netnode.plan.uplinks import (
    HostFacts,
    HostLink,
    Route,
    default_route_carriers,
    mapped,
    parse_mappings,
    problems,
    wants_facts,
)
from tests.unit.test_plan import as_observed

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"
RUN = PurePath("/var/lib/netnode/netnode/haproxy")
PHYS = "networks[1].physical_interface"


def seed(**public: object) -> dict:
    data = yaml.safe_load(SEED.read_text())
    data["networks"][1].update(public)
    return data


def topo(**public: object) -> Topology:
    return load_data(seed(**public))


def host(*links: HostLink, routes: tuple[Route, ...] = (), **ovs: object) -> HostFacts:
    return HostFacts(
        links={link.name: link for link in (HostLink("lo"), *links)},
        routes=routes,
        ovs_bridges=frozenset(ovs.get("bridges", ("br-int", "br-ex"))),  # type: ignore[arg-type]
        ovs_ports=ovs.get("ports", {}),  # type: ignore[arg-type]
    )


DEFAULT_VIA_ETH0 = (Route("0.0.0.0/0", ("eth0",)), Route("192.0.2.0/24", ("eth0",)))


def found(t: Topology, facts: HostFacts) -> dict[str, str]:
    return {p.path: p.message for p in problems(t, facts, ("netnode", "seed"))}


# --- the default route ---------------------------------------------------------------


def test_the_default_route_is_carried_by_its_interface() -> None:
    links = {"eth0": HostLink("eth0"), "eth3": HostLink("eth3")}
    assert default_route_carriers(DEFAULT_VIA_ETH0, links) == {"eth0"}


def test_an_ipv6_or_multipath_default_route_counts() -> None:
    links = {n: HostLink(n) for n in ("eth0", "eth1", "eth2", "eth3")}
    routes = (Route("::/0", ("eth1",)), Route("0.0.0.0/0", ("eth0", "eth2")))
    assert default_route_carriers(routes, links) == {"eth0", "eth1", "eth2"}


def test_a_route_that_is_not_the_default_carries_nothing() -> None:
    links = {"eth0": HostLink("eth0")}
    assert default_route_carriers((Route("10.0.0.0/8", ("eth0",)),), links) == set()


def test_the_ports_under_a_bridge_or_vlan_that_carries_it_carry_it() -> None:
    links = {
        "eth0": HostLink("eth0", master="bond0"),
        "eth1": HostLink("eth1", master="bond0"),
        "bond0": HostLink("bond0", "bond"),
        "bond0.10": HostLink("bond0.10", "vlan", master="br0", lower="bond0"),
        "br0": HostLink("br0", "bridge"),
        "eth3": HostLink("eth3"),
    }
    carriers = default_route_carriers((Route("0.0.0.0/0", ("br0",)),), links)
    assert carriers == {"br0", "bond0.10", "bond0", "eth0", "eth1"}


# --- the pre-flight --------------------------------------------------------------------


def test_an_interface_that_carries_the_default_route_is_refused() -> None:
    message = found(
        topo(physical_interface="eth0"), host(HostLink("eth0"), routes=DEFAULT_VIA_ETH0)
    )
    assert list(message) == [PHYS]
    assert "'eth0' carries this host's default route" in message[PHYS]
    assert "networks[1].force_uplink: true" in message[PHYS]


def test_forced_it_is_taken() -> None:
    t = topo(physical_interface="eth0", force_uplink=True)
    assert found(t, host(HostLink("eth0"), routes=DEFAULT_VIA_ETH0)) == {}


def test_another_interface_is_taken() -> None:
    facts = host(HostLink("eth0"), HostLink("eth3"), routes=DEFAULT_VIA_ETH0)
    assert found(topo(physical_interface="eth3"), facts) == {}


def test_an_interface_the_host_has_not_is_refused() -> None:
    message = found(topo(physical_interface="eth3"), host(HostLink("eth0")))
    assert "this host has no interface 'eth3'" in message[PHYS]


def test_a_port_of_another_bridge_or_master_is_refused() -> None:
    facts = host(HostLink("eth3"), ports={"eth3": "br-other"})
    assert (
        "already a port of Open vSwitch bridge 'br-other'"
        in found(topo(physical_interface="eth3"), facts)[PHYS]
    )
    facts = host(HostLink("eth3", master="br0"), HostLink("br0", "bridge"))
    assert "is a port of 'br0'" in found(topo(physical_interface="eth3"), facts)[PHYS]
    # Its own bridge's port (attached before) and the kernel datapath's master are fine.
    facts = host(HostLink("eth3", master="ovs-system"), ports={"eth3": "br-ex"})
    assert found(topo(physical_interface="eth3"), facts) == {}


def test_the_uplink_of_another_topology_is_refused() -> None:
    facts = host(HostLink("eth3"), ports={"eth3": "br-ex"})
    theirs = replace(facts, uplink_owners={"eth3": ("netnode", "other")})
    message = found(topo(physical_interface="eth3"), theirs)
    assert "'eth3' is the uplink of topology 'other' of node 'netnode'" in message[PHYS]
    ours = replace(facts, uplink_owners={"eth3": ("netnode", "seed")})
    assert found(topo(physical_interface="eth3"), ours) == {}


def test_an_open_vswitch_bridge_is_no_physical_interface() -> None:
    facts = host(HostLink("br-other", "openvswitch"), bridges=("br-int", "br-ex", "br-other"))
    message = found(topo(physical_interface="br-other"), facts)
    assert "'br-other' is an Open vSwitch bridge" in message[PHYS]


def test_a_bridge_named_like_a_host_interface_is_refused() -> None:
    t = topo(bridge="eth0")
    message = found(t, host(HostLink("eth0"), bridges=("br-int",)))
    assert list(message) == ["networks[1].bridge"]
    assert "'eth0' is an interface of this host" in message["networks[1].bridge"]
    data = seed()
    data["integration_bridge"] = "eth0"
    message = found(load_data(data), host(HostLink("eth0"), bridges=("br-ex",)))
    assert "not an Open vSwitch bridge" in message["integration_bridge"]


def test_a_bridge_that_is_an_open_vswitch_bridge_or_absent_is_taken() -> None:
    assert found(topo(), host(HostLink("br-ex", "openvswitch"))) == {}
    assert found(topo(), host(bridges=())) == {}


def test_the_host_is_read_only_when_something_may_be_refused() -> None:
    assert not wants_facts(topo(), ["br-int", "br-ex"])
    assert wants_facts(topo(), ["br-int"])
    assert wants_facts(topo(physical_interface="eth3"), ["br-int", "br-ex"])


def test_force_uplink_without_an_interface_is_invalid() -> None:
    with pytest.raises(TopologyError) as info:
        load_data(seed(force_uplink=True))
    assert [p.path for p in info.value.problems] == ["networks[1].force_uplink"]


# --- the provider mapping ---------------------------------------------------------------


def test_mappings_are_parsed_as_neutrons() -> None:
    assert parse_mappings(["physnet-ex:eth3"]) == {"physnet-ex": "eth3"}
    assert parse_mappings(["physnet-ex:eth3, "]) == {"physnet-ex": "eth3"}
    for bad, words in [
        ("eth3", "is not PHYSNET:INTERFACE"),
        ("physnet-ex:", "is not PHYSNET:INTERFACE"),
        ("physnet-x:eth3", "on physical network 'physnet-ex'"),
        ("physnet-ex:a/b", "is not an interface name"),
        ("physnet-ex:abcdefghijklmnop", "is not an interface name"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_mappings([bad])


def test_the_mapping_gives_the_external_network_its_interface() -> None:
    t = mapped(topo(), {"physnet-ex": "eth3"})
    assert t.networks[1].physical_interface == "eth3"
    assert t.networks[1].force_uplink is None
    assert mapped(topo(), {"physnet-ex": "eth3"}, force=True).networks[1].force_uplink
    assert mapped(topo(), {}) == topo()


def test_the_mapping_leaves_a_network_that_names_its_own_or_two_without() -> None:
    def interfaces(t: Topology) -> list[str | None]:
        return [n.physical_interface for n in t.networks if n.external]

    assert interfaces(mapped(topo(physical_interface="eth4"), {"physnet-ex": "eth3"})) == ["eth4"]
    data = seed()
    data["networks"].append({"name": "public2", "external": True, "bridge": "br-ex2"})
    data["floating_ips"][0]["network"] = "public"
    assert interfaces(mapped(load_data(data), {"physnet-ex": "eth3"})) == [None, None]
    data["networks"][2]["physical_interface"] = "eth3"
    assert interfaces(mapped(load_data(data), {"physnet-ex": "eth3"})) == [None, "eth3"]


# --- the plan ------------------------------------------------------------------------


def spec(**public: object):
    return build(topo(**public), "netnode", RUN)


def uplink_ops(the_plan) -> list[op.Operation]:
    return [o for o in the_plan.operations if isinstance(o, op.AttachUplink | op.SetHostLinkState)]


def attached(observed: HostState, up: bool, before: str = "down") -> HostState:
    """``observed`` with eth3 a port of br-ex carrying netnode's keys, up or down."""
    ids = {
        OWNER_NODE: "netnode",
        OWNER_TOPOLOGY: "seed",
        OWNER_OBJECT: topo().networks[1].uid,
        OWNER_UPLINK: before,
    }
    ports = {**observed.ovs.ports, "eth3": OvsPort("eth3", "br-ex", None, ids, 7)}
    ex = observed.ovs.bridges["br-ex"]
    mine = {OWNER_NODE: "netnode", OWNER_TOPOLOGY: "seed", f"{OWNER_UPLINK}-eth3": before}
    bridges = {
        **observed.ovs.bridges,
        "br-ex": replace(ex, external_ids=mine, ports=(*ex.ports, "eth3")),
    }
    return replace(
        observed,
        ovs=replace(observed.ovs, bridges=bridges, ports=ports),
        host_links={"eth3": LinkState(9, "02:00:00:00:00:03", up, frozenset())},
    )


def test_the_uplink_is_attached_with_netnodes_keys_and_brought_up() -> None:
    wanted = spec(physical_interface="eth3")
    observed = as_observed(wanted)
    observed = replace(
        observed, host_links={"eth3": LinkState(9, "02:00:00:00:00:03", False, frozenset())}
    )
    attach, up = uplink_ops(plan(wanted, observed))
    assert attach.shell() == [
        [
            "ovs-vsctl",
            "--", "--may-exist", "add-port", "br-ex", "eth3",
            "--", "set", "port", "eth3",
            f"external_ids:{OWNER_NODE}=netnode",
            f"external_ids:{OWNER_OBJECT}={topo().networks[1].uid}",
            f"external_ids:{OWNER_TOPOLOGY}=seed",
            f"external_ids:{OWNER_UPLINK}=down",
            "--", "set", "bridge", "br-ex", f"external_ids:{OWNER_UPLINK}-eth3=down",
        ]
    ]  # fmt: skip
    assert up.shell() == [["ip", "link", "set", "dev", "eth3", "up"]]
    assert plan(wanted, attached(observed, up=True)).empty


def test_drift_is_repaired() -> None:
    wanted = spec(physical_interface="eth3")
    converged = attached(as_observed(wanted), up=True)
    # Set down by someone: only brought up again.
    down = attached(as_observed(wanted), up=False)
    assert [type(o).__name__ for o in uplink_ops(plan(wanted, down))] == ["SetHostLinkState"]
    # del-port'ed: attached again; what it was before netnode (down) is not forgotten
    # with the port, though it is up now, as netnode left it: the bridge keeps it.
    gone = replace(converged, ovs=replace(converged.ovs, ports=dict(as_observed(wanted).ovs.ports)))
    (attach,) = uplink_ops(plan(wanted, gone))
    assert isinstance(attach, op.AttachUplink) and (OWNER_UPLINK, "down") in attach.owner
    # Without that record either (a bridge made by hand), it is what the link is now.
    bridges = {**gone.ovs.bridges, "br-ex": replace(gone.ovs.bridges["br-ex"], external_ids={})}
    unrecorded = replace(gone, ovs=replace(gone.ovs, bridges=bridges))
    (attach,) = uplink_ops(plan(wanted, unrecorded))
    assert (OWNER_UPLINK, "up") in attach.owner
    # On another bridge: moved.
    ports = {**converged.ovs.ports, "eth3": replace(converged.ovs.ports["eth3"], bridge="br-x")}
    moved = replace(converged, ovs=replace(converged.ovs, ports=ports))
    (attach,) = uplink_ops(plan(wanted, moved))
    assert attach.shell()[0][:6] == ["ovs-vsctl", "--", "--if-exists", "del-port", "eth3", "--"]


def test_destroy_detaches_and_gives_back_the_state_it_had() -> None:
    wanted = spec(physical_interface="eth3")
    nothing = replace(wanted, bridges=(), namespaces=(), ports=(), processes=(), firewalls=())
    for before, restored in (("down", [["ip", "link", "set", "dev", "eth3", "down"]]), ("up", [])):
        observed = attached(as_observed(wanted), up=True, before=before)
        the_plan = plan(nothing, observed)
        detach = [o for o in the_plan.operations if o.subject == "port eth3"]
        shells = [line for o in detach for line in o.shell()]
        # Only a del-port and maybe a link down: no address is touched, nothing deleted.
        assert shells == [
            ["ovs-vsctl", "--", "--if-exists", "del-port", "eth3",
             "--", "remove", "bridge", "br-ex", "external_ids", f"{OWNER_UPLINK}-eth3"],
            *restored,
        ]  # fmt: skip
        assert "bridge br-ex" in the_plan.changes()  # the bridge goes with its last port


def test_an_uplink_of_somebody_else_is_not_detached() -> None:
    wanted = spec(physical_interface="eth3")
    observed = attached(as_observed(wanted), up=True)
    port = observed.ovs.ports["eth3"]
    foreign = {**port.external_ids, OWNER_NODE: "other"}
    ports = {**observed.ovs.ports, "eth3": replace(port, external_ids=foreign)}
    nothing = replace(wanted, bridges=(), namespaces=(), ports=(), processes=(), firewalls=())
    the_plan = plan(nothing, replace(observed, ovs=replace(observed.ovs, ports=ports)))
    assert "port eth3" not in the_plan.changes()

"""The uplink: a host interface (the seed's eth3) attached to an external network's
bridge. What netnode refuses before it changes anything, as a pure function of the
topology and of what the host has (read by ``Host.uplink_facts``).

Refused, each under the field that names it:

- a bridge (``integration_bridge``, ``networks[i].bridge``) whose name is an interface
  of the host that is not an Open vSwitch bridge: netnode would make a bridge of a NIC's
  name;
- a physical interface the host does not have, one that is an Open vSwitch bridge, a
  port of another bridge or of another master (a Linux bridge, a bond), or the uplink
  of another topology;
- a physical interface that carries the host's default route (or under which a device
  that carries it is stacked: a VLAN, a bridge, a bond), unless the network says
  ``force_uplink: true``: attached to a bridge, it would cut the host off its network.

The provider mapping (``--physical-interface-mappings physnet-ex:eth3`` of ``netnode
serve`` and ``netnode agent``) gives the API's external network its interface: see
``mapped``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from netnode.errors import CONFLICT, Problem
from netnode.model.topology import Topology

# The physical network every external network is on (what the API shows as
# provider:physical_network), and the bridge it is on unless a network names another.
PHYSNET_EX = "physnet-ex"
DEFAULT_ROUTES = ("0.0.0.0/0", "::/0")
# The master of a port of the kernel's Open vSwitch datapath.
OVS_MASTER = "ovs-system"


@dataclass(frozen=True)
class HostLink:
    """An interface of the host's namespace."""

    name: str
    kind: str | None = None  # "veth", "bridge", "vlan", "openvswitch"... (None: a NIC)
    master: str | None = None  # the bridge or bond it is a port of
    lower: str | None = None  # the device it is stacked on (a VLAN's, a macvlan's)


@dataclass(frozen=True)
class Route:
    destination: str  # "0.0.0.0/0", "10.0.0.0/24"
    devices: tuple[str, ...]  # its output interfaces (several for a multipath route)


@dataclass(frozen=True)
class HostFacts:
    links: Mapping[str, HostLink] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    ovs_bridges: frozenset[str] = frozenset()
    ovs_ports: Mapping[str, str] = field(default_factory=dict)  # port -> its bridge
    # Uplinks netnode attached: port -> the (node, topology) whose it is.
    uplink_owners: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def default_route_carriers(routes: Iterable[Route], links: Mapping[str, HostLink]) -> set[str]:
    """The interfaces the host's default route (IPv4 or IPv6, any table) leaves by, and
    every interface one of them is stacked on: the port of a bridge or bond that
    carries it, the parent of a VLAN that carries it."""
    carriers = {
        device
        for route in routes
        if route.destination in DEFAULT_ROUTES
        for device in route.devices
    }
    while True:
        below = {link.name for link in links.values() if link.master in carriers}
        below |= {lower for c in carriers if (lower := _lower(links, c)) is not None}
        if below <= carriers:
            return carriers
        carriers |= below


def _lower(links: Mapping[str, HostLink], name: str) -> str | None:
    link = links.get(name)
    return link.lower if link is not None else None


def wants_facts(topo: Topology, ovs_bridges: Iterable[str]) -> bool:
    """Whether the host must be read at all: a physical interface is named, or a bridge
    is not yet an Open vSwitch bridge (its name might be a NIC's)."""
    known = set(ovs_bridges)
    if any(n.physical_interface for n in topo.networks if n.external):
        return True
    return any(name not in known for name, _ in _bridges(topo))


def problems(topo: Topology, facts: HostFacts, owner: tuple[str, str]) -> list[Problem]:
    """What the host refuses of ``topo``, applied by ``owner`` (node, topology name)."""
    return [*_bridge_problems(topo, facts), *_interface_problems(topo, facts, owner)]


def _bridges(topo: Topology) -> Iterator[tuple[str, str]]:
    yield topo.integration_bridge, "integration_bridge"
    for i, net in enumerate(topo.networks):
        if net.external:
            yield topo.bridge_of(net), f"networks[{i}].bridge"


def _bridge_problems(topo: Topology, facts: HostFacts) -> Iterator[Problem]:
    for name, path in _bridges(topo):
        if name in facts.ovs_bridges or name not in facts.links:
            continue
        kind = facts.links[name].kind or "a network interface"
        yield Problem(
            path,
            f"{name!r} is an interface of this host ({kind}), not an Open vSwitch bridge: "
            "netnode would make a bridge of its name. Name another bridge (netnode creates "
            "it); to attach this interface, give it as the external network's "
            "physical_interface",
        )


def _interface_problems(
    topo: Topology, facts: HostFacts, owner: tuple[str, str]
) -> Iterator[Problem]:
    carriers = default_route_carriers(facts.routes, facts.links)
    for i, net in enumerate(topo.networks):
        name = net.physical_interface
        if not net.external or name is None:
            continue
        path = f"networks[{i}].physical_interface"
        bridge = topo.bridge_of(net)
        link = facts.links.get(name)
        on = facts.ovs_ports.get(name)
        holder = facts.uplink_owners.get(name, owner)
        if name in facts.ovs_bridges:
            yield Problem(
                path,
                f"{name!r} is an Open vSwitch bridge, not a physical interface: name the "
                "host interface to attach (see 'ip link')",
            )
        elif link is None:
            yield Problem(
                path,
                f"this host has no interface {name!r} (in its own namespace): give the name "
                "'ip link' shows for the NIC of the external network",
            )
        elif holder != owner:
            yield Problem(
                path,
                f"{name!r} is the uplink of topology {holder[1]!r} of node {holder[0]!r}: "
                "an interface is the uplink of one topology; destroy that one first, or "
                "name another interface",
                CONFLICT,
            )
        elif on is not None and on != bridge:
            yield Problem(
                path,
                f"{name!r} is already a port of Open vSwitch bridge {on!r}: an interface is "
                f"a port of one bridge only; detach it ('ovs-vsctl del-port {on} {name}') "
                "or name another",
            )
        elif link.master is not None and link.master != OVS_MASTER:
            yield Problem(
                path,
                f"{name!r} is a port of {link.master!r}: release it ('ip link set {name} "
                "nomaster') or name another interface",
            )
        elif name in carriers and not net.force_uplink:
            yield Problem(
                path,
                f"{name!r} carries this host's default route: attached to bridge "
                f"{bridge!r} it would cut the host off its network. Name the NIC of the "
                "external network instead; if this is meant (the host's address moved to "
                f"the bridge), set networks[{i}].force_uplink: true",
            )


def parse_mappings(entries: Iterable[str]) -> dict[str, str]:
    """``PHYSNET:INTERFACE`` entries (comma-separated lists too, as Neutron's
    ``physical_interface_mappings``) as a mapping; ValueError naming a bad entry."""
    found: dict[str, str] = {}
    for entry in (e.strip() for text in entries for e in text.split(",")):
        if not entry:
            continue
        physnet, sep, interface = entry.partition(":")
        if not sep or not physnet or not interface:
            raise ValueError(f"{entry!r} is not PHYSNET:INTERFACE (e.g. {PHYSNET_EX}:eth3)")
        if physnet != PHYSNET_EX:
            raise ValueError(
                f"{entry!r}: netnode's external networks are on physical network "
                f"{PHYSNET_EX!r}; map that one (e.g. {PHYSNET_EX}:eth3)"
            )
        if len(interface) > 15 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", interface):
            raise ValueError(
                f"{entry!r}: {interface!r} is not an interface name (at most 15 letters, "
                "digits, '.', '_' or '-')"
            )
        found[physnet] = interface
    return found


@dataclass(frozen=True)
class ProviderMappings:
    """A node's ``--physical-interface-mappings`` (and ``--force-uplink``): applied by its
    agent to the one topology they are for, the API's (a file names its own interface;
    applied to files too, a ``netnode apply`` of one would detach what the agent attached)."""

    topology: str
    interfaces: Mapping[str, str] = field(default_factory=dict)
    force: bool = False

    def apply(self, name: str, topo: Topology) -> Topology:
        if name != self.topology or not self.interfaces:
            return topo
        return mapped(topo, self.interfaces, self.force)


def mapped(topo: Topology, mappings: Mapping[str, str], force: bool = False) -> Topology:
    """The topology with the mapped interface as the physical interface of its external
    network (physnet-ex: the API shows every external network on it, and makes one at
    most, on br-ex). Unchanged when it has none, or several without an interface (an
    interface is a port of one bridge), or one names the interface already."""
    interface = mappings.get(PHYSNET_EX)
    external = [n for n in topo.networks if n.external]
    bare = [n for n in external if n.physical_interface is None]
    if interface is None or len(bare) != 1 or interface in {n.physical_interface for n in external}:
        return topo
    (target,) = bare
    update = {"physical_interface": interface, "force_uplink": True if force else None}
    networks = [n.model_copy(update=update) if n is target else n for n in topo.networks]
    return topo.model_copy(update={"networks": networks})

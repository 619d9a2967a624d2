"""The host as netnode wants it: bridges, ports, namespaces, processes and firewalls.

The desired host is derived from a topology by ``desired.py`` (pure) and compared
with what the drivers observe by ``diff.py`` (pure). These are plain frozen values so
both sides can be built, compared and printed without touching the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from netnode.render.iptables import RouterNat
from netnode.render.lb_filter import LoadBalancerFilter
from netnode.render.nftables import UdpBalancer

# OVS external_ids keys that mark what netnode owns.
OWNER_NODE = "netnode-node"
OWNER_TOPOLOGY = "netnode-topology"
OWNER_OBJECT = "netnode-object"
# On the Port row of an uplink (a host interface netnode attached to an external bridge):
# the interface's admin state before netnode attached it, "up" or "down", which a detach
# gives back.
OWNER_UPLINK = "netnode-uplink"


def uplink_record(interface: str) -> str:
    """The key on the Bridge row that keeps the uplink's state from before netnode while
    its Port row may be gone (someone's del-port, which netnode repairs)."""
    return f"{OWNER_UPLINK}-{interface}"


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    # None: the host's choice for a new bridge (plan.datapath); an existing bridge keeps
    # its own (plan.diff fills it in either way).
    datapath_type: str | None = None
    # A host interface (the seed's eth3) attached as a port of the bridge, up; in tests a
    # veth whose far end is in a namespace, never a real NIC.
    physical_interface: str | None = None
    # The id of the external network whose uplink it is (its port's netnode-object).
    network: str | None = None


@dataclass(frozen=True)
class PortSpec:
    """An OVS internal port whose device lives in a namespace."""

    name: str
    bridge: str
    namespace: str
    tag: int | None
    mac: str | None
    # CIDR strings ("10.0.0.100/24"); the first is the primary address.
    addresses: tuple[str, ...]
    owner: str  # the id of the object the port belongs to
    # Addresses another process puts on the port and takes off again (an HA pair's VIP:
    # keepalived's): netnode neither adds nor removes them.
    managed_elsewhere: tuple[str, ...] = ()

    def external_ids(self, node: str, topology: str) -> dict[str, str]:
        return {OWNER_NODE: node, OWNER_TOPOLOGY: topology, OWNER_OBJECT: self.owner}


# os-vif's keys on a guest's Interface: Neutron's agents find the port by iface-id.
IFACE_ID = "iface-id"


@dataclass(frozen=True)
class PlugSpec:
    """A host interface netnode plugs into a bridge for a port (``plug.interface``):
    a guest's tap, a veth. It stays in the host's namespace; netnode adds it to the
    bridge with the network's tag, os-vif's ``external_ids`` on the Interface and its
    own on the Port, and brings it up. Unplugging deletes the OVS port, never the
    interface."""

    interface: str
    bridge: str
    tag: int | None
    port_id: str
    mac: str

    def external_ids(self, node: str, topology: str) -> dict[str, str]:
        return {OWNER_NODE: node, OWNER_TOPOLOGY: topology, OWNER_OBJECT: self.port_id}

    def interface_ids(self) -> dict[str, str]:
        return {IFACE_ID: self.port_id, "attached-mac": self.mac, "iface-status": "active"}


@dataclass(frozen=True)
class GuestTag:
    """A port's VLAN tag on the integration bridge for whoever plugs it there with
    ``external_ids:iface-id`` = the port's id (libvirt, os-vif): what Neutron's OVS
    agent sets on such a port."""

    port_id: str
    bridge: str
    tag: int


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    kind: str  # "loadbalancer" | "router" | "instance" | "client" | "dhcp"
    owner: str
    sysctls: tuple[tuple[str, str], ...] = ()
    # The default route's gateway, if any.
    default_gateway: str | None = None
    # The default route is another process's (an HA router's keepalived adds it on the
    # master and removes it on the backup): netnode neither sets nor removes it.
    route_elsewhere: bool = False
    # A router's extra routes, (destination CIDR, next hop), sorted; netnode owns every
    # route with a next hop in a router's namespace and removes the others. With
    # route_elsewhere they are keepalived's too.
    routes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProcessFile:
    """A file a process reads (a certificate, a CA, a CRL): the topology's file, copied
    into the process's directory (see ``netnode.plan.tls_files``)."""

    name: str  # relative to the process's directory: "tls/<sha256>.pem"
    source: str  # the file the topology names
    sha256: str  # of the content that was checked; another content is not installed


@dataclass(frozen=True)
class ProcessSpec:
    """A HAProxy process (a load balancer or a lab HTTP server) in a namespace, the
    keepalived of an ACTIVE_STANDBY load balancer's instance (``program`` "keepalived"),
    a network's DHCP server (``program`` "dnsmasq": ``config`` is
    ``render.dnsmasq.bundle``'s),
    or one of netnode's helpers (``program`` names its module: the UDP health checker,
    the lab's UDP responder; see ``drivers/helpers.py``)."""

    name: str
    namespace: str
    kind: str  # "loadbalancer" | "instance" | "client"
    config: str
    # Installed in its directory before the config is validated and loaded.
    files: tuple[ProcessFile, ...] = ()
    program: str = "haproxy"
    # keepalived's SCHED_RR priority (the fast failover profile); None: normal.
    rt_priority: int | None = None
    # HAProxy: the process name it runs under, a symlink in its directory (an HA load
    # balancer's instance, which keepalived tracks by it); None: "haproxy".
    executable: str | None = None

    @property
    def haproxy(self) -> bool:
        return self.program == "haproxy"

    @property
    def keepalived(self) -> bool:
        return self.program == "keepalived"

    @property
    def conntrackd(self) -> bool:
        return self.program == "conntrackd"

    @property
    def dnsmasq(self) -> bool:
        return self.program == "dnsmasq"

    @property
    def subject(self) -> str:
        if self.haproxy or self.keepalived or self.conntrackd or self.dnsmasq:
            return f"{self.program} {self.name}"
        return f"process {self.name}"


@dataclass(frozen=True)
class FirewallSpec:
    """netnode's iptables rules in one namespace: a router's NAT and filter chains, or a
    load balancer's ``allowed_cidrs`` filter."""

    namespace: str
    rules: RouterNat | LoadBalancerFilter

    @cached_property
    def wants_rules(self) -> bool:
        """Does it want any chain (a load balancer without allowed_cidrs wants none)?
        Kept once asked: the units are kept between passes, and every pass asks it of
        every load balancer's filter (rendering its chains)."""
        return any(self.rules.chains(table) for table in self.rules.layout.tables)


@dataclass(frozen=True)
class Forwarded:
    """A port forwarding as ``HostSpec.floating`` records it, so that its connections
    are forgotten (``conntrack -D``) when it goes away or points elsewhere."""

    address: str
    protocol: str
    port: int
    target: str  # "IP:PORT"

    def key(self) -> str:
        return f"{self.address}:{self.port}/{self.protocol}->{self.target}"

    @classmethod
    def parse(cls, key: str) -> Forwarded | None:
        """The forwarding ``key`` names; None for a plain floating address."""
        if "->" not in key:
            return None
        socket, target = key.split("->", 1)
        address_port, protocol = socket.rsplit("/", 1)
        address, port = address_port.rsplit(":", 1)
        return cls(address, protocol, int(port), target)


@dataclass(frozen=True)
class UdpSpec:
    """A load balancer namespace's nftables table: its UDP listeners (see
    ``render/nftables.py``)."""

    namespace: str
    balancer: UdpBalancer


@dataclass(frozen=True)
class HostSpec:
    node: str
    topology: str
    bridges: tuple[BridgeSpec, ...] = ()
    namespaces: tuple[NamespaceSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    processes: tuple[ProcessSpec, ...] = ()
    firewalls: tuple[FirewallSpec, ...] = ()
    udp: tuple[UdpSpec, ...] = ()
    # Floating addresses per namespace (for conntrack flushes when they go away), and
    # its port forwardings (``Forwarded.key()``: a changed target is a new entry).
    floating: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Host interfaces plugged for ports, and the tags of guests' ports: they belong to
    # no unit (like bridges, every pass checks them).
    plugs: tuple[PlugSpec, ...] = ()
    guests: tuple[GuestTag, ...] = ()

"""The host as the drivers see it: plain values, comparable with ``spec.HostSpec``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OvsBridge:
    name: str
    datapath_type: str
    external_ids: dict[str, str]
    ports: tuple[str, ...]


@dataclass(frozen=True)
class OvsPort:
    name: str
    bridge: str
    tag: int | None
    external_ids: dict[str, str]
    ofport: int | None  # -1 or None: the interface failed (see ovs-vsctl list Interface)
    # The Interface's external_ids:iface-id (os-vif's: the Neutron port it carries).
    iface_id: str | None = None


@dataclass(frozen=True)
class OvsState:
    bridges: dict[str, OvsBridge] = field(default_factory=dict)
    ports: dict[str, OvsPort] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkState:
    index: int
    mac: str
    up: bool
    addresses: frozenset[str]  # "10.0.0.100/24"
    # Up, and nothing behind it: an OVS tap device that ovs-vswitchd let go of (it
    # restarted, and made a new device of that name in the host's namespace).
    detached: bool = False


@dataclass(frozen=True)
class NamespaceState:
    links: dict[str, LinkState]
    default_gateway: str | None
    sysctls: dict[str, str]
    # Routes via a next hop other than the default: (destination CIDR, next hop).
    routes: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class ProcessState:
    running: bool
    config: str | None  # the installed haproxy.cfg, None if there is none
    # False when it runs, but in a namespace that was deleted (and maybe re-created)
    # under it: it serves nothing reachable and must be started again.
    in_namespace: bool = True
    # HAProxy: the process name its master runs under (ProcessSpec.executable).
    executable: str | None = None


@dataclass(frozen=True)
class Ledger:
    """What earlier applies of one topology created: the record that lets netnode find
    its orphans even after the topology file forgot them (or an apply was killed)."""

    namespaces: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    floating: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class HostState:
    ovs: OvsState
    namespaces: frozenset[str]
    # Observed only for namespaces netnode wants or owns that exist.
    inside: dict[str, NamespaceState]
    processes: dict[str, ProcessState]
    # Per namespace with netnode's iptables rules (routers, load balancers): does
    # iptables already hold exactly those?
    firewalls_in_sync: dict[str, bool]
    ledger: Ledger = Ledger()
    # Per load balancer namespace with UDP listeners: does nftables hold netnode's table
    # as last applied, for the topology and the members' health as they are now?
    udp_in_sync: dict[str, bool] = field(default_factory=dict)
    # Namespaces (wanted or in the ledger) for which netnode keeps a UDP table record.
    udp_records: frozenset[str] = frozenset()
    # The datapath a new bridge gets on this host (plan.datapath).
    datapath: str = "netdev"
    # Interfaces of the host's own namespace: the uplinks wanted and those netnode
    # attached (their ports carry spec.OWNER_UPLINK), and the interfaces of
    # ``HostSpec.plugs``. Addresses are not read.
    host_links: dict[str, LinkState] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> HostState:
        return cls(OvsState(), frozenset(), {}, {}, {})
